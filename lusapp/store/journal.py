"""Write-ahead journal of the store: every change that touches more than one file is one all-or-nothing step.

An operation first prepares everything it will write (media copy, PNGs, the new documents) as temporary
files inside ``<store>/.journal/<op>/``, then commits its intent by writing ``plan.json`` there atomically,
then applies the plan's steps, then removes the folder. Steps are idempotent, so a plan can be re-applied
from the start after a crash at any point:

``audit``    append the operation's audit entries (skipped when the operation id is already in the log);
             always the first step, so the audit entry is written before the change it records
``replace``  move a prepared file over its target (``os.replace``; atomic for readers); the previous
             target is first linked (or copied) into the journal folder so that the step can be undone
``move``     move a file or folder to a path that must not exist yet (setting old media/masks aside)

Recovery (:func:`recover`, run by ``Store.open`` for writing): a journal folder without ``plan.json``
was never committed and is removed (it only holds temporary copies); a folder with ``plan.json`` is
applied to the end (the operation completes); a folder with ``abort`` (a failed operation whose undo was
interrupted) is undone. Nothing half-written is ever left among the store's data.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lusapp.core.errors import StoreError, StoreFull, StoreReadOnly, display_path
from lusapp.store.durable import AUDIT_NAME, append_audit_entries, atomic_write_json, fsync_dir, read_json

JOURNAL_DIR = ".journal"


def store_os_error(path: str | Path, exc: OSError, what: str = "could not be written") -> StoreError:
    """The typed store error for an OS failure on ``path``."""
    code = getattr(exc, "errno", None)
    reason = f"{what} ({exc.strerror or exc})"
    if code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return StoreFull(path, f"{what}: disk full or file-size limit reached ({exc.strerror or exc}); "
                               "nothing half-written is kept")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreReadOnly(path, f"{what}: {exc.strerror or exc}; the store can be opened read-only")
    return StoreError(path, reason)


class Operation:
    """One journalled store change. Use ``prepare_path`` for temporary files, add steps, then ``commit()``."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.id = f"{name}-{uuid.uuid4().hex[:12]}"
        self.dir = root / JOURNAL_DIR / self.id
        self.steps: list[dict] = []
        self._n = 0
        try:
            self.dir.mkdir(parents=True)
        except OSError as exc:
            raise store_os_error(self.dir, exc, "cannot start a change") from exc

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def prepare_path(self, suffix: str = ".tmp") -> Path:
        self._n += 1
        return self.dir / f"f{self._n}{suffix}"

    def write_json(self, doc) -> Path:
        path = self.prepare_path(".json")
        try:
            atomic_write_json(path, doc)
        except StoreError as exc:
            raise _retype(exc) from exc
        return path

    def audit(self, entries: list[dict]) -> None:
        """The audit entries of this operation (each gets ``detail.op`` = the operation id)."""
        tagged = []
        for e in entries:
            detail = e.get("detail")
            detail = dict(detail, op=self.id) if isinstance(detail, dict) else \
                ({"op": self.id} if detail is None else {"value": detail, "op": self.id})
            tagged.append(dict(e, detail=detail))
        self.steps.append({"op": "audit", "entries": tagged})

    def replace(self, src: Path, dst: Path) -> None:
        self.steps.append({"op": "replace", "src": self.rel(src), "dst": self.rel(dst),
                           "backup": self.rel(self.prepare_path(".old"))})

    def replace_all(self, files: list[tuple[Path, Path]]) -> None:
        """A ``replace`` step for each (prepared file, destination) pair, in order."""
        for src, dst in files:
            self.replace(src, dst)

    def move(self, src: Path, dst: Path) -> None:
        self.steps.append({"op": "move", "src": self.rel(src), "dst": self.rel(dst)})

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self) -> None:
        """Write the plan (the point of no return after a crash), apply it, clean up. On an error while
        applying, the steps already done are undone and a typed ``StoreError`` is raised."""
        try:
            atomic_write_json(self.dir / "plan.json", {"id": self.id, "steps": self.steps})
        except BaseException as exc:
            self.discard()
            if isinstance(exc, StoreError):
                raise _retype(exc) from exc
            raise
        done = 0
        try:
            for step in self.steps:
                _apply(self.root, self.id, step)
                done += 1
        except OSError as exc:
            _abort(self.root, self.dir, self.id, self.steps[:done + 1], str(exc))
            raise store_os_error(self.root / self.steps[done].get("dst", AUDIT_NAME), exc,
                                 "could not be written; the previous version is kept") from exc
        except BaseException:
            _abort(self.root, self.dir, self.id, self.steps[:done + 1], "interrupted")
            raise
        self.discard()


@contextmanager
def operation(root: Path, name: str) -> Iterator[Operation]:
    """One journalled change as a ``with`` block: the steps added inside it are committed when the block ends;
    an exception inside it discards the prepared files (nothing in the store changed) and is raised again."""
    op = Operation(root, name)
    try:
        yield op
    except BaseException:
        op.discard()
        raise
    op.commit()


def _retype(exc: StoreError) -> StoreError:
    cause = exc.__cause__
    if isinstance(cause, OSError):
        return store_os_error(exc.path, cause, "could not be written; the previous version is kept")
    return exc


def _audit_done(root: Path, op_id: str) -> bool:
    """True when the log's tail holds a whole (newline-terminated) entry of this operation."""
    path = root / AUDIT_NAME
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - (1 << 16)))
            tail = f.read()
    except OSError:
        return False
    needle = f'"op":"{op_id}"'.encode()
    return any(needle in line for line in tail.split(b"\n")[:-1])


def _apply(root: Path, op_id: str, step: dict) -> None:
    kind = step["op"]
    if kind == "audit":
        if not _audit_done(root, op_id):
            append_audit_entries(root / AUDIT_NAME, step["entries"])
        return
    src, dst = root / step["src"], root / step["dst"]
    if kind == "replace":
        if not os.path.lexists(src):
            return  # already applied
        backup = root / step["backup"]
        if os.path.lexists(dst) and not os.path.lexists(backup):
            try:
                os.link(dst, backup)
            except OSError:
                shutil.copy2(dst, backup)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        fsync_dir(dst.parent)
    elif kind == "move":
        if not os.path.lexists(src) or os.path.lexists(dst):
            return  # already applied (or nothing to move)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        fsync_dir(dst.parent)
        fsync_dir(src.parent)
    else:  # pragma: no cover - written by this module only
        raise StoreError(root / JOURNAL_DIR / op_id, f"unknown journal step {kind!r}")


def _undo(root: Path, op_id: str, steps: list[dict], error: str) -> None:
    for step in reversed(steps):
        kind = step["op"]
        if kind == "audit":
            if _audit_done(root, op_id):
                append_audit_entries(root / AUDIT_NAME, [{
                    "actor": "system", "action": "failed", "patient": step["entries"][0].get("patient"),
                    "zone": step["entries"][0].get("zone"),
                    "detail": {"op": op_id, "actions": [e["action"] for e in step["entries"]], "error": error[:200]}}])
            continue
        src, dst = root / step["src"], root / step["dst"]
        if kind == "replace":
            if os.path.lexists(src):
                continue  # not applied
            backup = root / step["backup"]
            if os.path.lexists(backup):
                os.replace(backup, dst)
            elif os.path.lexists(dst):
                os.replace(dst, src)
        elif kind == "move":
            if not os.path.lexists(src) and os.path.lexists(dst):
                os.rename(dst, src)


def _abort(root: Path, folder: Path, op_id: str, steps: list[dict], error: str) -> None:
    try:
        (folder / "abort").write_text(error[:200], encoding="utf-8")
        _undo(root, op_id, steps, error)
    except OSError:
        return  # the journal stays; the next writable open finishes the undo
    shutil.rmtree(folder, ignore_errors=True)


def recover(root: Path) -> list[str]:
    """Finish or undo interrupted operations; returns one line per operation handled."""
    base = root / JOURNAL_DIR
    if not base.is_dir() or base.is_symlink():
        return []
    out = []
    for folder in sorted(base.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        plan_path = folder / "plan.json"
        if not plan_path.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            out.append(f"{folder.name}: not committed, temporary files removed")
            continue
        try:
            plan = read_json(plan_path)
            steps = plan["steps"]
            if (folder / "abort").exists():
                _undo(root, folder.name, steps, "interrupted")
                out.append(f"{folder.name}: failed operation undone")
            else:
                for step in steps:
                    _apply(root, folder.name, step)
                out.append(f"{folder.name}: completed")
        except (StoreError, KeyError, TypeError) as exc:
            raise StoreError(folder, f"interrupted operation cannot be recovered ({exc}); "
                                     f"contact support, the folder is kept") from exc
        except OSError as exc:
            raise store_os_error(folder, exc, "interrupted operation cannot be recovered") from exc
        shutil.rmtree(folder, ignore_errors=True)
    return out


__all__ = ["Operation", "recover", "store_os_error", "JOURNAL_DIR", "display_path"]
