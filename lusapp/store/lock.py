"""Single-writer lock of a store folder.

``<store>/.lock`` holds ``{"pid", "host", "time"}`` of the process that opened the store for writing.
Where available an OS advisory lock (``fcntl.flock`` / ``msvcrt.locking``) is held on the file for the
whole session, so a crashed process releases it automatically. Without an OS lock, a lock file whose
pid is dead on this host is stale and taken over; a live pid, or another host, means ``StoreLocked``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from lusapp.core.errors import StoreLocked

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None

LOCK_NAME = ".lock"
_WIN_LOCK_OFFSET = 1 << 20


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)
            return True
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    return f"process {info.get('pid')} on host {info.get('host')} (since {info.get('time')})"


class StoreLock:
    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        host = socket.gethostname()
        fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise StoreLocked(self.path.parent, f"is open for writing by {_describe(read_lock_info(self.path))}"
                                      "; close it there first, or open read-only") from None
            elif msvcrt is not None:  # pragma: no cover
                try:  # lock a byte far past the content so other processes can still read who holds it
                    os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                except OSError:
                    raise StoreLocked(self.path.parent, f"is open for writing by {_describe(read_lock_info(self.path))}"
                                      "; close it there first, or open read-only") from None
            else:  # pragma: no cover - no OS lock: fall back to the pid check
                info = read_lock_info(self.path)
                pid = info.get("pid")
                if isinstance(pid, int) and pid != os.getpid() and (info.get("host") != host or pid_alive(pid)):
                    raise StoreLocked(self.path.parent, f"is open for writing by {_describe(info)}")
            # We hold the OS lock, so any pid in the file is stale (dead or crashed): take it over.
            data = json.dumps({"pid": os.getpid(), "host": host,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
