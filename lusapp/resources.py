"""One resource locator that works from source and from a PyInstaller bundle.

From source the resources live in ``<repo>/resources``; frozen, PyInstaller unpacks them under
``sys._MEIPASS/resources`` (the spec adds the folder as data). ``LUSAPP_RESOURCES`` overrides both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    env = os.environ.get("LUSAPP_RESOURCES")
    if env:
        return Path(env)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource("protocols", "lus12.json")``."""
    return resources_dir().joinpath(*parts)


def _platform_dirs():
    """platformdirs' folders for LUSApp on the platform running now (chosen per call, so tests can set
    ``sys.platform``): Windows %LOCALAPPDATA%\\LUSApp (local, not roaming; no author folder), macOS
    ~/Library/Application Support/LUSApp, elsewhere $XDG_DATA_HOME/lusapp (lower case, as it always was)."""
    if sys.platform.startswith("win"):
        from platformdirs.windows import Windows

        return Windows(appname="LUSApp", appauthor=False, roaming=False)
    if sys.platform == "darwin":
        from platformdirs.macos import MacOS

        return MacOS(appname="LUSApp")
    from platformdirs.unix import Unix

    return Unix(appname="lusapp")


def user_data_dir() -> Path:
    """Per-user writable folder (models published by finetune, settings-independent data).

    ``LUSAPP_DATA_DIR`` overrides; otherwise %LOCALAPPDATA%\\LUSApp on Windows, ~/Library/Application
    Support/LUSApp on macOS, $XDG_DATA_HOME/lusapp (or ~/.local/share/lusapp) elsewhere (platformdirs).
    """
    env = os.environ.get("LUSAPP_DATA_DIR")
    if env:
        return Path(env)
    return Path(_platform_dirs().user_data_dir)


def user_log_dir() -> Path:
    """Per-user folder of the app's log file: ``<LUSAPP_DATA_DIR>/logs`` when that is set (tests, portable
    use), else platformdirs' log folder (%LOCALAPPDATA%\\LUSApp\\Logs, ~/Library/Logs/LUSApp,
    $XDG_STATE_HOME/lusapp/log)."""
    env = os.environ.get("LUSAPP_DATA_DIR")
    if env:
        return Path(env) / "logs"
    return Path(_platform_dirs().user_log_dir)
