"""De-identification for exports: keyed patient hashes, per-patient date shifts, DICOM header cleaning and
blacking out burned-in text outside the imaging region. Format and rules: docs/export-format.md.

* Patient ids become ``HMAC-SHA256(site key, "patient:" + id)`` (first 16 hex digits, prefixed ``p-``): the same
  patient gets the same pseudonym in every export of the site, and nobody without the key can recompute it
  from a list of ids. Rater names are hashed the same way (``r-...``).
* The site key is 32 random bytes in ``<user data folder>/export-site-key`` (hex, created on first use, mode
  0600); every workstation of a site that should produce matching pseudonyms shares that file (``--key-file``).
* Dates shift per patient by a whole number of days in [-730, -62], taken from the same HMAC, so intervals
  within a patient are kept and the shift never changes between exports.
* DICOM headers are cleaned with the DICOM PS3.15 Basic Application Level Confidentiality Profile as tabulated
  by the ``dicom-anonymizer`` package (Table E.1-1: names, ids, UIDs, addresses, institution, comments...),
  dates shifted by the patient's shift above instead of emptied, private tags removed, and PatientID /
  PatientName set to the pseudonym (:func:`clean_dicom_header`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

import numpy as np

from lusapp.core.errors import ValidationError

KEY_FILE_NAME = "export-site-key"
MIN_SHIFT_DAYS, MAX_SHIFT_DAYS = 62, 730


def default_key_path() -> Path:
    from lusapp.resources import user_data_dir

    return user_data_dir() / KEY_FILE_NAME


def load_site_key(path: str | Path | None = None, create: bool = True) -> bytes:
    """The site key (32 bytes) from ``path`` (default: the user data folder); created there on first use."""
    path = Path(path) if path is not None else default_key_path()
    if not path.exists() and create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(str(path), f"the export site key cannot be created ({exc.strerror or exc})") from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:  # another process created it meanwhile: read theirs
            pass
        except OSError as exc:
            raise ValidationError(str(path), f"the export site key cannot be created ({exc.strerror or exc})") from None
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(str(path), f"the export site key cannot be read ({exc})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValidationError(str(path), "is not an export site key (at least 32 hex digits expected)")
    return key


class Pseudonymizer:
    """Keyed pseudonyms and date shifts of one site key."""

    def __init__(self, key: bytes):
        self._key = bytes(key)
        #: Identifies the key (not derivable back to it): exports made with the same key share it.
        self.key_id = hashlib.sha256(b"lusapp-export-key-id:" + self._key).hexdigest()[:12]

    def _mac(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()

    def patient(self, pid: str) -> str:
        return "p-" + self._mac("patient:" + pid).hex()[:16]

    def rater(self, name: str) -> str:
        if name in ("model", "import", "unknown", ""):
            return name  # not a person
        return "r-" + self._mac("rater:" + name).hex()[:12]

    def shift_days(self, pid: str) -> int:
        """Days added to every date of the patient: -730 .. -62 (always into the past)."""
        n = int.from_bytes(self._mac("date-shift:" + pid)[:8], "big")
        return -(MIN_SHIFT_DAYS + n % (MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1))


def shift_date(value: str | None, days: int) -> str | None:
    """``YYYY-MM-DD`` shifted by ``days``; None stays None."""
    if not value:
        return value
    return (_dt.date.fromisoformat(value) + _dt.timedelta(days=days)).isoformat()


def shift_time(value: str | None, days: int) -> str | None:
    """ISO-8601 UTC time shifted by ``days`` (kept in the store's ``...Z`` form)."""
    if not value:
        return value
    t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00")) + _dt.timedelta(days=days)
    return t.isoformat().replace("+00:00", "Z")


def black_outside(frame: np.ndarray, box) -> np.ndarray:
    """A copy of ``frame`` with every pixel outside ``box`` (x0, y0, x1, y1) set to 0."""
    x0, y0, x1, y1 = (int(v) for v in box)
    out = np.zeros_like(frame)
    out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return out


DICOM_PROFILE = "dicomfields_2026c"  # dicom-anonymizer's copy of DICOM PS3.15 Table E.1-1 (2026c)
_KEPT_DATES = {(0x0010, 0x0030)}  # Patient's Birth Date follows the profile (removed): age is in the clinical data


def _shift_dicom_date(days: int):
    def act(dataset, tag) -> None:
        el = dataset.get(tag)
        if el is None or not el.value or not isinstance(el.value, str):
            return
        raw = el.value.strip()
        try:
            day = _dt.datetime.strptime(raw[:8], "%Y%m%d").date() + _dt.timedelta(days=days)
        except ValueError:
            el.value = ""  # not a date we can shift: emptied, as the profile would
            return
        el.value = day.strftime("%Y%m%d") + (raw[8:] if el.VR == "DT" else "")
    return act


def clean_dicom_header(ds, pseudonym: str, shift_days: int) -> None:
    """De-identify a pydicom dataset in place: the Basic Application Level Confidentiality Profile (DICOM
    PS3.15 Table E.1-1, applied by ``dicom-anonymizer``; private tags removed) with its dates shifted by the
    patient's ``shift_days`` instead of emptied (the standard's Retain Longitudinal Temporal Information with
    Modified Dates option), then PatientID / PatientName set to the pseudonym. As a safety net every other
    person name (VR PN) left anywhere, nested sequences included, is emptied."""
    # dicom-anonymizer imports its table by name (importlib); the static import lets PyInstaller bundle it.
    import dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c  # noqa: F401
    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset, initialize_actions
    from pydicom.datadict import dictionary_VR

    rules = initialize_actions(DICOM_PROFILE)
    shift = _shift_dicom_date(shift_days)
    extra = {}
    for tag in rules:
        if len(tag) != 2 or tag in _KEPT_DATES:
            continue
        try:
            vr = dictionary_VR((tag[0] << 16) | tag[1])
        except KeyError:
            continue
        if vr in ("DA", "DT"):
            extra[tag] = shift
    anonymize_dataset(ds, extra_anonymization_rules=extra, delete_private_tags=True,
                      base_rules_gen=lambda: rules)

    def no_names(dataset, elem) -> None:
        if elem.VR == "PN" and elem.value:
            elem.value = ""

    ds.walk(no_names)
    ds.PatientID = pseudonym
    ds.PatientName = pseudonym + "^"
    ds.BurnedInAnnotation = "NO"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "LUSApp: PS3.15 E.1-1 (2026c), dates shifted"  # LO: 64 characters at most
