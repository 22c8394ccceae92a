"""What the app needs from an engine: the one contract the GUI (live masks, assessment) and the CLI use.

:class:`lusapp.model.engine.Engine` implements it; tests may hand the GUI's ``SegWorker`` a small fake that
does too (``isinstance(x, ReviewEngine)`` checks the names, as the Protocol is runtime-checkable).

* ``model_id``: the model identity, ``<bundle name>-<version>`` (``lusapp.core.patient.model_identity``). It is
  the one string written with the model's masks, zone scores and severity (the stores' field is called
  ``model_version``; values written bare, "1.1.0", are read as "lus-staged-1.1.0").
* ``findings``: the bundle's findings head, or None (then masks are not gated by findings).
* ``segment(clip, indices, crop)``: label maps of those frames in original coordinates (``SegResult``).
* ``clip_report(clip)``: the clip's findings and warnings (a ``ClipReport``; used only when ``findings``).
* ``score_zone(features)``: a zone's score distribution from frame features (``ZoneScoreResult``).
* ``assess(patient, media, ...)``: the patient's severity from its zones' media (``Assessment``). A plain
  patient folder or store is turned into (patient, media) by the caller (``lusapp.model.assess_cli``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from lusapp.model.results import Assessment, SegResult, ZoneScoreResult


@runtime_checkable
class ReviewEngine(Protocol):
    model_id: str
    findings: Any

    def segment(self, clip: Any, indices: Sequence[int] | None = None, crop: Any = None) -> SegResult: ...

    def clip_report(self, clip: Any) -> Any: ...

    def score_zone(self, features: Any) -> ZoneScoreResult: ...

    def assess(self, patient: Any, media: Mapping[str, Any], clinical: Any = None, n_frames: int = 30,
               samplings: int = 1, measure_frames: int = 6,
               progress: Callable[[int, str], None] | None = None) -> Assessment: ...
