"""Several raters' FINAL masks per frame, the adjudicated consensus, and the masks training uses.

Layout (docs/store-format.md, :mod:`lusapp.store.masks`): ``final/<frame>.png`` is the first rater's FINAL of
the frame, ``raters/r-<rater>/<frame>.png`` a further rater's, ``consensus/<frame>.png`` an adjudicator's
decision; ``labels.json`` says whose each file is. ``Store.save_masks(kind="final", rater=...)`` routes a FINAL
to the right place, so writing needs no new call; :class:`RaterMasks` (a base of ``Store``) adds the reads and
the consensus.

Training rule for masks: the consensus mask when an adjudicator made one; else the FINAL when exactly one rater
labelled the frame; else nothing (several raters, not adjudicated: the frame is skipped and shows in the review
queue); the model's ORIGINAL is never a training mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lusapp.store import masks as _masks
from lusapp.store.journal import operation


def frame_raters(labels: dict) -> dict[int, list[str]]:
    """{frame: [raters with a FINAL of it, the first rater first]} from a ``labels.json`` document."""
    frames = labels["frames"]
    out: dict[int, list[str]] = {}
    for f, entry in frames["final"].items():
        if isinstance(entry, dict) and isinstance(entry.get("rater"), str):
            out.setdefault(int(f), []).append(entry["rater"])
    for rater, table in sorted(frames["raters"].items()):
        for f in table:
            out.setdefault(int(f), []).append(rater)
    return dict(sorted(out.items()))


def training_sources(labels: dict) -> dict[int, str]:
    """{frame: "consensus" | rater} by the training rule (see the module docstring)."""
    out = {int(f): "consensus" for f in labels["frames"]["consensus"]}
    for f, raters in frame_raters(labels).items():
        if f not in out and len(raters) == 1:
            out[f] = raters[0]
    return dict(sorted(out.items()))


class RaterMasks:
    """Store methods for several raters' masks (mixed into :class:`lusapp.store.Store`)."""

    root: Path

    def _labels(self, pid: str, zone_id: str) -> tuple[Path, dict]:
        zone_dir = self._zone_dir(pid, zone_id)
        return zone_dir, _masks.read_labels(zone_dir)

    def final_raters(self, pid: str, zone_id: str) -> dict[int, list[str]]:
        """{frame: [every rater who made a FINAL mask of it, the first rater first]}."""
        return frame_raters(self._labels(pid, zone_id)[1])

    def raters(self, pid: str, zone_id: str) -> list[str]:
        """Every rater with a FINAL mask in the zone, sorted."""
        return sorted({r for rs in self.final_raters(pid, zone_id).values() for r in rs})

    def load_rater_mask(self, pid: str, zone_id: str, frame: int, rater: str) -> np.ndarray | None:
        """``rater``'s own FINAL mask of ``frame``, None when that rater has none."""
        zone_dir, labels = self._labels(pid, zone_id)
        first = labels["frames"]["final"].get(str(int(frame)))
        if isinstance(first, dict) and first.get("rater") == rater:
            return _masks.read_mask(zone_dir, "final", frame)
        if str(int(frame)) in labels["frames"]["raters"].get(rater, {}):
            return _masks.read_png(self._inside(_masks.rater_frame_path(zone_dir, rater, frame)))
        return None

    def consensus(self, pid: str, zone_id: str) -> dict[int, dict]:
        """{frame: provenance} of the adjudicated masks: ``rater`` (the adjudicator), ``time``, ``from_rater``."""
        return {int(f): e for f, e in sorted(self._labels(pid, zone_id)[1]["frames"]["consensus"].items())}

    def load_consensus_mask(self, pid: str, zone_id: str, frame: int) -> np.ndarray | None:
        zone_dir = self._zone_dir(pid, zone_id)
        return _masks.read_png(self._inside(_masks.consensus_frame_path(zone_dir, frame)))

    def save_consensus_masks(self, pid: str, zone_id: str, masks: dict[int, np.ndarray], adjudicator: str,
                             from_rater: str = "") -> None:
        """The adjudicator's masks of several frames (``from_rater``: whose FINAL was picked; "" when the
        adjudicator drew or edited it), one journalled step like ``save_masks``; audited ``adjudicate-mask``."""
        self._writable()
        if not masks:
            return
        zone_dir = self._zone_dir(pid, zone_id)
        self._inside(zone_dir)
        with operation(self.root, "adjudicate-mask") as op:
            files = _masks.prepare_masks(zone_dir, masks, "consensus", adjudicator, "", op.prepare_path,
                                         from_rater=from_rater)
            op.audit([{"actor": adjudicator, "action": "adjudicate-mask", "patient": pid, "zone": zone_id,
                       "detail": {"frames": sorted(int(i) for i in masks), "from_rater": from_rater}}])
            op.replace_all(files)

    def pick_rater_masks(self, pid: str, zone_id: str, frames: list[int], rater: str, adjudicator: str) -> None:
        """Adjudicate ``frames``: ``rater``'s FINAL becomes the consensus (``ValueError`` for a frame where that
        rater has no FINAL; nothing is written then)."""
        picked = {}
        for f in frames:
            m = self.load_rater_mask(pid, zone_id, f, rater)
            if m is None:
                raise ValueError(f"{rater} has no FINAL mask of frame {int(f) + 1} in zone {zone_id}")
            picked[int(f)] = m
        self.save_consensus_masks(pid, zone_id, picked, adjudicator, from_rater=rater)

    def training_mask_sources(self, pid: str, zone_id: str) -> dict[int, str]:
        """{frame: "consensus" | rater} of the frames training may use (the training rule)."""
        return training_sources(self._labels(pid, zone_id)[1])

    def load_training_mask(self, pid: str, zone_id: str, frame: int) -> np.ndarray | None:
        """The mask training uses for ``frame`` (None when the rule gives none)."""
        source = self.training_mask_sources(pid, zone_id).get(int(frame))
        if source is None:
            return None
        if source == "consensus":
            return self.load_consensus_mask(pid, zone_id, frame)
        return self.load_rater_mask(pid, zone_id, frame, source)
