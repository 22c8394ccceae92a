"""What the patient report shows, gathered from the store (read-only) or a plain patient folder.

Per zone: the score shown (the clinician's when set, else the model's), the model's zone score with the findings
saved with it (``ModelZoneScore.findings``), the measures of the stored masks (FINAL over ORIGINAL per frame,
``lusapp.model.measures``) and one key frame with its mask overlaid: the labelled FINAL frame (the one with most
B-line pixels when several), else the stored-mask frame with most B-line pixels, else the middle frame (no
masks). Nothing here writes, and nothing depends on the clock.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lusapp.core.errors import LusError, StoreError, ValidationError, display_path
from lusapp.core.labels import B_LINE, CLASS_COLORS
from lusapp.core.patient import Patient, ZoneRecord
from lusapp.core.protocols import Protocol, Zone
from lusapp.core.raters import CONSENSUS, reported_score
from lusapp.io.readers import open_media
from lusapp.model.measures import FrameMeasures, clip_measures, rule_score
from lusapp.store.patient_folder import open_patient_folder
from lusapp.store.store import Store

KEY_FRAME_WIDTH = 400  # px of the key-frame picture in the PDF (about 170 dpi in a 60 mm tile)
OVERLAY_ALPHA = 0.55


@dataclass
class KeyFrame:
    frame: int  # 0-based index in the clip
    n_frames: int
    why: str  # 'labelled FINAL' | 'most B-line pixels' | 'first stored mask' | 'middle frame (no stored masks)'
    mask_kind: str | None  # 'consensus' (adjudicated) | 'final' | 'original' | None
    mask_rater: str = ""  # the adjudicator of a consensus mask
    mask_from: str = ""  # a consensus mask: the rater whose FINAL was picked ("" when drawn by the adjudicator)
    mask_time: str = ""
    image: np.ndarray | None = None  # uint8 HxWx3 RGB, masks drawn in, at most KEY_FRAME_WIDTH wide


@dataclass
class ZoneReport:
    zone: Zone
    record: ZoneRecord
    key: KeyFrame | None = None
    measures: FrameMeasures | None = None
    rule: tuple[int, str] | None = None  # rule score of the measures and the rule that fired
    n_final: int = 0  # stored FINAL / ORIGINAL mask frames
    n_original: int = 0
    problem: str = ""  # the media could not be read (names the file)

    @property
    def shown_score(self) -> tuple[int | None, str]:
        """(score, 'clinician' | 'model' | '') as the report shows it: the adjudicated consensus, else the first
        rater's score, else the model's (lusapp.core.raters.reported_score; a consensus counts as 'clinician')."""
        value, who = reported_score(self.record)
        return value, "clinician" if who == CONSENSUS else who


@dataclass
class ReportContent:
    patient: Patient
    protocol: Protocol
    zones: list[ZoneReport]
    source: str  # where the data came from, one line
    created: _dt.datetime  # the PDF creation date: the latest time in the patient's document
    warnings: list[str] = field(default_factory=list)

    @property
    def model_versions(self) -> list[str]:
        out = []
        sev = self.patient.severity
        if sev.model_version:
            out.append(sev.model_version)
        for z in self.zones:
            ms = z.record.model_score
            if ms is not None and ms.model_version not in out:
                out.append(ms.model_version)
        return out


def _parse_time(value: str) -> _dt.datetime | None:
    try:
        t = _dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc)


def document_time(patient: Patient) -> _dt.datetime:
    """The latest time recorded in the patient's document (scores, assessment, severity); the exam date at
    00:00 UTC when it records none. Used as the PDF creation date so that the same store gives the same PDF."""
    times = [patient.severity.model_time, patient.severity.time]
    for rec in patient.zones.values():
        if rec.clinician_score is not None:
            times.append(rec.clinician_score.time)
        if rec.model_score is not None:
            times.append(rec.model_score.time)
    parsed = [t for t in (_parse_time(v) for v in times if v) if t is not None]
    if parsed:
        return max(parsed)
    try:
        d = _dt.date.fromisoformat(patient.exam_date)
    except ValueError:
        d = _dt.date(2000, 1, 1)
    return _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc)


def overlay(frame: np.ndarray, mask: np.ndarray | None, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The frame as RGB uint8 with the label map's classes blended in their colours (lusapp.core.labels)."""
    import cv2

    rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame[..., :3]
    rgb = rgb.astype(np.float32)
    if mask is not None:
        if mask.shape[:2] != rgb.shape[:2]:
            mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        for cls, colour in CLASS_COLORS.items():
            on = mask == cls
            if on.any():
                rgb[on] = rgb[on] * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha
    out = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    h, w = out.shape[:2]
    if w > KEY_FRAME_WIDTH:
        out = cv2.resize(out, (KEY_FRAME_WIDTH, max(1, round(h * KEY_FRAME_WIDTH / w))), interpolation=cv2.INTER_AREA)
    return out


def _stored_masks(store: Store, pid: str, zid: str) -> tuple[dict[int, tuple[np.ndarray, str]], dict, dict]:
    """({frame: (mask, kind)} the adjudicated consensus over FINAL over ORIGINAL, FINAL and consensus provenance,
    ORIGINAL provenance)."""
    final = {f: store.load_mask(pid, zid, f, "final") for f in store.mask_frames(pid, zid, "final")}
    original = {f: store.load_mask(pid, zid, f, "original") for f in store.mask_frames(pid, zid, "original")}
    consensus = store.consensus(pid, zid)
    masks: dict[int, tuple[np.ndarray, str]] = {f: (m, "original") for f, m in original.items() if m is not None}
    masks.update({f: (m, "final") for f, m in final.items() if m is not None})
    masks.update({f: (m, "consensus") for f in consensus
                  if (m := store.load_consensus_mask(pid, zid, f)) is not None})
    final_prov = {**store.mask_provenance(pid, zid, "final"), **consensus}
    return dict(sorted(masks.items())), final_prov, store.mask_provenance(pid, zid, "original")


def choose_key_frame(masks: dict[int, tuple[np.ndarray, str]], final_prov: dict[int, dict],
                     n_frames: int) -> tuple[int, str]:
    """(frame, why): the labelled FINAL frame (most B-line pixels among several), else the stored-mask frame
    with most B-line pixels (the first stored one when none shows B-lines), else the middle frame.
    Ties go to the earlier frame."""
    def b_pixels(f: int) -> int:
        return int(np.count_nonzero(masks[f][0] == B_LINE))

    labelled = [f for f, (_m, kind) in masks.items()
                if kind in ("final", "consensus") and final_prov.get(f, {}).get("labelled", True)]
    if labelled:
        return max(labelled, key=lambda f: (b_pixels(f), -f)), "labelled FINAL"
    if masks:
        best = max(masks, key=lambda f: (b_pixels(f), -f))
        return best, ("most B-line pixels" if b_pixels(best) else "first stored mask (no B-line pixels)")
    return max(0, (n_frames - 1) // 2), "middle frame (no stored masks)"


def _zone_report(zone: Zone, rec: ZoneRecord, media: Path | None, masks: dict, final_prov: dict,
                 original_prov: dict) -> ZoneReport:
    zr = ZoneReport(zone=zone, record=rec, n_final=sum(1 for _m, k in masks.values() if k != "original"),
                    n_original=sum(1 for _m, k in masks.values() if k == "original"))
    spacing = rec.media.pixel_spacing_mm if rec.media is not None else None
    if masks:
        zr.measures = clip_measures([m for m, _k in masks.values()], spacing)
        zr.rule = rule_score(zr.measures)
    if media is None or rec.media is None:
        return zr
    try:
        with open_media(media) as clip:
            n = int(clip.n_frames)
            frame, why = choose_key_frame(masks, final_prov, n)
            frame = min(frame, max(0, n - 1))  # a mask frame past a clip found shorter than declared
            image = clip.read(frame)
    except LusError as exc:
        zr.problem = str(exc)
        return zr
    except (OSError, ValueError, MemoryError) as exc:
        zr.problem = f"{display_path(media)}: cannot be read ({type(exc).__name__})"
        return zr
    mask, kind = masks.get(frame, (None, None))
    prov = (original_prov if kind == "original" else final_prov).get(frame, {}) if kind else {}
    zr.key = KeyFrame(frame=frame, n_frames=n, why=why, mask_kind=kind, mask_rater=str(prov.get("rater", "")),
                      mask_time=str(prov.get("time", "")), image=overlay(image, mask),
                      mask_from=str(prov.get("from_rater", "")))
    return zr


def gather_store(store: Store, pid: str) -> ReportContent:
    """The report of patient ``pid`` of an open store (only reads)."""
    patient = store.load_patient(pid)
    protocol = patient.protocol
    zones, warnings = [], []
    for zone in protocol.zones:
        rec = patient.zones[zone.id]
        masks, final_prov, original_prov = _stored_masks(store, pid, zone.id)
        zr = _zone_report(zone, rec, store.media_path(pid, zone.id) if rec.media is not None else None, masks,
                          final_prov, original_prov)
        if zr.problem:
            warnings.append(f"zone {zone.id}: {zr.problem}")
        zones.append(zr)
    # the store folder's name only: a copy of the store elsewhere, or the app's writable handle, gives the same PDF
    source = f"store '{store.root.resolve().name}', patient.json revision {patient.revision}"
    return ReportContent(patient, protocol, zones, source, document_time(patient), warnings)


def gather_folder(folder: str | Path) -> ReportContent:
    """The report of a plain patient folder (no store: no masks, no model scores; the middle frame per zone)."""
    pf = open_patient_folder(folder)
    patient, protocol = pf.patient, pf.patient.protocol
    zones, warnings = [], list(pf.warnings)
    for zone in protocol.zones:
        rec = patient.zones[zone.id]
        path = pf.media.get(zone.id)
        if path is not None and rec.media is None:
            from lusapp.store.store import probe_media

            try:
                info = probe_media(path)
            except LusError as exc:
                zr = ZoneReport(zone=zone, record=rec, problem=str(exc))
                warnings.append(f"zone {zone.id}: {zr.problem}")
                zones.append(zr)
                continue
            rec = _with_media(rec, path, info)
        zr = _zone_report(zone, rec, path, {}, {}, {})
        if zr.problem:
            warnings.append(f"zone {zone.id}: {zr.problem}")
        zones.append(zr)
    source = f"plain patient folder {display_path(Path(folder))} (not in a store: no masks, no assessment)"
    return ReportContent(patient, protocol, zones, source, document_time(patient), warnings)


def _with_media(rec: ZoneRecord, path: Path, info: dict) -> ZoneRecord:
    from lusapp.core.patient import MediaRef

    ref = MediaRef(kind=info["kind"], file=path.name, sha256="0" * 64, n_frames=info["n_frames"], fps=info["fps"],
                   width=info["width"], height=info["height"], original_name=path.name,
                   pixel_spacing_mm=info["pixel_spacing_mm"])
    return ZoneRecord(zone_id=rec.zone_id, media=ref, model_score=rec.model_score,
                      clinician_score=rec.clinician_score, notes=rec.notes)


def gather_path(path: str | Path) -> ReportContent:
    """A store patient folder ``<store>/patients/<id>`` (the store opened read-only) or a plain patient folder.
    Raises ``StoreError`` / ``ValidationError`` (one line naming the folder) for anything else."""
    path = Path(path)
    if not path.is_dir():
        raise ValidationError(str(path), "is not a folder (give a store patient folder <store>/patients/<id> "
                                         "or a plain patient folder)")
    if (path / "store.json").is_file():
        raise StoreError(path, "is a whole store; give one patient folder: <store>/patients/<id>")
    root = path.parent.parent
    if path.parent.name == "patients" and (root / "store.json").is_file():
        if not (path / "patient.json").is_file():
            raise StoreError(path, "has no patient.json (not a patient of this store)")
        store = Store.open(root, readonly=True)
        try:
            return gather_store(store, path.name)
        finally:
            store.close()
    if (path / "patient.json").is_file():
        raise StoreError(path, "holds a patient.json but is not inside a store (<store>/patients/<id>)")
    return gather_folder(path)
