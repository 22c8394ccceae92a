"""Read a plain patient folder (no store) into a Patient plus its media files.

Layout (all optional except at least something useful)::

    <folder>/R1.mp4, L3.png, R2.dcm, L4 ...  media named by zone id (case-insensitive, any extension that
                                            lusapp.io reads; no extension = DICOM)
    <folder>/clinical.json                  {"age": 61, "sex": "F", "symptoms": {...}, "history": {...},
                                             "patient_id": "P-7", "exam_date": "2026-01-15", "severity": 3,
                                             "protocol_id": "lus12"}   (ClinicalInfo keys may also sit
                                             under "clinical")
    <folder>/scores.csv                     zone,score rows (header optional); a row "severity,<1-4>" too

Scores read here become clinician scores with rater ``import``. Files that match no zone are reported in
``warnings``, never fatal; malformed clinical.json / scores.csv raise ``ValidationError`` naming the file.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from pathlib import Path

from lusapp.core.errors import ValidationError, display_path, shorten
from lusapp.core.patient import PATIENT_ID_RE, ClinicalInfo, Patient, ScoreEntry, utc_now
from lusapp.core.protocols import load_protocol
from lusapp.io.sniff import DICOM_EXTS, STILL_EXTS, VIDEO_EXTS

# Preference order when one zone has several files: video > DICOM (also extension-less) > still.
MEDIA_EXTENSIONS = tuple(sorted(VIDEO_EXTS)) + tuple(sorted(DICOM_EXTS)) + tuple(sorted(STILL_EXTS))
KNOWN_FILES = ("clinical.json", "scores.csv")
_CLINICAL_KEYS = ("age", "sex", "symptoms", "history")
_EXTRA_KEYS = ("patient_id", "exam_date", "severity", "protocol_id", "clinical", "notes")


class PatientFolder(tuple):
    """``(patient, {zone_id: media path})`` that also carries ``.warnings`` (list of str)."""

    def __new__(cls, patient: Patient, media: dict[str, Path], warnings: list[str]):
        obj = super().__new__(cls, (patient, media))
        obj.warnings = warnings
        return obj

    @property
    def patient(self) -> Patient:
        return self[0]

    @property
    def media(self) -> dict[str, Path]:
        return self[1]


def folder_patient_id(name: str) -> str:
    pid = re.sub(r"[^A-Za-z0-9._\-]", "_", name).strip(".")[:64]
    return pid or "patient"


#: Largest clinical.json / scores.csv read (real ones are well under 10 KB).
MAX_SIDE_FILE_BYTES = 1 << 20


def _read_text(path: Path, encoding: str) -> str:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(str(path), "is not a regular file")
        if st.st_size > MAX_SIDE_FILE_BYTES:
            raise ValidationError(str(path), f"is {st.st_size} bytes, above the {MAX_SIDE_FILE_BYTES} byte limit")
        with open(path, "rb") as f:
            return f.read(MAX_SIDE_FILE_BYTES + 1).decode(encoding)
    except OSError as exc:
        raise ValidationError(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(str(path), f"is not UTF-8 text (byte {exc.start})") from exc


def _read_clinical(path: Path) -> dict:
    text = _read_text(path, "utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(str(path), f"is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError:
        raise ValidationError(str(path), "is not valid clinical information (JSON nested too deeply)") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ValidationError(str(path), f"is not valid clinical information ({str(exc)[:100]})") from None
    if not isinstance(doc, dict):
        raise ValidationError(str(path), "should hold a JSON object")
    unknown = sorted(set(doc) - set(_CLINICAL_KEYS) - set(_EXTRA_KEYS))
    if unknown:
        raise ValidationError(str(path), f"unknown keys {', '.join(unknown)} (known: "
                                         f"{', '.join(_CLINICAL_KEYS + _EXTRA_KEYS)})")
    return doc


def _read_scores(path: Path) -> tuple[dict[str, int], int | None]:
    scores: dict[str, int] = {}
    severity = None
    text = _read_text(path, "utf-8-sig")
    rows = csv.reader(text.splitlines())
    no = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValidationError(str(path), f"line {rows.line_num}: not a CSV row ({str(exc)[:80]})") from None
        no = rows.line_num
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if no == 1 and cells[0].lower() == "zone":
            continue
        if len(cells) < 2 or not re.fullmatch(r"-?\d{1,6}", cells[1]):
            raise ValidationError(str(path), f"line {no}: expected 'zone,score' with an integer score, "
                                             f"got {shorten(repr(row), 80)}")
        key, value = cells[0], int(cells[1])
        if key.lower() == "severity":
            severity = value
        elif key.upper() in scores:
            raise ValidationError(str(path), f"line {no}: zone {key} is scored twice")
        else:
            scores[key.upper()] = value
    return scores, severity


def open_patient_folder(folder: str | Path) -> PatientFolder:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(str(folder), "is not a folder")
    warnings: list[str] = []
    doc = _read_clinical(folder / "clinical.json") if (folder / "clinical.json").is_file() else {}
    where = str(folder / "clinical.json")
    protocol_id = doc.get("protocol_id", "lus12")
    if not isinstance(protocol_id, str):
        raise ValidationError(where, f"protocol_id {shorten(repr(protocol_id), 60)} should be a protocol id (text)")
    try:
        protocol = load_protocol(protocol_id)
    except ValidationError as exc:
        raise ValidationError(where, str(exc)) from exc
    pid = doc.get("patient_id", folder_patient_id(folder.name))
    if not isinstance(pid, str) or not PATIENT_ID_RE.match(pid):
        raise ValidationError(where, f"patient_id {shorten(repr(pid), 80)} must be 1-64 letters, digits, '-', "
                                     "'_' or '.'")
    for key, types in (("exam_date", (str,)), ("notes", (str,))):
        if key in doc and doc[key] is not None and not isinstance(doc[key], types):
            raise ValidationError(where, f"{key} {shorten(repr(doc[key]), 60)} should be text")
    if "clinical" in doc and not isinstance(doc["clinical"], dict):
        raise ValidationError(where, "clinical should be an object of age, sex, symptoms, history")
    clinical_doc = doc.get("clinical", {k: doc[k] for k in _CLINICAL_KEYS if k in doc})
    try:
        clinical = ClinicalInfo.from_dict(clinical_doc)
        patient = Patient.new(pid, protocol, exam_date=doc.get("exam_date"), clinical=clinical)
    except ValidationError as exc:
        raise ValidationError(where, str(exc)) from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(where, f"invalid clinical information ({type(exc).__name__})") from None
    if isinstance(doc.get("notes"), str):
        patient.notes = doc["notes"]

    candidates: dict[str, list[Path]] = {}
    for f in sorted(folder.iterdir()):
        if f.name.startswith(".") or f.name.lower() in KNOWN_FILES:
            continue
        if f.is_file() and f.stem.lower() == "readme":  # the folder's documentation (the demo has one): not a clip
            continue
        if f.is_dir():
            warnings.append(f"{display_path(f.name)}/: sub-folders are ignored")
            continue
        if not f.is_file():
            warnings.append(f"{display_path(f.name)}: not a regular file (pipe, device, socket or broken link); "
                            "ignored")
            continue
        zone = protocol.find_zone(f.stem)
        if f.suffix.lower() not in MEDIA_EXTENSIONS:
            warnings.append(f"{display_path(f.name)}: not a supported media type ({', '.join(e for e in MEDIA_EXTENSIONS if e)});"
                            " ignored")
        elif zone is None:
            warnings.append(f"{display_path(f.name)}: name matches no zone of {protocol.id} "
                            f"({', '.join(protocol.zone_ids)}); ignored")
        else:
            candidates.setdefault(zone.id, []).append(f)
    media: dict[str, Path] = {}
    for zid, files in candidates.items():
        files.sort(key=lambda p: MEDIA_EXTENSIONS.index(p.suffix.lower()))
        media[zid] = files[0]
        if len(files) > 1:
            warnings.append(f"zone {zid}: several files ({', '.join(display_path(p.name) for p in files)}); "
                            f"using {display_path(files[0].name)}")
    media = {z: media[z] for z in protocol.zone_ids if z in media}

    severity = doc.get("severity")
    scores_path = folder / "scores.csv"
    if scores_path.is_file():
        scores, csv_severity = _read_scores(scores_path)
        now = utc_now()
        for key, value in scores.items():
            zone = protocol.find_zone(key)
            if zone is None:
                warnings.append(f"scores.csv: zone {key} is not in {protocol.id}; ignored")
                continue
            try:
                patient.scale.check(value, f"zone {zone.id}")
            except ValidationError as exc:
                raise ValidationError(str(scores_path), str(exc)) from exc
            patient.zones[zone.id].clinician_score = ScoreEntry(value, "import", now)
        if csv_severity is not None:
            if severity is not None and severity != csv_severity:
                warnings.append(f"severity {csv_severity} in scores.csv differs from {severity} in clinical.json; "
                                "using clinical.json")
            else:
                severity = csv_severity
    if severity is not None:
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 4:
            raise ValidationError(where, f"severity {severity!r} should be 1-4 (mild..critical)")
        patient.severity.clinician_label = severity
        patient.severity.rater = "import"
        patient.severity.time = utc_now()
    patient.validate(protocol)
    return PatientFolder(patient, media, warnings)
