"""What a day's corrections can retrain (pure Python: no Qt, no torch; the retrain dialog and
``model_training.finetune`` share it, so the app never imports the training package).

``plan_stages(counts, findings_model)`` turns a store's counts (FINAL-mask frames and their clips, clinician-scored
zones and their patients, patients with a final severity) into one entry per stage -- masks, zone scores,
severity -- saying whether it is retrained and why, in a sentence (``describe_plan``). The thresholds are the
constants below.
"""

from __future__ import annotations

MIN_SEG_FRAMES = 2           # one to learn from, one to judge
MIN_CLIPS_FOR_CLIP_SPLIT = 4  # below this, held-out frames come from the same clips as the training frames
MIN_ZONES_SCORED = 12
MIN_PATIENTS_SPLIT = 3
MIN_SEV_PATIENTS = 6
MIN_HELD_SEV = 2
STAGE_NAMES = {"seg": "Masks (segmentation)", "zone": "Zone scores", "severity": "Patient severity"}


def _n(k: int, one: str, many: str | None = None) -> str:
    return f"{k} {one if k == 1 else (many or one + 's')}"


def plan_stages(counts: dict, findings_model: bool = False) -> list[dict]:
    """[{"stage", "train", "why"}] for seg, zone, severity from the store's counts (keys of
    ``model_training.finetune.store_counts``). Pure: the GUI calls it before starting, finetune again after its split."""
    frames = int(counts.get("final_mask_frames") or 0)
    clips = int(counts.get("clips_with_final") or 0)
    zones = int(counts.get("zones_scored") or 0)
    pz = int(counts.get("patients_scored") or 0)
    sev = int(counts.get("patients_with_severity") or 0)
    out = []
    if frames >= MIN_SEG_FRAMES:
        how = "held-out whole clips" if clips >= MIN_CLIPS_FOR_CLIP_SPLIT else "held-out frames of the same clips"
        out.append({"stage": "seg", "train": True,
                    "why": f"retrained from {_n(frames, 'corrected (FINAL) frame')} in {_n(clips, 'clip')}; "
                           f"judged on {how}"})
    else:
        out.append({"stage": "seg", "train": False,
                    "why": f"skipped: {_n(frames, 'frame has', 'frames have')} a corrected (FINAL) mask; at least "
                           f"{MIN_SEG_FRAMES} are needed (one to learn from, one to judge)"})
    if findings_model:
        keep = ("kept: with the findings model only the mask decoder is retrained (its encoder, findings, zone "
                "and severity networks were trained on real clips and stay as they are)")
        out.append({"stage": "zone", "train": False, "why": keep})
        out.append({"stage": "severity", "train": False, "why": keep})
        return out
    if zones >= MIN_ZONES_SCORED and pz >= MIN_PATIENTS_SPLIT:
        out.append({"stage": "zone", "train": True,
                    "why": f"retrained from {_n(zones, 'clinician-scored zone')} of {_n(pz, 'patient')}; judged on "
                           "held-out patients"})
    else:
        out.append({"stage": "zone", "train": False,
                    "why": f"skipped: {_n(zones, 'zone')} of {_n(pz, 'patient')} scored by a clinician; at least "
                           f"{MIN_ZONES_SCORED} zones of {MIN_PATIENTS_SPLIT} patients are needed"})
    if sev >= MIN_SEV_PATIENTS:
        out.append({"stage": "severity", "train": True,
                    "why": f"retrained from {_n(sev, 'patient')} with a final severity; judged on held-out patients"})
    else:
        out.append({"stage": "severity", "train": False,
                    "why": f"skipped: {_n(sev, 'patient has', 'patients have')} a final severity; at least "
                           f"{MIN_SEV_PATIENTS} are needed ({MIN_HELD_SEV} of them held out to judge)"})
    return out


def describe_plan(plan: list[dict]) -> list[str]:
    """One sentence per stage: 'Masks (segmentation): retrained from ...'."""
    return [f"{STAGE_NAMES[s['stage']]}: {s['why']}." for s in plan]
