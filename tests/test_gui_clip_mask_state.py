"""MaskState (Qt-free): FINAL > stored FINAL > MODEL precedence, working copies, ORIGINAL hand-out once."""

from __future__ import annotations

import numpy as np

from lusapp.core.mask_edit import diff_masks
from lusapp.review.mask_source import MemoryMaskSource
from lusapp.review.mask_state import MaskState


def test_precedence_working_copies_and_originals():
    model = {("k", f): np.full((4, 4), 2, np.uint8) for f in (0, 1, 2)}
    st = MaskState(lambda key, f: model.get((key, f)))
    stored = np.full((4, 4), 4, np.uint8)
    st.set_clip("k", MemoryMaskSource({1: stored}, original={1: stored}))
    assert st.mask_and_kind(0)[1] == "MODEL" and st.mask_and_kind(1)[1] == "FINAL"
    assert st.mask_and_kind(3) == (None, None) and st.labelled_frames() == [1]
    m, fresh = st.working(0, (4, 4))
    assert fresh and (m == 2).all() and st.mask_and_kind(0)[1] == "FINAL"
    assert st.working(0, (4, 4))[1] is False
    before = m.copy()
    m[1, 1] = 3
    d = diff_masks(before, m)
    orig = st.original_for("k", "R1", 0, model_expected=True)
    assert (orig == 2).all() and st.original_for("k", "R1", 0, True) is None  # once per frame
    assert st.original_for("k", "R1", 1, True) is None  # the store already has frame 1's ORIGINAL
    st.apply_diff("k", 0, d, forward=False)
    assert (st.mask_and_kind(0)[0] == 2).all()
    st.apply_diff("k", 0, d, forward=True)
    assert st.mask_and_kind(0)[0][1, 1] == 3 and st.previous_labelled(3) == 1
    assert st.working(3, (4, 4))[0].sum() == 0
    st.discard(3)
    assert st.mask_and_kind(3) == (None, None)
    assert st.original_for("k", "R1", 3, model_expected=True) is None  # not segmented yet: awaited
    assert st.mask_arrived("k", 3) == "R1" and st.mask_arrived("k", 3) is None
    st.set_clip("other", None)  # zone change: edits of "k" stay for undo
    assert st.mask_and_kind(0) == (None, None) and ("k", 0) in st.edited


def test_store_mask_source_reads_and_writes_the_real_store(tmp_path):
    from lusapp.review.mask_source import MaskSource, StoreMaskSource
    from lusapp.store.store import Store

    store = Store.create(tmp_path / "store")
    try:
        store.new_patient("P1")
        src = StoreMaskSource(store, "P1", "R2", rater="dr_a")
        assert isinstance(src, MaskSource) and src.final_frames() == set() and src.load_final(0) is None
        final = np.zeros((6, 8), np.uint8)
        final[2:4, 1:5] = 3
        src.save_original(4, np.ones((6, 8), np.uint8), model_version="m-1")
        src.save_final(4, final, model_version="m-1")
        assert src.final_frames() == {4} and src.has_original(4) and not src.has_original(5)
        fresh = StoreMaskSource(store, "P1", "R2")
        np.testing.assert_array_equal(fresh.load_final(4), final)
        st = MaskState()
        st.set_clip("P1/R2", fresh)
        assert st.mask_and_kind(4)[1] == "FINAL" and st.labelled_frames() == [4]
        prov = store.mask_provenance("P1", "R2", "final")[4]
        assert prov["rater"] == "dr_a" and prov["model_version"] == "m-1"
        assert store.mask_provenance("P1", "R2", "original")[4]["rater"] == "model"
    finally:
        store.close()
