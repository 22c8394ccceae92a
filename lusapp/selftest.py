"""``lusapp --self-test``: a headless end-to-end check of an installation (source or frozen).

Opens the bundled demo patient, segments a clip, scores a zone, assesses the patient, saves everything
(model scores, ORIGINAL and FINAL masks) into a temporary store, reopens it and verifies what was written.
With Qt available it also builds the main window offscreen (checks the Qt plugins of a frozen bundle).
Prints one JSON line and exits 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def _import_demo(tmp: Path):
    """Copy the demo patient into a new store (file copies + fsync: I/O that overlaps the heavy imports)."""
    from lusapp.resources import resource
    from lusapp.store import Store

    demo = resource("demo")
    _check(demo.is_dir(), f"demo patient folder missing: {demo}")
    t = time.perf_counter()
    store = Store.create(Path(tmp) / "store")
    pid = store.import_folder(demo, actor="self-test")
    return store, pid, time.perf_counter() - t


def _core_checks(timings: dict, info: dict, tmp: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        demo_job = pool.submit(_import_demo, tmp)
        t = time.perf_counter()
        from lusapp import __version__
        from lusapp.core.labels import N_CLASSES
        from lusapp.io.readers import open_media
        from lusapp.model.apply import apply_assessment
        from lusapp.model.engine import Engine
        from lusapp.model.registry import ModelRegistry
        from lusapp.store import Store

        timings["imports_s"] = time.perf_counter() - t  # ONNX Runtime and OpenCV (the demo import runs meanwhile)
        t = time.perf_counter()
        registry = ModelRegistry()
        bundle = registry.load_active()
        engine = Engine(bundle)
        info.update(app_version=__version__, model_version=bundle.version, engine=engine.backend.name)
        timings["load_model_s"] = time.perf_counter() - t
        store, pid, timings["import_s"] = demo_job.result()
    patient = store.load_patient(pid)
    clips = [z for z, r in patient.zones.items() if r.media is not None and r.media.kind == "clip"]
    _check(bool(clips), "the demo patient has no clip")

    t = time.perf_counter()
    zid = clips[0]
    with open_media(store.media_path(pid, zid)) as clip:
        idx = list(range(min(8, clip.n_frames)))
        seg = engine.segment(clip, idx)
        shape = (clip.height, clip.width)
    _check(all(m.shape == shape for m in seg.masks), "masks are not in frame coordinates")
    _check(all(int(m.max()) < N_CLASSES for m in seg.masks), "mask labels out of range")
    zone = engine.score_zone(seg.features)
    _check(abs(float(np.sum(zone.probs)) - 1) < 1e-4, "zone score probabilities do not sum to 1")
    timings["segment_8_frames_s"] = time.perf_counter() - t

    t = time.perf_counter()
    media = {z: store.media_path(pid, z) for z, r in patient.zones.items() if r.media is not None}
    assessment = engine.assess(patient, media)
    _check(abs(float(np.sum(assessment.severity_probs)) - 1) < 1e-4, "severity probabilities do not sum to 1")
    _check(abs(sum(assessment.attention.values()) - 1) < 1e-3, "attention does not sum to 1")
    timings["assess_s"] = time.perf_counter() - t

    t = time.perf_counter()
    apply_assessment(patient, assessment)
    store.save_patient(patient, actor="self-test")
    store.save_mask(pid, zid, idx[0], seg.masks[0], kind="original", rater="model",
                    model_version=engine.model_id)
    final = seg.masks[0].copy()
    final[: max(1, shape[0] // 20), :] = 0  # a clinician's correction
    store.save_mask(pid, zid, idx[0], final, kind="final", rater="self-test", model_version=engine.model_id)
    store.close()

    store = Store.open(Path(tmp) / "store", readonly=True)
    again = store.load_patient(pid)
    _check(again.severity.model_probs == patient.severity.model_probs, "severity lost on reopen")
    _check(again.zones[zid].model_score == patient.zones[zid].model_score, "zone score lost on reopen")
    _check(np.array_equal(store.load_mask(pid, zid, idx[0], "original"), seg.masks[0]), "ORIGINAL mask lost")
    _check(np.array_equal(store.load_mask(pid, zid, idx[0], "final"), final), "FINAL mask lost")
    _check(all(store.verify_media(pid).values()), "media checksum mismatch after reopen")
    store.close()
    timings["save_reopen_s"] = time.perf_counter() - t
    info.update(patient=pid, zones_assessed=len(assessment.zone_probs), severity=assessment.severity_name,
                severe_prob=round(assessment.severe_prob, 4))


def _gui_check(timings: dict, store: Path) -> None:
    """Build the main window offscreen on the self-test's store (the assessed demo patient) and let it paint."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t = time.perf_counter()
    from lusapp.gui.smoke import smoke_window

    smoke_window(store)
    timings["gui_s"] = time.perf_counter() - t


def selftest_main(argv: list[str]) -> int:
    want_gui = "--no-gui" not in argv
    timings: dict[str, float] = {}
    info: dict = {}
    t0 = time.perf_counter()
    result = {"ok": False}
    try:
        with tempfile.TemporaryDirectory(prefix="lusapp-selftest-") as tmp:
            _core_checks(timings, info, Path(tmp))
            if want_gui:
                _gui_check(timings, Path(tmp) / "store")
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the self-test reports every failure as JSON
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["where"] = traceback.format_exc(limit=3).splitlines()[-3:]
    timings["total_s"] = time.perf_counter() - t0
    result.update(info)
    result["gui"] = want_gui
    result["torch_imported"] = "torch" in sys.modules  # the clinic bundle has no torch: a model with graphs needs none
    result["timings"] = {k: round(v, 3) for k, v in timings.items()}
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(selftest_main(sys.argv[1:]))
