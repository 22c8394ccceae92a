"""One owner of an edited FINAL mask, headless (issue 15): the array the clip view's mask state paints into
is the one undo changes, the measures read and the session's write puts in the store; no second copy."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core.mask_edit import diff_masks
from lusapp.review.final_edits import FinalEdits
from lusapp.review.mask_source import StoreMaskSource
from lusapp.review.mask_state import MaskState
from lusapp.review.measures import choose_masks
from lusapp.review.unsaved import UnsavedChanges
from lusapp.store import Store

SHAPE = (24, 32)
CLIP = "P1/R1/abc"  # the clip view's key: patient, zone, media


@pytest.fixture
def store(tmp_path):
    from media_files import write_video

    with Store.create(tmp_path / "st") as st:
        st.new_patient("P1", actor="t")
        st.add_media("P1", "R1", write_video(tmp_path / "c.avi", [np.full(SHAPE, 50, np.uint8)] * 4), "t")
        yield st


@pytest.fixture
def review(store):
    """A mask state (the clip view's bookkeeping) and the session's unsaved changes sharing one owner."""
    finals = FinalEdits()
    model = {f: np.full(SHAPE, 1, np.uint8) for f in range(4)}  # the model says pleural line everywhere
    state = MaskState(lambda key, f: model.get(f) if key == CLIP else None, finals)
    state.set_clip(CLIP, StoreMaskSource(store, "P1", "R1", rater="dr_a"), zone_id="R1")
    return state, UnsavedChanges(finals), store.load_patient("P1")


def stroke(state: MaskState, frame: int, value: int, rows=slice(2, 6)):
    """What the brush does: paint into the working mask, then say it changed; returns the diff (undo step)."""
    mask, _fresh = state.working(frame, SHAPE)
    before = mask.copy()
    mask[rows, 4:10] = value
    state.changed(CLIP, frame)
    return diff_masks(before, mask)


def test_an_edit_is_the_mask_that_is_written_and_stays_for_undo(review, store):
    state, unsaved, patient = review
    mask, fresh = state.working(0, SHAPE)
    assert fresh and not unsaved.any  # a working copy is not an edit: an autosave mid-stroke writes nothing
    mask[2:6, 4:10] = 3
    state.changed(CLIP, 0)
    assert unsaved.pending("R1")[0] is mask and state.mask_and_kind(0) == (mask, "FINAL")
    unsaved.write(store, patient, "dr_a")
    assert not unsaved.any and store.mask_frames("P1", "R1", "final") == [0]
    np.testing.assert_array_equal(Store.open(store.root, readonly=True).load_mask("P1", "R1", 0, "final"), mask)
    assert state.mask_and_kind(0)[0] is mask and state.labelled_frames() == [0]  # kept: undo paints into it


def test_undo_and_redo_after_a_save_change_the_same_mask_and_are_written(review, store):
    state, unsaved, patient = review
    diff = stroke(state, 1, 3)
    unsaved.write(store, patient, "dr_a")
    state.apply_diff(CLIP, 1, diff, forward=False)
    assert unsaved.any and int(unsaved.pending("R1")[1].max()) == 1  # back to the model's mask, unsaved
    unsaved.write(store, patient, "dr_a")
    assert int(store.load_mask("P1", "R1", 1, "final").max()) == 1
    state.apply_diff(CLIP, 1, diff, forward=True)
    unsaved.write(store, patient, "dr_a")
    assert int(store.load_mask("P1", "R1", 1, "final").max()) == 3 and not unsaved.any


def test_measures_read_the_edited_masks_saved_or_not(review, store):
    state, unsaved, patient = review
    stroke(state, 0, 3)
    unsaved.write(store, patient, "dr_a")
    stroke(state, 2, 2)
    edited = unsaved.finals.masks("R1", CLIP)
    choice = choose_masks(4, edited, set(state.source.final_frames()))
    assert choice.n_final == 2 and [int(m.max()) for m in choice.masks] == [3, 2]
    assert unsaved.finals.masks("R1", "P2/R1/def") == {}  # another patient's clip of zone R1 has none


def test_zone_change_keeps_each_clips_edits_apart(review, store):
    state, unsaved, patient = review
    stroke(state, 0, 3)
    state.set_clip("P1/R2/xyz", None, zone_id="R2")
    assert state.mask_and_kind(0) == (None, None) and state.labelled_frames() == []
    assert list(unsaved.pending("R1")) == [0]  # still the session's to write
    stroke_r2, _ = state.working(0, SHAPE)
    stroke_r2[:] = 4
    state.changed("P1/R2/xyz", 0)
    unsaved.write(store, patient, "dr_a")
    assert store.mask_frames("P1", "R1", "final") == [0] and store.mask_frames("P1", "R2", "final") == [0]
    state.set_clip(CLIP, StoreMaskSource(store, "P1", "R1"), zone_id="R1")
    assert int(state.mask_and_kind(0)[0].max()) == 3 and state.edited[(CLIP, 0)] is state.mask_and_kind(0)[0]


def test_unlabel_withdraws_the_stored_final_and_a_later_edit_cancels_it(review, store):
    state, unsaved, patient = review
    stroke(state, 0, 3)
    stroke(state, 1, 3)
    unsaved.write(store, patient, "dr_a")
    old = state.unlabel(CLIP, 0)
    state.unlabel(CLIP, 1)
    assert int(old.max()) == 3 and state.mask_and_kind(0)[1] == "MODEL" and unsaved.unlabelled("R1") == {0, 1}
    state.relabel(CLIP, 1, old)  # undo of the second unlabel: FINAL again, no withdrawal
    assert unsaved.unlabelled("R1") == {0}
    told = []
    unsaved.write(store, patient, "dr_a", warn=lambda title, msg: told.append(msg))
    assert not unsaved.any and int(store.load_mask("P1", "R1", 1, "final").max()) == 3
    if hasattr(store, "delete_mask"):
        assert store.mask_frames("P1", "R1", "final") == [1] and not told
    else:  # this store cannot delete a FINAL yet: the withdrawal of frame 0 (shown as 1) is told
        assert len(told) == 1 and "Zone R1, frame 1:" in told[0]


def test_discard_forgets_unsaved_edits_and_the_store_shows_again(review, store):
    state, unsaved, patient = review
    stroke(state, 0, 3)
    unsaved.write(store, patient, "dr_a")
    stroke(state, 2, 2)
    state.unlabel(CLIP, 0)
    unsaved.clear()
    assert not unsaved.any and state.mask_and_kind(2)[1] == "MODEL"
    unsaved.write(store, patient, "dr_a")  # nothing: the withdrawal went too
    assert store.mask_frames("P1", "R1", "final") == [0]


def test_a_mask_from_outside_the_view_counts_for_the_zone_and_is_let_go_once_written(review, store):
    state, unsaved, patient = review
    unsaved.queue_mask("R1", 3, np.full(SHAPE, 2, np.uint8), "final", "lus-staged-1.2.0")
    assert state.mask_and_kind(3)[1] == "FINAL" and state.labelled_frames() == [3]
    unsaved.write(store, patient, "dr_a")
    assert store.mask_provenance("P1", "R1", "final")[3]["model_version"] == "lus-staged-1.2.0"
    assert unsaved.finals.masks("R1", CLIP) == {}  # written: the store holds it now, not a second copy here
    unsaved.queue_mask("R1", 2, np.full(SHAPE, 2, np.uint8), "final")
    diff = stroke(state, 2, 4)  # edited in the view: filed under the view's clip, kept for undo once written
    unsaved.write(store, patient, "dr_a")
    assert state.edited[(CLIP, 2)].max() == 4 and state.apply_diff(CLIP, 2, diff, forward=False).max() == 2


def test_forgetting_a_clips_history_keeps_its_unsaved_edits(review, store):
    state, unsaved, patient = review
    stroke(state, 0, 3)
    unsaved.write(store, patient, "dr_a")
    stroke(state, 1, 3)
    unsaved.finals.forget_clip(CLIP)
    assert sorted(state.edited) == [(CLIP, 1)] and list(unsaved.pending("R1")) == [1]
