"""Opening a clip for the engine, finding its imaging region and reading ahead (no Qt). The engine, the clip report
and training code share these, so none of them imports another for them."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from lusapp.model import preprocess as pp
from lusapp.model.cache import is_path


def detect_crop(clip: Any, frames: Sequence[np.ndarray] | None = None) -> tuple[int, int, int, int]:
    """The clip's imaging region as (x0, y0, x1, y1): the DICOM region hint if any, else lusapp.io.crop on
    ``frames`` (already decoded ones, to save a second decode) or on the clip's own sample."""
    hint = getattr(clip, "region_hint", None)
    if hint:
        return pp.box_tuple(hint, clip.height, clip.width)
    from lusapp.io.crop import detect_imaging_region

    return pp.box_tuple(detect_imaging_region(list(frames) if frames else clip), clip.height, clip.width)


def open_clip(clip_or_path: Any):
    """(clip, owned): opens a path with lusapp.io.readers.open_media; a Clip is used as it is."""
    if is_path(clip_or_path):
        from lusapp.io.readers import open_media

        return open_media(clip_or_path), True
    return clip_or_path, False


def prefetch(fn: Callable[[Any], Any], items: Iterable[Any], ahead: int = 1,
             name: str = "lusapp-prefetch") -> Iterator[Future]:
    """Futures of ``fn(item)`` in the order of ``items``, the next ``ahead`` ones computed in as many helper
    threads while the caller works on the current one: decoding, crop detection and resizing (OpenCV releases
    the GIL) overlap the network. ``fn`` must be safe to run beside the caller (and, with ``ahead`` > 1, beside
    itself). One item, or ``ahead`` 0, runs in the caller's thread, one item at a time (no thread to start: a
    thread handoff costs more than an item that is already cached); a failure is raised by that item's
    ``result()``. Closing the generator early cancels what has not started and waits for what runs."""
    items = list(items)
    if len(items) == 1 or ahead <= 0:
        for item in items:
            done: Future = Future()
            try:
                done.set_result(fn(item))
            except Exception as e:  # noqa: BLE001 - handed to the caller through result(), as from the pool
                done.set_exception(e)
            yield done
        return
    ahead = max(1, int(ahead))
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix=name) as pool:
        pending = [pool.submit(fn, item) for item in items[:ahead]]
        try:
            for k in range(len(items)):
                if k + ahead < len(items):
                    pending.append(pool.submit(fn, items[k + ahead]))
                yield pending.pop(0)
        finally:  # closed early (the caller failed or stopped): what has not started never starts
            for fut in pending:
                fut.cancel()
