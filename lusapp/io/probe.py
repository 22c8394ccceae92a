"""`lusapp probe FILE...`: one JSON line per file describing what LUSApp can read from it.

    {"path", "ok": true, "kind", "frames", "fps", "width", "height", "is_color",
     "crop": {"x0", "y0", "x1", "y1", "shape", "confidence"}, "pixel_spacing_mm", "notes"}
    {"path", "ok": false, "error_type", "error"}

Exit status 0 when every file is readable, 1 otherwise (2 for a usage error); never a traceback.
Run as `python -m lusapp.io.probe FILE...`.
"""

from __future__ import annotations

import json
import os
import sys

from lusapp.core.errors import ReadError
from lusapp.io.crop import detect_imaging_region
from lusapp.io.readers import open_media

USAGE = "usage: lusapp probe [--count] FILE...\n  --count  decode every frame to report the exact frame count\n"


def probe_file(path: str, count: bool = False) -> dict:
    """The probe record of one file (never raises for a bad file)."""
    try:
        with open_media(path) as clip:
            if count and hasattr(clip, "verify_frame_count"):
                clip.verify_frame_count()
            box = detect_imaging_region(clip)
            rec = {"path": str(path), "ok": True, "kind": clip.kind, "frames": clip.n_frames, "fps": clip.fps,
                   "width": clip.width, "height": clip.height, "is_color": clip.is_color,
                   "crop": box.to_dict(),
                   "pixel_spacing_mm": list(clip.pixel_spacing_mm) if clip.pixel_spacing_mm else None}
            if clip.notes:
                rec["notes"] = list(clip.notes)
            return rec
    except ReadError as exc:
        return {"path": str(path), "ok": False, "error_type": type(exc).__name__, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a probe reports, it never crashes
        return {"path": str(path), "ok": False, "error_type": type(exc).__name__, "error": f"{path}: {exc}"}


def probe_main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    count = "--count" in args
    files = [a for a in args if a != "--count"]
    if not files or any(a in ("-h", "--help") for a in files):
        sys.stderr.write(USAGE)
        return 0 if files else 2
    all_ok = True
    try:
        for path in files:
            rec = probe_file(path, count=count)
            all_ok &= rec["ok"]
            sys.stdout.write(json.dumps(rec) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:  # `lusapp probe ... | head`: the reader went away
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except KeyboardInterrupt:
        return 1
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(probe_main())
