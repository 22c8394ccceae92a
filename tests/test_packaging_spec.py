"""Fast checks of the PyInstaller spec: it runs against stand-in PyInstaller classes (no build), bundles the
resources and every lusapp module but the torch path, excludes torch (ONNX Runtime runs the model) and
torchvision, and trims only what the app never uses."""

from __future__ import annotations

import os
import pkgutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "packaging" / "lusapp.spec"

SAMPLE_BINARIES = [
    "onnxruntime/capi/onnxruntime_pybind11_state.so", "onnxruntime/capi/libonnxruntime_providers_shared.so",
    "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so", "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so", "PySide6/Qt/plugins/imageformats/libqpdf.so",
    "PySide6/Qt/lib/libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6", "cv2/cv2.abi3.so",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libgtk-3.so.0", "libglib-2.0.so.0",
    "libkrb5.so.3", "libgssapi_krb5.so.2", "opencv_python_headless.libs/libcrypto-5409cd36.so.1.1.1k",
]
SAMPLE_LINKS = [("libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Widgets.so.6"),
                ("libQt6Pdf.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6")]
SAMPLE_DATAS = ["resources/protocols/lus12.json", "resources/models/lus-staged-1.2.0/frames_full.onnx",
                "resources/models/lus-staged-1.2.0/weights.safetensors", "resources/models/lus-staged-1.1.0/zone.onnx",
                "scipy/linalg/__init__.pyi", "cv2/include/opencv2/core.h",
                "resources/fonts/DejaVuSans.ttf", "resources/fonts/LICENSE-DejaVu.txt",
                "PySide6/Qt/translations/qt_de.qm", "onnxruntime/tools/mobile_helpers/usability_checker.py",
                "onnxruntime/transformers/models/bert/README.md"]
KEPT = {
    "onnxruntime/capi/onnxruntime_pybind11_state.so", "onnxruntime/capi/libonnxruntime_providers_shared.so",
    "resources/models/lus-staged-1.2.0/frames_full.onnx",
    "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so", "PySide6/Qt/lib/libQt6Widgets.so.6", "cv2/cv2.abi3.so",
    "resources/protocols/lus12.json", "libglib-2.0.so.0", "libQt6Widgets.so.6",
    "opencv_python_headless.libs/libcrypto-5409cd36.so.1.1.1k",  # FFmpeg's (cv2's video readers), not Python's
    "resources/fonts/DejaVuSans.ttf", "resources/fonts/LICENSE-DejaVu.txt",  # the report's font and its licence
}
TORCH_PATH = {"lusapp.model.torch_backend", "lusapp.model.bundle", "lusapp.model.networks",
              "lusapp.model.findings_branch"}


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _Analysis(_Recorder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.binaries = [(d, "/src/" + d, "BINARY") for d in SAMPLE_BINARIES]
        self.binaries += [(d, target, "SYMLINK") for d, target in SAMPLE_LINKS]
        self.datas = [(d, "/src/" + d, "DATA") for d in SAMPLE_DATAS]
        self.pure, self.scripts = [], []


def _run_spec(monkeypatch, tmp_path, cli_exe: bool = False) -> dict:
    monkeypatch.setenv("LUSAPP_CLI_EXE", "1" if cli_exe else "0")
    ns = {"SPECPATH": str(SPEC.parent), "Analysis": _Analysis, "PYZ": _Recorder, "EXE": _Recorder,
          "COLLECT": _Recorder, "__file__": str(SPEC), "workpath": str(tmp_path)}
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), ns)
    return ns


def test_spec_bundles_resources_entry_and_all_lusapp_modules(monkeypatch, tmp_path):
    ns = _run_spec(monkeypatch, tmp_path)
    analysis = ns["a"]
    (entry,) = analysis.args[0]
    assert Path(entry) == REPO / "packaging" / "entry.py"
    assert "from lusapp.cli import main" in Path(entry).read_text()
    assert (str(REPO / "resources"), "resources") in analysis.kwargs["datas"]
    assert analysis.kwargs["pathex"] == [str(REPO)]
    hidden = set(analysis.kwargs["hiddenimports"])
    in_tree = {m.name for m in pkgutil.walk_packages([str(REPO / "lusapp")], prefix="lusapp.")}
    assert {"lusapp", "lusapp.cli", "lusapp.resources"} <= hidden
    assert in_tree - {"lusapp.__main__"} - TORCH_PATH <= hidden
    assert not TORCH_PATH & hidden
    assert {"fpdf", "fpdf.fpdf"} <= hidden  # the patient report (lusapp.report.pdf), with fpdf2's data folder
    assert {"fontTools.ttLib.tables._g_l_y_f", "fontTools.ttLib.tables._c_m_a_p"} <= hidden  # the report's TTF font
    assert any(dest == os.path.join("fpdf", "data") and Path(src, "color_profiles").is_dir()
               for src, dest in analysis.kwargs["datas"])
    excludes = set(analysis.kwargs["excludes"])
    assert {"torch", "torchvision", "model_training", "onnx", "tkinter", "PyQt5", "PyQt6", "PySide6.QtQml"} <= excludes
    assert TORCH_PATH <= excludes
    assert {"sklearn", "scipy", "skimage"} <= excludes  # Cohen's kappa in numpy (docs/decisions/0011)
    assert "PIL._avif" in excludes  # stills are png/jpeg/bmp/tiff/webp
    assert not {"ssl", "_ssl"} & excludes  # fpdf2 (the report) imports urllib.request.HTTPSHandler
    needed = {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg", "onnxruntime", "cv2", "fpdf",
              "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets"}  # pyqtgraph 0.14 imports QtOpenGL* at import
    assert not needed & excludes


def test_spec_trims_only_unused_files(monkeypatch, tmp_path):
    analysis = _run_spec(monkeypatch, tmp_path)["a"]
    kept = {d for d, _, _ in analysis.binaries + analysis.datas}
    assert kept == KEPT


def test_spec_bundles_only_the_model_the_app_runs(monkeypatch, tmp_path):
    """The registry's active bundle (what `lusapp` and --self-test load) with its graphs and findings head but not
    its safetensors weights (an ONNX-only copy: the frozen app has no torch); no other version."""
    monkeypatch.delenv("LUSAPP_MODEL_VERSION", raising=False)
    from lusapp.model.registry import ModelRegistry

    models = REPO / "resources" / "models"
    active = ModelRegistry(models, REPO / ".no-user-models").active().path.name
    ns = _run_spec(monkeypatch, tmp_path)
    assert ns["BUNDLED_MODEL"].path.name == active
    others = {d.name for d in models.iterdir() if d.is_dir()} - {active}
    assert sorted(ns["OTHER_MODELS"]) == sorted(f"resources/models/{d}/*" for d in others)
    keep = ns["_keep"]
    assert keep((f"resources/models/{active}/manifest.json", "", "DATA"))
    assert not keep((f"resources/models/{active}/weights.safetensors", "", "DATA"))
    manifest = ns["BUNDLED_MODEL"].manifest
    for item in manifest["graphs"]["files"].values():
        assert keep((f"resources/models/{active}/{item['file']}", "", "DATA"))
    if manifest.get("findings"):
        assert keep((f"resources/models/{active}/{manifest['findings']['file']}", "", "DATA"))
    assert not any(keep((f"resources/models/{d}/manifest.json", "", "DATA")) for d in others)


def test_one_dir_bundle_and_windows_console_exe(monkeypatch, tmp_path):
    ns = _run_spec(monkeypatch, tmp_path)
    coll = ns["coll"]
    assert coll.kwargs["name"] == "lusapp"
    exes = [x for x in coll.args if isinstance(x, _Recorder)]
    assert all(x.kwargs["exclude_binaries"] for x in exes)  # one-dir: libraries live in the folder
    if sys.platform != "win32":
        assert [x.kwargs["name"] for x in exes] == ["lusapp"]
    ns = _run_spec(monkeypatch, tmp_path, cli_exe=True)
    exes = {x.kwargs["name"]: x for x in ns["coll"].args if isinstance(x, _Recorder)}
    assert set(exes) == {"lusapp", "lusapp-cli"} and exes["lusapp-cli"].kwargs["console"] is True


def test_build_script_is_executable_and_parses():
    script = REPO / "packaging" / "build.sh"
    if os.name != "nt":
        assert os.access(script, os.X_OK)
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    assert subprocess.run([bash, "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "torch got into the bundle" in text and "packaging/lusapp.spec" in text and "--self-test" in text


def test_highdicom_standard_tables_are_bundled_minified_with_the_same_data(monkeypatch, tmp_path):
    import importlib.util
    import json

    datas = dict((dest, src) for src, dest in _run_spec(monkeypatch, tmp_path)["a"].kwargs["datas"])
    minified = Path(datas[os.path.join("highdicom", "_standard")])
    assert minified.is_relative_to(tmp_path)  # written under PyInstaller's workpath, never the source tree
    original = Path(importlib.util.find_spec("highdicom").submodule_search_locations[0], "_standard")
    names = sorted(p.name for p in original.glob("*.json"))
    assert names and sorted(p.name for p in minified.iterdir()) == names
    big = original / "module_attribute_map.json"
    assert (minified / big.name).stat().st_size < 0.8 * big.stat().st_size
    for name in names:
        assert json.loads((minified / name).read_text()) == json.loads((original / name).read_text())
