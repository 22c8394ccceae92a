"""``lusapp --self-test``: a headless end-to-end check of an installation (source or frozen).

Opens the bundled demo patient, segments a clip, scores a zone, assesses the patient, saves everything
(model scores, ORIGINAL and FINAL masks) into a temporary store, reopens it and verifies what was written;
checks OpenCV's linear algebra (BLAS/LAPACK) against numpy.
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


def _opencv_linalg_check(timings: dict) -> None:
    """OpenCV's BLAS/LAPACK against numpy: in the Linux clinic bundle these calls go through
    packaging/opencv_blas_forward.c to NumPy's OpenBLAS, so a broken forwarding fails here, loudly.

    128 x 128 is above OpenCV's small-matrix thresholds, so each call reaches LAPACK/BLAS: LU solve (xgesv),
    determinant (xgetrf), Cholesky inverse (xposv), SVD (xgesdd), QR least squares (xgels), real and complex gemm.
    """
    import cv2

    t = time.perf_counter()
    rng = np.random.default_rng(13)
    n = 128
    for dtype, tol in ((np.float64, 1e-9), (np.float32, 1e-3)):
        name = np.dtype(dtype).name
        a = (rng.standard_normal((n, n)) / np.sqrt(n) + 2 * np.eye(n)).astype(dtype)
        b = rng.standard_normal((n, 4)).astype(dtype)
        tall = rng.standard_normal((n, 48)).astype(dtype)
        a64, b64, tall64 = a.astype(np.float64), b.astype(np.float64), tall.astype(np.float64)
        ok, x = cv2.solve(a, b, flags=cv2.DECOMP_LU)
        _check(ok and np.abs(x - np.linalg.solve(a64, b64)).max() < tol, f"cv2.solve (LU, {name}) differs from numpy")
        det = np.linalg.det(a64)
        _check(abs(cv2.determinant(a) - det) < 10 * tol * abs(det), f"cv2.determinant ({name}) differs from numpy")
        spd = (a64 @ a64.T).astype(dtype)
        ok, inv = cv2.invert(spd, flags=cv2.DECOMP_CHOLESKY)
        _check(ok and np.abs(inv - np.linalg.inv(spd.astype(np.float64))).max() < tol,
               f"cv2.invert (Cholesky, {name}) differs from numpy")
        sv = cv2.SVDecomp(tall)[0].ravel()
        _check(np.abs(sv - np.linalg.svd(tall64, compute_uv=False)).max() < 10 * tol,
               f"cv2.SVDecomp ({name}) differs from numpy")
        ok, x = cv2.solve(tall, b, flags=cv2.DECOMP_QR)
        _check(ok and np.abs(x - np.linalg.lstsq(tall64, b64, rcond=None)[0]).max() < tol,
               f"cv2.solve (QR, {name}) differs from numpy")
        prod = cv2.gemm(a, tall, 1.0, None, 0.0, flags=cv2.GEMM_1_T)
        _check(np.abs(prod - a64.T @ tall64).max() < 10 * tol, f"cv2.gemm ({name}) differs from numpy")
        z = rng.standard_normal((n, n, 2)).astype(dtype)  # two channels: a complex matrix
        zc = z[..., 0] + 1j * z[..., 1].astype(np.float64)
        prod = cv2.gemm(z, z, 1.0, None, 0.0)
        _check(np.abs(prod[..., 0] + 1j * prod[..., 1] - zc @ zc).max() < 100 * tol,
               f"cv2.gemm (complex, {name}) differs from numpy")
    timings["opencv_linalg_s"] = time.perf_counter() - t


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
            _opencv_linalg_check(timings)
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
