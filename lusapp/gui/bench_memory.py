"""Benchmark: resident memory of the app with 12 ten-second clips open (target <= 1.5 GB). Not a test.

    python -m lusapp.gui.bench_memory [--seconds 10] [--fps 20] [--size 480x640]

A fresh process writes a plain patient folder of 12 synthetic videos (``lusapp.bench.write_demo_video``),
opens it in the main window (offscreen unless QT_QPA_PLATFORM says otherwise), loads the active model, then
visits every zone in turn and waits until the live-mask worker has segmented every frame of its clip (so the
mask cache, the frame cache and the engine's feature cache all hold what a user who reviewed the whole patient
would leave behind), and reports the process's resident set size (VmRSS, VmHWM from /proc) after each step.
Prints one JSON line. Measured with lus-staged 1.2.0, 12 x 200 frames of 480x640: peak 1388 MB (start 629 MB,
model loaded 671 MB, masks cached 352 MB), 68 s to segment every frame of every clip on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time
from pathlib import Path
from lusapp.bench import write_demo_video
folder = Path(sys.argv[1]); n = int(sys.argv[2]); h, w = map(int, sys.argv[3].split("x")); fps = float(sys.argv[4])
zones = ["R1", "R2", "R3", "R4", "R5", "R6", "L1", "L2", "L3", "L4", "L5", "L6"]
for k, z in enumerate(zones):
    write_demo_video(folder / f"{z}.mp4", n_frames=n, size=(h, w), fps=fps, seed=k, b_lines=k % 5)
from lusapp.gui.app import _make_app, build_window, open_target
from PySide6.QtCore import QSettings, QTimer, QEventLoop
app = _make_app([])
win = build_window(settings=QSettings(os.path.join(os.environ["LUSAPP_DATA_DIR"], "s.ini"), QSettings.Format.IniFormat),
                   modal_errors=False)
win.show()
open_target(win, str(folder))

def rss():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            out[k] = round(int(v.split()[0]) / 1024, 1)
    return out

def wait(pred, timeout):
    t0 = time.time()
    while not pred() and time.time() - t0 < timeout:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return pred()

report = {"start": rss()}
win.start_model_loading()
wait(lambda: win.model.engine is not None, 120)
report["model_loaded"] = rss()
done = set()
win.seg_worker.clipDone.connect(lambda key: done.add(key))
t0 = time.time()
for z in zones:
    win.session.set_zone(z)
    wait(lambda: win.seg_worker.current_key in done, 300)
report["all_zones_segmented"] = rss()
report["segment_s"] = round(time.time() - t0, 1)
report["masks_cached_mb"] = round(win.seg_worker.cache.nbytes / 2**20, 1)
print(json.dumps(report), flush=True)
win.session.discard_changes()
win.close()
app.quit()
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=20.0)
    ap.add_argument("--size", default="480x640")
    a = ap.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="lusapp_mem_patient_")
    data = tempfile.mkdtemp(prefix="lusapp_mem_data_")
    env = dict(os.environ, LUSAPP_DATA_DIR=data, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    n = int(round(a.seconds * a.fps))
    proc = subprocess.run([sys.executable, "-c", CHILD, folder, str(n), a.size, str(a.fps)], capture_output=True,
                          text=True, env=env, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
    peak = result.get("all_zones_segmented", {}).get("VmHWM")
    summary = {"benchmark": "memory_12_clips", "clips": 12, "frames_per_clip": n, "size": a.size, **result,
               "target_mb": 1536, "ok": peak is not None and peak <= 1536}
    print(json.dumps(summary))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
