"""Crash-safe file primitives: atomic replace-writes, strict JSON reads and the append-only audit log.

An atomic write goes to a temporary file in the same folder, is flushed and fsynced, then moved over
the target with ``os.replace`` and the folder is fsynced. A crash at any point leaves either the old or
the new file whole, never a mix; a failed write removes its temporary file and leaves the old file intact.

Audit trail: ``<store>/audit.log``, one JSON object per line, fsynced per entry. Entry keys: ``time``
(ISO-8601 UTC), ``actor``, ``action``, ``patient``, ``zone``, ``detail``. The file is only ever opened in
append mode; a damaged line (e.g. a torn final write after a power cut) is reported by :func:`read_audit`
as an entry with ``action == "damaged-line"`` instead of failing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from lusapp.core.errors import DamagedDocument, StoreError
from lusapp.core.patient import utc_now


def fsync_dir(folder: str | Path) -> None:
    """Make a rename/creation inside ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; stored files are readable like ordinary ones
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise StoreError(path, f"could not write ({exc.strerror or exc}); the previous version is kept") from exc
        raise
    fsync_dir(path.parent)


def _json_bytes(doc: Any, **kw) -> bytes:
    text = json.dumps(doc, ensure_ascii=False, **kw)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (bytes of a non-UTF-8 file name): keep them as \\u escapes
        return json.dumps(doc, ensure_ascii=True, **kw).encode("ascii")


def atomic_write_json(path: str | Path, doc: Any) -> None:
    atomic_write_bytes(path, _json_bytes(doc, indent=1, allow_nan=False) + b"\n")


#: Largest JSON document read (patient.json of a 14-zone exam is a few KB).
MAX_DOCUMENT_BYTES = 16 * 2**20


def read_json(path: str | Path, expect: type = dict) -> Any:
    """Parse a JSON document; anything unreadable, truncated or of the wrong top-level type raises
    ``DamagedDocument`` naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedDocument(path, f"cannot be read ({exc.strerror or exc})") from exc
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DamagedDocument(path, f"is larger than {MAX_DOCUMENT_BYTES} bytes; not a LUSApp document")
    if not raw.strip():
        raise DamagedDocument(path, "is empty (truncated write?)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedDocument(path, f"is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DamagedDocument(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError:
        raise DamagedDocument(path, "is not a LUSApp document (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise DamagedDocument(path, f"is not a LUSApp document ({str(exc)[:120]})") from None
    if not isinstance(doc, expect):
        raise DamagedDocument(path, f"should hold a JSON {expect.__name__}, found {type(doc).__name__}")
    return doc


AUDIT_NAME = "audit.log"


def append_audit(path: str | Path, actor: str, action: str, patient: str | None = None,
                 zone: str | None = None, detail: Any = None) -> dict:
    entry = {"actor": actor, "action": action, "patient": patient, "zone": zone, "detail": detail}
    return append_audit_entries(path, [entry])[0]


def append_audit_entries(path: str | Path, entries: list[dict]) -> list[dict]:
    """Append entries (time stamped now) in one write, fsynced; a failure (disk full, file-size limit)
    raises ``OSError`` and leaves at most a torn last line, which :func:`read_audit` reports."""
    now = utc_now()
    out = [{"time": now, "actor": e.get("actor") or "unknown", "action": e["action"], "patient": e.get("patient"),
            "zone": e.get("zone"), "detail": e.get("detail")} for e in entries]
    data = b"".join(_json_bytes(e, separators=(",", ":"), default=str) + b"\n" for e in out)
    with open(path, "a+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":  # a torn last line (crash or full disk): start on a fresh line
                data = b"\n" + data
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return out


def read_audit(path: str | Path, patient: str | None = None) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    with open(path, "rb") as f:
        for no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
                if not isinstance(entry, dict):
                    raise ValueError
            except ValueError:
                entry = {"time": None, "actor": None, "action": "damaged-line", "patient": None, "zone": None,
                         "detail": f"{path}: line {no} is not a JSON object"}
            if patient is None or entry.get("patient") == patient:
                out.append(entry)
    return out
