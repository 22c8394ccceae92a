"""The app runs without torch when its model bundle has ONNX graphs (the clinic installer ships no torch).

Each check runs ``lusapp`` in a fresh interpreter in which torch (and torchvision, model_training) are made
unimportable, as tests/test_import_contract.py does for Qt: ``--version``, ``probe``, ``assess``, ``report`` and
``--self-test`` (which also opens the main window offscreen and loads the model in its worker) must work and
never import torch. A bundle published before graphs existed is refused in one sentence naming it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_import_contract import BLOCKER

pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
BLOCKED = {"torch", "torchvision", "model_training"}
RUN = """
import sys
from lusapp.cli import main
rc = main({argv!r})
if 'torch' in sys.modules:
    print('TORCH WAS IMPORTED', file=sys.stderr)
    rc = 99
sys.exit(rc)
"""


def _lusapp(argv: list[str], tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    code = BLOCKER.format(blocked=BLOCKED) + RUN.format(argv=argv)
    env = {**__import__("os").environ, "LUSAPP_DATA_DIR": str(tmp_path / "data"), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_self_test_with_gui_runs_without_torch(tmp_path):
    r = _lusapp(["--self-test"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["ok"] and doc["gui"] and doc["engine"] == "onnxruntime" and doc["torch_imported"] is False


def test_version_probe_assess_and_report_run_without_torch(tmp_path):
    r = _lusapp(["--version"], tmp_path)
    assert r.returncode == 0 and "model lus-staged" in r.stdout, r.stderr[-2000:]
    r = _lusapp(["probe", str(DEMO / "L3.mp4")], tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["frames"] > 0, r.stderr[-2000:]
    r = _lusapp(["assess", str(DEMO)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["model_version"] == "lus-staged-1.2.0" and doc["severity"] in (1, 2, 3, 4) and len(doc["zones"]) >= 8
    pdf = tmp_path / "report.pdf"
    r = _lusapp(["report", str(DEMO), "-o", str(pdf)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_a_bundle_without_graphs_is_refused_in_one_sentence_without_torch(tmp_path):
    old = tmp_path / "lus-old-1.0.0"
    shutil.copytree(REPO / "resources" / "models" / "lus-staged-1.2.0", old,
                    ignore=shutil.ignore_patterns("*.onnx"))
    m = json.loads((old / "manifest.json").read_text())
    del m["graphs"]
    (old / "manifest.json").write_text(json.dumps(m))
    r = _lusapp(["assess", str(DEMO), "--model", str(old)], tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    message = r.stderr.strip().splitlines()[-1]
    assert str(old) in message and "no ONNX graphs and torch is not installed" in message
