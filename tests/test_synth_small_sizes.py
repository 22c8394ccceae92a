"""The synthetic renderer works at small sizes (``synth --size 96x128`` crashed on some seeds)."""

import numpy as np
import pytest

from model_training.synth.patterns import sample_clip_params, sample_content
from model_training.synth.render import ClipRenderer


@pytest.mark.parametrize("size, seed", [((96, 128), 823), ((96, 128), 1429), ((64, 80), 139)])
def test_small_frames_render(size, seed):
    rng = np.random.default_rng(seed)
    r = ClipRenderer(sample_content(seed % 5, rng), sample_clip_params(rng), size, seed=seed)
    frame, mask = r.frame(0)
    assert frame.shape[:2] == size and mask.shape == size
