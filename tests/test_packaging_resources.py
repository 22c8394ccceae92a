"""The resource locator inside a PyInstaller bundle (sys._MEIPASS), and the installer keeping the user's data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lusapp import resources

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def frozen(tmp_path, monkeypatch) -> Path:
    """A bundle-like _internal folder holding a copy of the protocols, with sys._MEIPASS pointing at it."""
    internal = tmp_path / "_internal"
    shutil.copytree(REPO / "resources" / "protocols", internal / "resources" / "protocols")
    monkeypatch.delenv("LUSAPP_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    return internal


def test_frozen_resources_come_from_meipass(frozen):
    assert resources.resources_dir() == frozen / "resources"
    assert resources.resource("protocols", "lus12.json") == frozen / "resources" / "protocols" / "lus12.json"
    assert resources.resource("protocols", "lus12.json").is_file()


def test_frozen_protocols_load_from_the_bundle(frozen):
    from lusapp.core.protocols import load_protocol

    assert [z.id for z in load_protocol("lus12").zones][:2] == ["R1", "R2"]


def test_env_override_beats_meipass(frozen, tmp_path, monkeypatch):
    monkeypatch.setenv("LUSAPP_RESOURCES", str(tmp_path / "elsewhere"))
    assert resources.resource("x") == tmp_path / "elsewhere" / "x"


def test_windows_user_data_dir_is_localappdata(monkeypatch, tmp_path):
    """platformdirs asks Windows for the local (not roaming) application data folder: %LOCALAPPDATA%."""
    import platformdirs.windows

    monkeypatch.delenv("LUSAPP_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", {"CSIDL_LOCAL_APPDATA": str(tmp_path)}.__getitem__)
    assert resources.user_data_dir() == tmp_path / "LUSApp"
    assert resources.user_log_dir() == tmp_path / "LUSApp" / "Logs"


def test_linux_folders_follow_xdg_and_the_override_holds_the_logs(monkeypatch, tmp_path):
    monkeypatch.delenv("LUSAPP_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert resources.user_data_dir() == tmp_path / "data" / "lusapp"  # the folder earlier versions used
    assert resources.user_log_dir() == tmp_path / "state" / "lusapp" / "log"
    monkeypatch.setenv("LUSAPP_DATA_DIR", str(tmp_path / "portable"))
    assert resources.user_data_dir() == tmp_path / "portable"
    assert resources.user_log_dir() == tmp_path / "portable" / "logs"


def _iss_section(name: str) -> list[str]:
    text = (REPO / "packaging" / "windows" / "lusapp.iss").read_text()
    match = re.search(rf"^\[{name}\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert match, name
    return [ln for ln in match.group(1).splitlines() if ln.strip() and not ln.lstrip().startswith(";")]


def test_installer_is_per_user_and_uninstall_keeps_the_user_store():
    setup = "\n".join(_iss_section("Setup"))
    assert "PrivilegesRequired=lowest" in setup and "OutputBaseFilename=LUSApp-Setup" in setup
    assert r"DefaultDirName={autopf}\LUSApp" in setup  # {autopf} = %LOCALAPPDATA%\Programs when per-user
    for section in ("UninstallDelete", "InstallDelete"):
        for line in _iss_section(section):
            name = re.search(r'Name:\s*"([^"]*)"', line).group(1)
            assert name.startswith("{app}"), f"[{section}] touches {name}"
    assert any("lusapp.exe" in ln for ln in _iss_section("Icons"))


def test_build_outputs_are_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["build/venv/bin/python", "build/pyinstaller/x", "dist/lusapp/lusapp", "dist/LUSApp-Setup.exe"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.split() == paths


def test_app_icon_is_bundled_for_window_exe_and_installer(qtbot):
    from PIL import Image

    from lusapp.gui.app import _make_app
    from lusapp.resources import resource

    ico = Image.open(resource("icons", "lusapp.ico"))
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    assert Image.open(resource("icons", "lusapp.png")).size == (256, 256)
    assert not _make_app([]).windowIcon().isNull()
    spec = (resource().parent / "packaging" / "lusapp.spec").read_text()
    iss = (resource().parent / "packaging" / "windows" / "lusapp.iss").read_text()
    assert '"icons", "lusapp.ico"' in spec and "SetupIconFile=..\\..\\resources\\icons\\lusapp.ico" in iss
