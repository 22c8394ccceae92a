"""Proposed masks: masks propagated or interpolated from FINAL frames, kept until a clinician accepts them.

Layout: ``masks/<zone>/proposal/<frame:05d>.png`` and, in ``labels.json``, ``frames.proposal``::

    "proposal": {"7": {"kind": "proposal", "rater": "dr_a", "time": "...", "source": "flow", "from_frame": 5}}

``source`` says how the proposal was made (``flow``, ``interpolate``, ``model+flow``); ``from_frame`` is the
FINAL frame it came from (the first keyframe of an interpolation). A proposal is **never** training data and
never counts as labelled: training reads only ``final``, ``raters`` and ``consensus`` (:mod:`rater_masks`).
Accepting a proposal saves a FINAL mask the usual way (``Store.save_masks(kind="final")``) and drops the
proposal. Dropping moves the PNG aside into ``replaced/<time>/masks/<zone>/proposal/`` and removes its entry,
in one journalled step (nothing in a store is deleted). Audit actions: ``save-mask-proposal``,
``drop-mask-proposal`` (``frames``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lusapp.core.errors import DamagedDocument, ValidationError
from lusapp.core.patient import utc_now
from lusapp.store import masks as _masks
from lusapp.store.durable import atomic_write_bytes, atomic_write_json
from lusapp.store.journal import operation

PROPOSAL = "proposal"
SOURCES = ("flow", "interpolate", "model+flow")


def proposal_path(zone_dir: Path, frame: int) -> Path:
    return zone_dir / PROPOSAL / _masks.frame_path(zone_dir, "final", frame).name


def proposal_table(labels: dict, zone_dir: Path) -> dict:
    """``frames.proposal`` of a ``labels.json`` (created empty); ``DamagedDocument`` naming the file when it is
    not an object of frame numbers."""
    table = labels["frames"].setdefault(PROPOSAL, {})
    path = zone_dir / _masks.LABELS_NAME
    if not isinstance(table, dict):
        raise DamagedDocument(path, "frames.proposal is not an object")
    bad = next((k for k in table if not (isinstance(k, str) and k.isdigit() and len(k) <= 5)), None)
    if bad is not None:
        raise DamagedDocument(path, f"frames.proposal has the key {bad!r}, not a frame number")
    return table


class ProposalMasks:
    """Store methods for proposed masks (mixed into :class:`lusapp.store.Store`)."""

    root: Path

    def proposals(self, pid: str, zone_id: str) -> dict[int, dict]:
        """{frame: provenance} of the zone's proposals (``rater``, ``time``, ``source``, ``from_frame``)."""
        zone_dir = self._zone_dir(pid, zone_id)
        table = proposal_table(_masks.read_labels(zone_dir), zone_dir)
        return {int(f): e for f, e in sorted(table.items(), key=lambda kv: int(kv[0]))}

    def load_proposal(self, pid: str, zone_id: str, frame: int) -> np.ndarray | None:
        """The proposed mask of ``frame``, None when it has none."""
        if int(frame) not in self.proposals(pid, zone_id):
            return None
        return _masks.read_png(self._inside(proposal_path(self._zone_dir(pid, zone_id), frame)))

    def save_proposals(self, pid: str, zone_id: str, masks: dict[int, np.ndarray], rater: str,
                       source: str = "flow", from_frame: int | None = None) -> None:
        """Store (or replace) the proposals of several frames; one journalled step, audited
        ``save-mask-proposal``."""
        self._writable()
        if not masks:
            return
        if source not in SOURCES:
            raise ValidationError("source", f"{source!r} should be one of {', '.join(SOURCES)}")
        if not isinstance(rater, str) or not rater.strip():
            raise ValidationError("rater", "must name who asked for the proposal")
        checked = {int(i): _masks.check_mask(m, f"mask[{i}]") for i, m in masks.items()}
        zone_dir = self._zone_dir(pid, zone_id)
        targets = {i: self._inside(proposal_path(zone_dir, i)) for i in checked}
        labels = _masks.read_labels(zone_dir)
        table, now = proposal_table(labels, zone_dir), utc_now()
        with operation(self.root, "save-mask-proposal") as op:
            files = []
            for i, m in checked.items():
                ok, buf = cv2.imencode(".png", m)
                if not ok:  # pragma: no cover - cv2 failure
                    raise ValidationError(f"mask[{i}]", "could not be encoded as PNG")
                tmp = op.prepare_path(".png")
                atomic_write_bytes(tmp, buf.tobytes())
                files.append((tmp, targets[i]))
                table[str(i)] = {"kind": PROPOSAL, "rater": rater, "time": now, "source": source,
                                 "from_frame": None if from_frame is None else int(from_frame)}
            tmp = op.prepare_path(".json")
            atomic_write_json(tmp, labels)
            files.append((tmp, zone_dir / _masks.LABELS_NAME))
            op.audit([{"actor": rater, "action": "save-mask-proposal", "patient": pid, "zone": zone_id,
                       "detail": {"frames": sorted(checked), "source": source}}])
            op.replace_all(files)

    def drop_proposals(self, pid: str, zone_id: str, frames, actor: str) -> list[int]:
        """Drop the proposals of ``frames`` (accepted or discarded): each PNG is set aside into
        ``replaced/<time>/``, its entry removed; one journalled step. Returns the frames dropped (frames
        without a proposal are ignored)."""
        self._writable()
        zone_dir = self._zone_dir(pid, zone_id)
        labels = _masks.read_labels(zone_dir)
        table = proposal_table(labels, zone_dir)
        gone = sorted({int(f) for f in frames if str(int(f)) in table})
        if not gone:
            return []
        folder = self.patient_dir(pid)
        stamp = utc_now().replace(":", "").replace("-", "")
        aside, n = folder / "replaced" / stamp, 1
        while os.path.lexists(aside):
            aside, n = folder / "replaced" / f"{stamp}-{n}", n + 1
        with operation(self.root, "drop-mask-proposal") as op:
            for f in gone:
                del table[str(f)]
            tmp = op.prepare_path(".json")
            atomic_write_json(tmp, labels)
            op.audit([{"actor": actor, "action": "drop-mask-proposal", "patient": pid, "zone": zone_id,
                       "detail": {"frames": gone}}])
            op.replace(tmp, zone_dir / _masks.LABELS_NAME)
            for f in gone:
                src = self._inside(proposal_path(zone_dir, f))
                op.move(src, aside / "masks" / zone_id / PROPOSAL / src.name)
        return gone
