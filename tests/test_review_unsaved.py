"""The review model's unsaved changes, headless: one owner for a mask until it is in the store."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.review.unsaved import UnsavedChanges
from lusapp.store import Store


@pytest.fixture
def store(tmp_path):
    from media_files import write_video

    with Store.create(tmp_path / "st") as st:
        st.new_patient("P1", actor="t")
        st.add_media("P1", "R1", write_video(tmp_path / "c.avi", [np.full((24, 32), 50, np.uint8)] * 4), "t")
        yield st


def test_queue_copies_and_a_later_queue_or_withdrawal_wins():
    u = UnsavedChanges()
    assert not u.any and not u.masks_pending
    m = np.ones((4, 4), np.uint8)
    u.queue_mask("R1", 2, m, "final", "lus-staged-1.2.0")
    m[:] = 3  # the caller's array changes later (an undo step): the queued copy does not
    assert u.pending("R1")[2].max() == 1 and u.any and u.masks_pending and not u.record_changed
    u.unlabel("R1", 2)
    assert u.pending("R1") == {} and u.unlabelled("R1") == {2} and u.any
    u.queue_mask("R1", 2, m)
    assert u.unlabelled("R1") == set() and u.pending("R1")[2].max() == 3
    with pytest.raises(ValueError, match="mask kind"):
        u.queue_mask("R1", 2, m, "proposed")


def test_replaced_clip_drops_its_zone_only():
    u = UnsavedChanges()
    u.queue_mask("R1", 0, np.ones((2, 2), np.uint8))
    u.queue_mask("R2", 0, np.ones((2, 2), np.uint8), "original")
    u.unlabel("R1", 3)
    assert u.drop_zone("R1") and not u.drop_zone("R3")
    assert u.pending("R1") == {} and u.unlabelled("R1") == set() and list(u.pending("R2", "original")) == [0]


def test_write_puts_masks_withdrawals_and_the_record_in_the_store(store):
    u = UnsavedChanges()
    u.queue_mask("R1", 1, np.full((24, 32), 3, np.uint8), "final", "lus-staged-1.2.0")
    u.queue_mask("R1", 1, np.full((24, 32), 1, np.uint8), "original", "lus-staged-1.2.0")
    u.queue_mask("R1", 2, np.full((24, 32), 2, np.uint8), "final")
    patient = store.load_patient("P1")
    patient.notes = "seen"
    u.record_changed = True
    u.write(store, patient, "dr_a")
    assert not u.any
    assert store.mask_frames("P1", "R1", "final") == [1, 2] and store.mask_frames("P1", "R1", "original") == [1]
    assert int(store.load_mask("P1", "R1", 1, "final").max()) == 3
    assert store.load_patient("P1").notes == "seen"


def test_a_failed_write_keeps_what_was_not_written(store):
    class Full:
        def __init__(self, inner):
            self.inner, self.writes = inner, 0

        def save_mask(self, *a, **k):
            if self.writes == 1:
                raise OSError(28, "No space left on device")
            self.writes += 1
            self.inner.save_mask(*a, **k)

    u = UnsavedChanges()
    for f in (0, 1, 2):
        u.queue_mask("R1", f, np.full((24, 32), 1, np.uint8))
    with pytest.raises(OSError, match="No space"):
        u.write(Full(store), store.load_patient("P1"), "dr_a")
    assert sorted(u.pending("R1")) == [1, 2] and store.mask_frames("P1", "R1", "final") == [0]


def test_withdrawal_deletes_a_stored_final_or_says_it_could_not(store):
    class Deleting:
        def __init__(self, inner):
            self.inner, self.deleted = inner, []

        def mask_frames(self, *a):
            return self.inner.mask_frames(*a)

        def delete_mask(self, pid, zone_id, frame, kind, actor):
            self.deleted.append((pid, zone_id, frame, kind, actor))

    class Old(Deleting):
        delete_mask = None  # a store version that cannot withdraw a FINAL mask

    store.save_mask("P1", "R1", 0, np.ones((24, 32), np.uint8), "final", rater="dr_a")
    u, told = UnsavedChanges(), []
    u.unlabel("R1", 0)
    u.unlabel("R1", 3)  # never stored: nothing to delete
    deleting = Deleting(store)
    u.write(deleting, store.load_patient("P1"), "dr_a", warn=lambda t, m: told.append((t, m)))
    assert deleting.deleted == [("P1", "R1", 0, "final", "dr_a")] and not told and not u.any
    u.unlabel("R1", 0)
    u.write(Old(store), store.load_patient("P1"), "dr_a", warn=lambda t, m: told.append((t, m)))
    assert told and told[0][0] == "Unlabel not saved" and "Zone R1, frame 1" in told[0][1] and not u.any
