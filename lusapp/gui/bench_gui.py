"""Benchmark: start-to-interactive time of the main window (target <= 2 s). Not a test.

    python -m lusapp.gui.bench_gui [--runs 3] [--target PATH]

Each run is a fresh Python process (interpreter start included) that does what ``run_gui`` does — Qt,
theme, main window, show, open the target (default: the demo in a temporary session store, so run 1 is a
first run and later runs reopen the stored patient) — and reports when the event loop first runs after
``show()``: from then on the window reacts to input. The model loads afterwards in a worker; the child
also reports whether torch was already imported at that point (it must not be) and when the model was
ready. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time, json
t_start = time.perf_counter()
from lusapp.gui.app import _make_app, build_window, open_target
from PySide6.QtCore import QSettings, QTimer
app = _make_app([])
w = build_window(settings=QSettings(os.path.join(os.environ["LUSAPP_DATA_DIR"], "s.ini"), QSettings.Format.IniFormat),
                 modal_errors=False)
w.show()
open_target(w, sys.argv[1] or None)
out = {}
def ready():
    out["interactive_s"] = time.perf_counter() - t_start
    out["torch_loaded_at_interactive"] = "torch" in sys.modules
    print("READY", flush=True)
    w.start_model_loading()
def model_done(*_):
    out["model_ready_s"] = time.perf_counter() - t_start
    out["model"] = w.model.description
    w.session.discard_changes()
    print(json.dumps(out), flush=True)
    w.close()
    app.quit()
w.model.engineChanged.connect(model_done)
w.model.loadFailed.connect(model_done)
QTimer.singleShot(0, ready)
app.exec()
"""


def run_once(data_dir: str, target: str) -> dict:
    env = dict(os.environ, LUSAPP_DATA_DIR=data_dir, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, target], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    wall_ready = None
    result = {}
    for line in proc.stdout:
        if line.startswith("READY") and wall_ready is None:
            wall_ready = time.perf_counter() - t0
        elif line.startswith("{"):
            result = json.loads(line)
    proc.wait(timeout=300)
    result["process_to_interactive_s"] = wall_ready
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target", default="", help="store or patient folder (default: the demo)")
    a = ap.parse_args(argv)
    data_dir = tempfile.mkdtemp(prefix="lusapp_bench_")
    runs = [run_once(data_dir, a.target) for _ in range(a.runs)]
    inter = [r["process_to_interactive_s"] for r in runs if r.get("process_to_interactive_s") is not None]
    summary = {
        "benchmark": "gui_start_to_interactive",
        "runs": runs,
        "first_run_s": inter[0] if inter else None,
        "median_s": statistics.median(inter) if inter else None,
        "target_s": 2.0,
        "ok": bool(inter) and max(inter) <= 2.0 and not any(r.get("torch_loaded_at_interactive") for r in runs),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
