"""One engine contract (lusapp.model.contract.ReviewEngine) and one model identity in masks, scores and
severity; identities written bare by older versions read normalised."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core.patient import ModelZoneScore, SeverityRecord, model_identity, normalise_model_id
from lusapp.model.contract import ReviewEngine


def test_identity_is_name_dash_version_and_bare_versions_read_as_lus_staged():
    assert model_identity("lus-staged", "1.2.0") == "lus-staged-1.2.0"
    assert normalise_model_id("1.1.0") == "lus-staged-1.1.0"
    assert normalise_model_id("1.2.0-ft1") == "lus-staged-1.2.0-ft1"
    for kept in ("lus-staged-1.2.0", "seg-1.0", "tiny-test-0.0.1", ""):
        assert normalise_model_id(kept) == kept


def test_zone_scores_and_severity_written_bare_read_as_identities():
    ms = ModelZoneScore.from_dict({"probs": [0.1, 0.6, 0.1, 0.1, 0.1], "score": 1, "expected": 1.5,
                                   "model_version": "1.1.0", "time": "2026-01-02T03:04:05Z"})
    assert ms.model_version == "lus-staged-1.1.0"
    sev = SeverityRecord.from_dict({"model_probs": [0.7, 0.1, 0.1, 0.1], "model_version": "1.1.0",
                                    "model_time": "2026-01-02T03:04:05Z"})
    assert sev.model_version == "lus-staged-1.1.0"


def test_mask_provenance_reads_the_same_identity(tmp_path):
    from media_files import write_video
    from lusapp.store import Store

    with Store.create(tmp_path / "st") as st:
        st.new_patient("P1", actor="t")
        st.add_media("P1", "R1", write_video(tmp_path / "c.avi", [np.full((24, 32), 50, np.uint8)] * 3), "t")
        st.save_mask("P1", "R1", 0, np.ones((24, 32), np.uint8), "original", model_version="1.1.0")
        st.save_mask("P1", "R1", 1, np.ones((24, 32), np.uint8), "original", model_version="lus-staged-1.2.0")
        prov = st.mask_provenance("P1", "R1", "original")
    assert prov[0]["model_version"] == "lus-staged-1.1.0" and prov[1]["model_version"] == "lus-staged-1.2.0"


def test_the_engine_keeps_the_contract_and_the_live_mask_worker_refuses_anything_else(tmp_path, qtbot):
    from media_files import make_bundle
    from lusapp.gui.seg_worker import SegWorker
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine

    engine = Engine(load_bundle(make_bundle(tmp_path / "b", version="0.3.0", name="tiny")), threads=1)
    assert isinstance(engine, ReviewEngine) and engine.model_id == "tiny-0.3.0"
    worker = SegWorker(engine)
    try:
        assert worker.model_id == "tiny-0.3.0"
        with pytest.raises(TypeError, match="not an engine.*ReviewEngine"):
            worker.set_engine(object())
        worker.set_engine(None)
        assert worker.model_id == ""
    finally:
        worker.shutdown()
