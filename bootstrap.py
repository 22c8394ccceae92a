#!/usr/bin/env python3
"""Create the development environment (.venv) when needed, then launch the app or run the tests.

    python3.11 bootstrap.py app [ARGS...]    environment + the review app (bundled demo patient by default)
    python3.11 bootstrap.py test [ARGS...]   environment + the whole test suite (pytest)

Standard library only, so it runs on a machine that has nothing but Python 3.11. The environment is
(re)installed only when pyproject.toml changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("LUSAPP_VENV", ROOT / ".venv"))
STAMP = VENV / ".lusapp-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _wanted_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_env() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"bootstrap.py: LUSApp needs Python 3.11, this is {sys.version.split()[0]}")
    if STAMP.exists() and STAMP.read_text().strip() == _wanted_stamp() and PY.exists():
        return
    if not PY.exists():
        print(f"bootstrap: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    print("bootstrap: installing LUSApp and its dependencies (torch takes a minute or two)", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(_wanted_stamp())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__.strip())
        return 2
    ensure_env()
    what, rest = argv[0], argv[1:]
    if what == "app":
        cmd = [str(PY), "-m", "lusapp", *rest]
    else:
        env_cmd = [str(PY), "-m", "pytest", *rest]
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        cmd = env_cmd
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
