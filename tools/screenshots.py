"""Save PNG screenshots of LUSApp's main states, rendered offscreen (no display needed).

    python tools/screenshots.py [--out docs/screenshots] [--readme docs/screenshot.png]
    (the window fits itself to the screen: for 1920x1080 pictures run it under Xvfb -screen 0 1920x1080x24 with
    QT_QPA_PLATFORM=xcb; the offscreen platform has an 800x800 screen)

States: 1 zone board + clip with live masks, 2 mask editing (brush stroke), 3 severity after Assess
(attention on the board), 4 clinical information form. The patient is a synthetic one written by
``model_training.synth`` into a temporary store (with its FINAL masks); the model is the registry's active
bundle, or a random-init bundle when none is installed (the screenshots then say so in the status bar).
Nothing is written to the user's data folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _wait(app, cond, timeout: float, what: str) -> None:
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"screenshots: timed out waiting for {what}")


def _pause(app, seconds: float) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.01)


def _random_bundle(path: Path) -> Path:
    import torch

    from lusapp.core.clinical import CLINICAL_DIM, clinical_feature_names
    from lusapp.model.bundle import save_bundle
    from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer

    torch.manual_seed(0)
    seg = SegNet()
    return save_bundle(path, seg, ZoneScorer(seg.feat_dim), SeverityNet(seg.feat_dim, CLINICAL_DIM),
                       {"name": "random-init", "version": "0.0.0", "clinical_features": list(clinical_feature_names()),
                        "training_data": "none (random init, screenshots only)", "licences": ["MIT"]})


def _patient(store_dir: Path) -> str:
    from lusapp.store import Store
    from model_training.synth.patients import make_patient
    from model_training.synth.writer import write_patient

    store = Store.create(store_dir)
    sp = make_patient("DEMO-SHOT", 3, seed=7, frames=(18, 24), clutter_p=0.0, probe="convex")
    write_patient(store, sp, (300, 400))
    p = store.load_patient(sp.patient_id)
    for zid in list(p.zones)[1::2]:  # leave half the zones to the model, so the board shows both kinds
        p.zones[zid].clinician_score = None
    p.severity.clinician_label, p.severity.rater, p.severity.time = None, "", ""
    store.save_patient(p, "screenshots")
    store.close()
    return sp.patient_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--readme", type=Path, default=REPO / "docs" / "screenshot.png")
    ap.add_argument("--size", default="1920x1080")
    a = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="lusapp_shots_"))
    os.environ["LUSAPP_DATA_DIR"] = str(tmp / "data")
    from lusapp.model.registry import ModelRegistry

    try:
        ModelRegistry().active()
    except Exception:  # noqa: BLE001 - no trained model installed: a random-init one, for the plumbing only
        os.environ["LUSAPP_MODELS_DIR"] = str(tmp / "models")
        _random_bundle(tmp / "models" / "random-init-0.0.0")

    from PySide6.QtCore import QSettings

    from lusapp.gui.app import _make_app, build_window

    app = _make_app([])
    pid = _patient(tmp / "store")
    w = build_window(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), modal_errors=False)
    width, height = (int(v) for v in a.size.split("x"))
    w.resize(width, height)
    w.show()
    s = w.session
    s.open_store(tmp / "store")
    s.open_patient(pid)
    w.start_model_loading()
    _wait(app, lambda: w.model.engine is not None, 120, "the model")
    a.out.mkdir(parents=True, exist_ok=True)
    shots = {}

    def shot(name: str, widget=None) -> Path:
        _pause(app, 0.3)
        path = a.out / f"{name}.png"
        (widget or w).grab().save(str(path))
        shots[name] = path
        print(path)
        return path

    # 1: a clip zone with B-lines, on a frame with a FINAL (clinician-checked) mask
    clips = [(r.clinician_score.value if r.clinician_score else -1, z) for z, r in s.patient.zones.items()
             if r.media is not None and r.media.kind == "clip"]
    zone = max(c for c in clips if c[0] < 4)[1]
    s.set_zone(zone)
    v = w.clip_view
    finals = s.store.mask_frames(pid, zone, "final")
    v.seek(finals[min(1, len(finals) - 1)] if finals else min(6, v.clip.n_frames - 1))
    _wait(app, lambda: v.mask_kind(v.current_frame) is not None, 120, "masks")
    shot("1_board_and_masks")
    # 2: editing: a brush stroke of B-line on the shown frame
    from lusapp.core.labels import B_LINE

    v.tool_brush()
    v.set_edit_class(B_LINE)
    v.set_brush_size(6)
    c, cx = v.controller, int(v.clip.width * 0.3)
    c.press(cx, v.clip.height // 3), c.move(cx + 2, v.clip.height // 2), c.release(cx + 4, int(v.clip.height * 0.75))
    shot("2_editing")
    # 3: severity after Assess (attention on the board)
    w.actions_.action("model.assess").trigger()
    _wait(app, lambda: w.severity.job is None and s.patient.severity.model_probs is not None, 300, "assess")
    w.docks["severity"].raise_()
    shot("3_severity_after_assess")
    shot("3b_zone_board", w.board)
    # 4: clinical information
    w.docks["clinical"].raise_()
    shot("4_clinical_form")
    w.docks["severity"].raise_()
    a.readme.parent.mkdir(parents=True, exist_ok=True)
    a.readme.write_bytes(shots["3_severity_after_assess"].read_bytes())
    print(a.readme)
    s.discard_changes()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
