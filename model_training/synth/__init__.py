"""Synthetic lung-ultrasound generator: frames with exact masks, zones, patients, a store writer.

Public API::

    from model_training.synth import render_zone, render_clip, ClipRenderer, ZoneContent, rule_score
    clip = render_zone(score=2, seed=0, n_frames=16, size=(480, 640))   # clip.frames, clip.masks (T, H, W) uint8

See docs/synthetic-data.md.
"""

from .patterns import ClipParams, ZoneContent, rule_score, sample_clip_params, sample_content
from .render import ClipRenderer, SynthClip, render_clip, render_zone

__all__ = ["ClipParams", "ZoneContent", "rule_score", "sample_clip_params", "sample_content", "ClipRenderer",
           "SynthClip", "render_clip", "render_zone"]
