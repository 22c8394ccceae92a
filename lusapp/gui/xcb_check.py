"""Say in one line what to install when Qt's X11 (xcb) platform plugin cannot load.

Qt 6.5+ needs ``libxcb-cursor0`` and a few other xcb libraries that a bare Debian/Ubuntu lacks; without
them Qt prints a paragraph and aborts the process (SIGABRT), which a clinician cannot act on.
:func:`missing_xcb_packages` tries to load each library the plugin links against (ctypes, no Qt) and
returns the Debian/Ubuntu packages that provide the missing ones; :func:`check_xcb` prints the one line
and tells the caller to exit instead of letting Qt abort. Only on Linux, only when Qt would pick xcb.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable

# soname -> Debian/Ubuntu package (the libraries Qt 6's xcb plugin needs beyond libxcb itself)
XCB_LIBS: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
}

INSTALL_ALL = "sudo apt-get install " + " ".join(sorted(set(XCB_LIBS.values())))


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def qt_would_use_xcb(env: dict | None = None, platform: str | None = None) -> bool:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").strip()
    if qpa:
        return qpa.split(":")[0].split(";")[0] == "xcb"
    if env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return False
    return bool(env.get("DISPLAY"))


def missing_xcb_packages(loadable: Callable[[str], bool] = _loadable) -> list[str]:
    """Packages providing the xcb libraries that cannot be loaded (empty when all are there)."""
    return sorted({pkg for so, pkg in XCB_LIBS.items() if not loadable(so)})


def message(packages: list[str]) -> str:
    return (f"lusapp: the Qt X11 plugin needs libraries this system lacks; install them with "
            f"'sudo apt-get install {' '.join(packages)}' (Debian/Ubuntu) and start again")


def check_xcb(env: dict | None = None, platform: str | None = None,
              loadable: Callable[[str], bool] = _loadable, out=None) -> bool:
    """True when the app can go on; otherwise prints the one line to install and returns False."""
    if not qt_would_use_xcb(env, platform):
        return True
    missing = missing_xcb_packages(loadable)
    if not missing:
        return True
    print(message(missing), file=out if out is not None else sys.stderr)
    return False
