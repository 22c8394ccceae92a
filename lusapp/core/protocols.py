"""Chest scanning protocols: which zones are examined and where they sit on a chest diagram.

A protocol file is JSON (``resources/protocols/<id>.json`` for the built-in ones, user files in the
same format)::

    {"format": "lusapp-protocol", "format_version": 1, "id": "lus12", "name": "...",
     "description": "...", "default_scale": "0-4",
     "zones": [{"id": "R1", "name": "Right anterior upper", "side": "R", "region": "anterior",
                "level": "upper", "view": "front", "x": 0.36, "y": 0.33}, ...]}

``view`` names the diagram a zone is drawn on: ``front`` (patient facing the viewer, so the patient's
right side is on the viewer's left, x < 0.5), ``back`` (seen from behind, patient's right on the
viewer's right) or ``side``. ``x``/``y`` are normalised positions in [0, 1] on that diagram
(y grows downwards, 0 = shoulders). Built-in protocols draw lateral zones at the edges of the front view.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lusapp.core.errors import ValidationError, shorten
from lusapp.resources import resource, user_data_dir

SIDES = ("R", "L")
REGIONS = ("anterior", "lateral", "posterior", "posterolateral", "apical", "basal", "parasternal")
LEVELS = ("upper", "middle", "lower", "whole")
VIEWS = ("front", "back", "side")
BUILTIN_IDS = ("lus12", "soldati14", "six_point")
DEFAULT_PROTOCOL = "lus12"
PROTOCOL_FORMAT = "lusapp-protocol"
PROTOCOL_FORMAT_VERSION = 1

_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_ZONE_KEYS = ("id", "name", "side", "region", "level", "view", "x", "y")


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    side: str
    region: str
    level: str
    view: str
    x: float
    y: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _ZONE_KEYS}


@dataclass(frozen=True)
class Protocol:
    id: str
    name: str
    zones: tuple[Zone, ...]
    description: str = ""
    default_scale: str = "0-4"
    source: str = ""  # file the protocol was loaded from ("" when built in code)

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(z.id for z in self.zones)

    def zone(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(f"zone {zone_id!r} is not in protocol {self.id!r} (zones: {', '.join(self.zone_ids)})")

    def find_zone(self, name: str) -> Zone | None:
        """Case-insensitive zone lookup (``r1`` -> ``R1``), None when absent."""
        low = name.strip().lower()
        for z in self.zones:
            if z.id.lower() == low:
                return z
        return None

    def zones_in_view(self, view: str) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if z.view == view)

    def __len__(self) -> int:
        return len(self.zones)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROTOCOL_FORMAT,
            "format_version": PROTOCOL_FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "default_scale": self.default_scale,
            "zones": [z.to_dict() for z in self.zones],
        }


def _fail(where: str, field: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {field}" if where else field, message)


def _str_field(d: dict, key: str, where: str, field: str, allowed: tuple[str, ...] | None = None) -> str:
    if key not in d:
        raise _fail(where, f"{field}.{key}" if field else key, "missing")
    v = d[key]
    name = f"{field}.{key}" if field else key
    if not isinstance(v, str) or not v.strip():
        raise _fail(where, name, f"must be a non-empty string, got {v!r}")
    if allowed is not None and v not in allowed:
        raise _fail(where, name, f"{v!r} is not one of {', '.join(allowed)}")
    return v


def protocol_from_dict(doc: Any, where: str = "") -> Protocol:
    """Build and strictly validate a protocol; ``where`` (a file name) prefixes every error."""
    if not isinstance(doc, dict):
        raise _fail(where, "protocol", f"must be a JSON object, got {type(doc).__name__}")
    fmt = doc.get("format", PROTOCOL_FORMAT)
    if fmt != PROTOCOL_FORMAT:
        raise _fail(where, "format", f"{fmt!r} is not {PROTOCOL_FORMAT!r}")
    fv = doc.get("format_version", PROTOCOL_FORMAT_VERSION)
    if not isinstance(fv, int) or isinstance(fv, bool) or fv > PROTOCOL_FORMAT_VERSION or fv < 1:
        raise _fail(where, "format_version", f"{fv!r} is not supported (this build reads 1..{PROTOCOL_FORMAT_VERSION})")
    pid = _str_field(doc, "id", where, "")
    if not _ID_RE.match(pid):
        raise _fail(where, "id", f"{pid!r} must be 1-32 letters, digits, '-' or '_'")
    name = _str_field(doc, "name", where, "")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise _fail(where, "description", "must be a string")
    default_scale = doc.get("default_scale", "0-4")
    if not isinstance(default_scale, str):
        raise _fail(where, "default_scale", "must be a string")
    zones_raw = doc.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise _fail(where, "zones", "must be a non-empty list of zone objects")
    zones: list[Zone] = []
    seen: set[str] = set()
    for i, zd in enumerate(zones_raw):
        f = f"zones[{i}]"
        if not isinstance(zd, dict):
            raise _fail(where, f, f"must be an object, got {type(zd).__name__}")
        unknown = sorted(set(zd) - set(_ZONE_KEYS))
        if unknown:
            raise _fail(where, f, f"unknown keys {', '.join(unknown)}")
        zid = _str_field(zd, "id", where, f)
        if not _ID_RE.match(zid):
            raise _fail(where, f"{f}.id", f"{zid!r} must be 1-32 letters, digits, '-' or '_'")
        if zid.lower() in seen:
            raise _fail(where, f"{f}.id", f"duplicate zone id {zid!r}")
        seen.add(zid.lower())
        coords = []
        for key in ("x", "y"):
            if key not in zd:
                raise _fail(where, f"{f}.{key}", "missing")
            v = zd[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= float(v) <= 1.0):
                raise _fail(where, f"{f}.{key}", f"{v!r} must be a number in [0, 1]")
            coords.append(float(v))
        zones.append(Zone(
            id=zid,
            name=_str_field(zd, "name", where, f),
            side=_str_field(zd, "side", where, f, SIDES),
            region=_str_field(zd, "region", where, f, REGIONS),
            level=_str_field(zd, "level", where, f, LEVELS),
            view=_str_field(zd, "view", where, f, VIEWS),
            x=coords[0],
            y=coords[1],
        ))
    return Protocol(id=pid, name=name, zones=tuple(zones), description=description,
                    default_scale=default_scale, source=where)


def user_protocols_dir() -> Path:
    return user_data_dir() / "protocols"


def _load_file(path: Path) -> Protocol:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(where, f"cannot read protocol file ({exc.strerror or exc})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(where, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError:
        raise ValidationError(where, "not a protocol (JSON nested too deeply)") from None
    except ValueError as exc:
        raise ValidationError(where, f"not a protocol ({str(exc)[:120]})") from None
    return protocol_from_dict(doc, where)


_CACHE: dict[str, Protocol] = {}


def load_protocol(id_or_path: str | Path | Protocol) -> Protocol:
    """A built-in protocol by id (``"lus12"``), a user protocol by id (``<user data>/protocols/<id>.json``,
    or any file there whose ``id`` matches)
    or any protocol file by path. Raises ``ValidationError`` naming the file and the problem."""
    if isinstance(id_or_path, Protocol):
        return id_or_path
    if isinstance(id_or_path, Path):  # an explicit file (a Path object, never a string from a document)
        return load_protocol_file(id_or_path)
    if not isinstance(id_or_path, str):
        raise ValidationError("protocol", f"protocol id should be text, got {type(id_or_path).__name__} "
                                          f"{shorten(repr(id_or_path), 40)}")
    key = id_or_path
    if key in BUILTIN_IDS:
        if key not in _CACHE:
            _CACHE[key] = _load_file(resource("protocols", f"{key}.json"))
        return _CACHE[key]
    # A string is an id, looked up among the bundled and the user's protocol files only: an id taken from a
    # patient document or clinical.json is never opened as a path (``/dev/zero``, ``../../etc/passwd``).
    if _ID_RE.match(key):
        user_file = user_protocols_dir() / f"{key}.json"
        if user_file.is_file():
            return load_protocol_file(user_file)
        by_id = user_protocols()[0].get(key)
        if by_id is not None:
            return by_id
    raise ValidationError("protocol", f"unknown protocol {shorten(repr(key), 60)}: not built in "
                                      f"({', '.join(BUILTIN_IDS)}) and not a user protocol in {user_protocols_dir()}")


#: Largest protocol file read (the built-in ones are ~2 KB).
MAX_PROTOCOL_BYTES = 1 << 20


def load_protocol_file(path: str | Path) -> Protocol:
    """A protocol from an explicit file chosen by the user (regular files up to 1 MB)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ValidationError(str(path), f"cannot read protocol file ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ValidationError(str(path), "is not a regular file")
    if st.st_size > MAX_PROTOCOL_BYTES:
        raise ValidationError(str(path), f"protocol file is {st.st_size} bytes, above {MAX_PROTOCOL_BYTES}")
    return _load_file(path)


def builtin_protocols() -> dict[str, Protocol]:
    """The built-in protocols, default (``lus12``) first."""
    return {pid: load_protocol(pid) for pid in BUILTIN_IDS}


def user_protocols() -> tuple[dict[str, Protocol], list[str]]:
    """Valid protocol files in ``<user data>/protocols/*.json`` (by id) and one message per invalid file
    (file and problem); a user file never shadows a built-in id."""
    found: dict[str, Protocol] = {}
    problems: list[str] = []
    folder = user_protocols_dir()
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            p = load_protocol_file(f)
        except ValidationError as exc:
            problems.append(str(exc))
            continue
        if p.id in BUILTIN_IDS or p.id in found:
            problems.append(f"{f}: id {p.id!r} is already used by another protocol; ignored")
        else:
            found[p.id] = p
    return found, problems
