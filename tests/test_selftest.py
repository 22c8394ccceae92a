"""`lusapp --self-test` is what a clinic's IT person (and the installer build) runs after installing:
it must exercise the real model, the store and the GUI, report JSON, and leave the user's data alone."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(180)


def _selftest(tmp_path, *args):
    data = tmp_path / "userdata"
    data.mkdir()
    env = dict(os.environ, LUSAPP_DATA_DIR=str(data), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "lusapp", "--self-test", *args], capture_output=True, text=True,
                          env=env, timeout=170)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return proc.returncode, report, data


def test_self_test_passes_with_gui_and_leaves_user_data_untouched(tmp_path):
    rc, report, data = _selftest(tmp_path)
    assert rc == 0 and report["ok"], report
    assert report["gui"] is True and "gui_s" in report["timings"]
    assert report["patient"] == "DEMO-001" and report["zones_assessed"] == 11
    assert report["severity"] in {"mild", "moderate", "severe", "critical"}
    assert 0.0 <= report["severe_prob"] <= 1.0
    assert list(data.iterdir()) == []  # no session store, no settings written for the user


def test_self_test_reports_a_broken_model_as_json_failure(tmp_path, monkeypatch):
    resources = tmp_path / "res"
    resources.mkdir()  # an install whose resources folder lost its models and demo
    monkeypatch.setenv("LUSAPP_RESOURCES", str(resources))
    rc, report, _ = _selftest(tmp_path, "--no-gui")
    assert rc == 1 and report["ok"] is False
    assert "no valid model bundle" in report["error"] and str(resources) in report["error"]


def test_the_app_opens_no_network_connection(tmp_path):
    """Patient data stays local: the whole self-test (model, store, main window) runs with Python's sockets
    replaced by a trap; any attempt to create one fails the run and is reported."""
    data = tmp_path / "userdata"
    data.mkdir()
    code = (
        "import socket, sys\n"
        "attempts = []\n"
        "class Trap(socket.socket):\n"
        "    def __init__(self, *a, **k):\n"
        "        attempts.append(a)\n"
        "        raise OSError('LUSApp must not open network connections')\n"
        "socket.socket = Trap\n"
        "socket.create_connection = lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(OSError('no net'))\n"
        "from lusapp.selftest import selftest_main\n"
        "rc = selftest_main([])\n"
        "print('SOCKETS', len(attempts))\n"
        "sys.exit(rc)\n")
    env = dict(os.environ, LUSAPP_DATA_DIR=str(data), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=170)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads(lines[-2])["ok"] and lines[-1] == "SOCKETS 0"
