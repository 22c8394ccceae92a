"""Network input preparation and mask back-projection (numpy + OpenCV; shared by the engine and training).

The network sees the imaging region (the crop box) of a grey frame, resized (stretched) to ``size`` x
``size`` and scaled to float [0, 1]. A predicted ``size`` x ``size`` label map is mapped back to the original
frame by nearest-neighbour resizing into the crop box, zeros (background) outside.

A crop box is anything with ``x0, y0, x1, y1`` attributes (``lusapp.io.crop.CropBox``), a 4-sequence
``(x0, y0, x1, y1)`` or None (whole frame); ``x1``/``y1`` are exclusive. Boxes are clipped to the frame.
Training code must use :func:`prepare` / :func:`prepare_batch` too, so that what the network saw in training
is what it sees in the app. torch is imported only by the functions that return or take tensors (training
and the torch path of the engine): the app's ONNX Runtime path uses :func:`prepare_batch_u8` and
:func:`to_input` (:func:`prepare_batch_array` is the two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch


def box_tuple(crop: Any, height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) clipped to a height x width frame; the whole frame for None or an empty box."""
    if crop is None:
        return 0, 0, int(width), int(height)
    if all(hasattr(crop, a) for a in ("x0", "y0", "x1", "y1")):
        x0, y0, x1, y1 = crop.x0, crop.y0, crop.x1, crop.y1
    else:
        x0, y0, x1, y1 = crop
    x0, x1 = max(0, min(int(x0), width)), max(0, min(int(x1), width))
    y0, y1 = max(0, min(int(y0), height)), max(0, min(int(y1), height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0, 0, int(width), int(height)
    return x0, y0, x1, y1


def _size2(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    """uint8 HxW from a grey or RGB frame of uint8 (or other integer / float [0, 255]) values."""
    if frame.ndim == 3:
        frame = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2GRAY)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return frame


def prepare_u8(frame_gray: np.ndarray, crop_box: Any, size: int | Sequence[int]) -> np.ndarray:
    """uint8 (H, W) = ``size``: the crop of a grey frame, area-resized (linear when enlarging)."""
    frame_gray = to_gray_u8(frame_gray)
    h, w = _size2(size)
    x0, y0, x1, y1 = box_tuple(crop_box, *frame_gray.shape[:2])
    roi = frame_gray[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if (roi.shape[0] >= h and roi.shape[1] >= w) else cv2.INTER_LINEAR
    return cv2.resize(roi, (w, h), interpolation=interp)


def prepare_array(frame_gray: np.ndarray, crop_box: Any, size: int | Sequence[int]) -> np.ndarray:
    """float32 (H, W) = ``size`` in [0, 1]: crop, area-resize (linear when enlarging), scale."""
    return prepare_u8(frame_gray, crop_box, size).astype(np.float32) * np.float32(1.0 / 255.0)


def prepare(frame_gray: np.ndarray, crop_box: Any, size: int | Sequence[int]) -> "torch.Tensor":
    """One frame -> float tensor (1, H, W) in [0, 1] (stack these, or use :func:`prepare_batch`)."""
    import torch

    return torch.from_numpy(prepare_array(frame_gray, crop_box, size)).unsqueeze(0)


def prepare_batch_u8(frames: Sequence[np.ndarray], crop_box: Any, size: int | Sequence[int]) -> np.ndarray:
    """Frames of one clip (same crop) -> uint8 array (N, H, W): what :func:`to_input` scales for the network
    (and, rounded back, exactly what the findings descriptor keeps of a network input)."""
    h, w = _size2(size)
    out = np.empty((len(frames), h, w), dtype=np.uint8)
    for i, f in enumerate(frames):
        out[i] = prepare_u8(f, crop_box, (h, w))
    return out


def to_input(batch_u8: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> float32 network input (N, 1, H, W) in [0, 1], the values :func:`prepare_array` gives."""
    return np.multiply(batch_u8[:, None], np.float32(1.0 / 255.0), dtype=np.float32)


def prepare_batch_array(frames: Sequence[np.ndarray], crop_box: Any, size: int | Sequence[int]) -> np.ndarray:
    """Frames of one clip (same crop) -> float32 array (N, 1, H, W) in [0, 1]."""
    return to_input(prepare_batch_u8(frames, crop_box, size))


def prepare_batch(frames: Sequence[np.ndarray], crop_box: Any, size: int | Sequence[int]) -> "torch.Tensor":
    """Frames of one clip (same crop) -> float tensor (N, 1, H, W)."""
    import torch

    return torch.from_numpy(prepare_batch_array(frames, crop_box, size))


def logits_to_labels(logits: "torch.Tensor") -> np.ndarray:
    """(N, C, H, W) logits -> uint8 (N, H, W) label maps (``max(dim=1).indices``: same result as argmax,
    several times faster on CPU for this layout)."""
    import torch

    return logits.max(dim=1).indices.to(torch.uint8).cpu().numpy()


def project_mask(labels: np.ndarray, crop_box: Any, frame_shape: Sequence[int]) -> np.ndarray:
    """A (h, w) label map predicted on the crop -> uint8 label map of ``frame_shape[:2]``: nearest resize
    into the crop box, zeros outside."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x0, y0, x1, y1 = box_tuple(crop_box, height, width)
    out = np.zeros((height, width), dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    roi = out[y0:y1, x0:x1]
    resized = cv2.resize(labels, (x1 - x0, y1 - y0), dst=roi, interpolation=cv2.INTER_NEAREST)  # into the box:
    if not np.may_share_memory(resized, out):  # 0.13 instead of 0.37 ms a frame; a copy if OpenCV reallocated
        roi[...] = resized
    return out


def mask_to_input(mask: np.ndarray, crop_box: Any, size: int | Sequence[int]) -> np.ndarray:
    """An original-coordinates label map -> the (h, w) label map of the network input (nearest): the training
    target matching :func:`prepare` of the same frame and crop."""
    h, w = _size2(size)
    x0, y0, x1, y1 = box_tuple(crop_box, *mask.shape[:2])
    roi = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    return cv2.resize(roi, (w, h), interpolation=cv2.INTER_NEAREST)


def crop_scale(crop_box: Any, frame_shape: Sequence[int], size: int | Sequence[int]) -> tuple[float, float]:
    """(rows, cols) of original pixels per network-input pixel for this crop."""
    h, w = _size2(size)
    x0, y0, x1, y1 = box_tuple(crop_box, int(frame_shape[0]), int(frame_shape[1]))
    return (y1 - y0) / h, (x1 - x0) / w
