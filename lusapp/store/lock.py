"""Single-writer lock of a store folder.

``<store>/.lock`` holds ``{"pid", "host", "time"}`` of the process that opened the store for writing, from
its second byte on (byte 0 is a newline). The OS lock is filelock's ``lock_descriptor`` on that file's
descriptor (``flock`` on POSIX; on Windows ``LockFileEx`` of byte 0, which is why the holder is written after
it: other processes can still read who holds the store). It is held for the whole session, so a crashed
process releases it automatically. On POSIX the store folder is locked too (see ``_lock_folder``). Where
no OS lock is available, a lock file whose pid is dead on this host is stale and taken over; a live pid, or
another host, means ``StoreLocked``.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

from filelock import lock_descriptor, unlock_descriptor

from lusapp.core.errors import StoreLocked

LOCK_NAME = ".lock"
_INFO_OFFSET = 1  # the holder's JSON starts after byte 0 (the byte Windows' lock covers)


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
    """The holder recorded in a lock file ({} when there is none or it cannot be read); reads past byte 0."""
    try:
        with open(path, "rb") as f:
            f.seek(_INFO_OFFSET)
            info = json.loads(f.read().decode("utf-8") or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _os_lock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: this platform or file system has no OS lock."""
    try:
        return lock_descriptor(fd, blocking=False)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOLCK):
            return None
        raise


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    return f"process {info.get('pid')} on host {info.get('host')} (since {info.get('time')})"


class StoreLock:
    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None
        self._dir_fd: int | None = None
        self._os_locked: bool | None = None

    def acquire(self) -> None:
        host = socket.gethostname()
        if os.path.islink(self.path) or (os.path.lexists(self.path) and not os.path.isfile(self.path)):
            raise StoreLocked(self.path, "is not a plain lock file (a folder or a link); remove it if no LUSApp "
                                         "uses the store, or open read-only")
        self._dir_fd = self._lock_folder()
        try:
            fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            self._unlock_folder()
            from lusapp.store.journal import store_os_error

            raise store_os_error(self.path, exc, "cannot take the writer's lock") from exc
        try:
            self._os_locked = _os_lock(fd)
            if self._os_locked is False:
                raise StoreLocked(self.path.parent, f"is open for writing by {_describe(read_lock_info(self.path))}"
                                  "; close it there first, or open read-only")
            if self._os_locked is None:  # pragma: no cover - no OS lock: fall back to the pid check
                info = read_lock_info(self.path)
                pid = info.get("pid")
                if isinstance(pid, int) and pid != os.getpid() and (info.get("host") != host or pid_alive(pid)):
                    raise StoreLocked(self.path.parent, f"is open for writing by {_describe(info)}")
            # We hold the OS lock, so any pid in the file is stale (dead or crashed): take it over.
            data = b"\n" + json.dumps({"pid": os.getpid(), "host": host,
                                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            os.fsync(fd)
        except BaseException as exc:
            os.close(fd)
            self._unlock_folder()
            if isinstance(exc, OSError):
                from lusapp.store.journal import store_os_error

                raise store_os_error(self.path, exc, "cannot take the writer's lock") from exc
            raise
        self._fd = fd

    def _lock_folder(self) -> int | None:
        """Also lock the store folder itself (POSIX): deleting or replacing ``.lock`` while a writer runs
        cannot let a second writer in, as the folder's lock lives as long as the writer."""
        if os.name == "nt":  # pragma: no cover - a folder cannot be opened as a file there
            return None
        try:
            dfd = os.open(str(self.path.parent), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return None
        try:
            locked = _os_lock(dfd)
        except OSError:
            locked = None
        if locked is None:
            os.close(dfd)
            return None
        if not locked:
            os.close(dfd)
            raise StoreLocked(self.path.parent, f"is open for writing by {_describe(read_lock_info(self.path))}"
                              "; close it there first, or open read-only")
        return dfd

    def _unlock_folder(self) -> None:
        dfd, self._dir_fd = getattr(self, "_dir_fd", None), None
        if dfd is not None:
            try:
                unlock_descriptor(dfd)
            finally:
                os.close(dfd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            if self._os_locked:
                unlock_descriptor(fd)
        finally:
            os.close(fd)
            self._unlock_folder()

    @property
    def held(self) -> bool:
        return self._fd is not None
