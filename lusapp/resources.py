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


def user_data_dir() -> Path:
    """Per-user writable folder (models published by finetune, settings-independent data).

    ``LUSAPP_DATA_DIR`` overrides; otherwise %LOCALAPPDATA%\\LUSApp on Windows, ~/Library/Application
    Support/LUSApp on macOS, $XDG_DATA_HOME/lusapp (or ~/.local/share/lusapp) elsewhere.
    """
    env = os.environ.get("LUSAPP_DATA_DIR")
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "LUSApp"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "LUSApp"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lusapp"
