"""The torch device of a training or evaluation run (``--device auto|cpu|cuda``).

Its own module so that ``train`` and ``evaluate`` both use it without importing each other.
"""

from __future__ import annotations

import torch


def pick_device(choice: str = "auto") -> str:
    """``auto``: CUDA when available, else CPU; ``cuda`` without CUDA stops the command."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    return choice
