"""Propagation and interpolation in the clip view (issue 11): they run off the GUI thread with progress and
Cancel, their proposals are stored (not FINAL) and come back after a restart, and interpolation fills the
frames between two labelled keyframes."""

from __future__ import annotations

import threading


from gui_clip_support import label_frame, open_shifted_clip
from lusapp.core import propagate as pr
from lusapp.gui.clip_view import ClipView
from lusapp.review.mask_source import StoreMaskSource
from lusapp.store import Store


def _open(view, n=10, k=3, source=None):
    return open_shifted_clip(view, n, k, source, clip_key="P1:R1")


def test_propagation_runs_off_the_gui_thread_with_progress(view, monkeypatch):
    _, masks = _open(view, n=10)
    label_frame(view, 0, masks[0])
    threads, progress = [], []
    real_read = view.frames.get
    monkeypatch.setattr(view.frames, "get", lambda i: (threads.append(threading.current_thread()), real_read(i))[1])
    view.propagator.progress.connect(lambda pct, text: progress.append(pct))
    view.set_propagate_count(5)
    assert view.propagate(1) == [1, 2, 3, 4, 5]
    assert view.proposal_progress.isVisible() and view.propagator.busy
    assert view.proposed_frames() == []  # nothing yet: the flow is still running
    assert view.wait_proposals()
    assert view.proposed_frames() == [1, 2, 3, 4, 5] and not view.proposal_progress.isVisible()
    assert threads and threading.main_thread() not in threads
    assert progress[-1] == 100 and progress == sorted(progress)


def test_cancel_keeps_the_frames_done_so_far_and_a_second_run_waits(view):
    _, masks = _open(view, n=12)
    label_frame(view, 0, masks[0])
    gate = threading.Event()
    real_read = view.frames.get

    def slow(i):
        if i >= 3:
            gate.wait(5)
        return real_read(i)

    view.frames.get = slow
    view.set_propagate_count(10)
    view.propagate(1)
    assert view.propagate(-1) == [] and view.interpolate() == []  # one run at a time
    view.proposal_progress.cancel_btn.click()
    gate.set()
    assert view.wait_proposals()
    got = view.proposed_frames()
    assert got and got == list(range(1, len(got) + 1)) and len(got) < 10
    view.undo()
    assert view.proposed_frames() == []


def test_proposals_are_stored_not_final_and_come_back_after_a_restart(qtbot, tmp_path):
    store = Store.create(tmp_path / "store")
    store.new_patient("P1")
    v = ClipView()
    qtbot.addWidget(v)
    _, masks = _open(v, n=8, source=StoreMaskSource(store, "P1", "R1", rater="dr_a"))
    label_frame(v, 0, masks[0])
    v.set_propagate_count(4)
    v.propagate(1)
    assert v.wait_proposals()
    assert sorted(store.proposals("P1", "R1")) == [1, 2, 3, 4]
    assert store.proposals("P1", "R1")[2]["source"] == "flow" and store.mask_frames("P1", "R1", "final") == []
    v.seek(2)
    assert v.accept_proposal()  # accepted: no longer a proposal in the store (the FINAL is the session's to save)
    assert sorted(store.proposals("P1", "R1")) == [1, 3, 4]
    v.shutdown()
    root = store.root
    store.close()

    store = Store.open(root)
    w = ClipView()
    qtbot.addWidget(w)
    _open(w, n=8, source=StoreMaskSource(store, "P1", "R1", rater="dr_a"))
    assert w.proposed_frames() == [1, 3, 4] and w.labelled_frames() == []
    assert w.mask_kind(3) == "PROPOSED" and pr.mask_dice(w.mask_and_kind(3)[0], masks[3]) > 0.9
    assert w.discard_proposals() == 3 and store.proposals("P1", "R1") == {}
    w.undo()
    assert sorted(store.proposals("P1", "R1")) == [1, 3, 4]
    w.shutdown()
    store.close()


def test_interpolate_between_two_keyframes_and_the_shortcut(view, qtbot):
    from PySide6.QtCore import Qt

    from lusapp.gui.actions import ActionFactory, load_specs

    _, masks = _open(view, n=10, k=2)
    label_frame(view, 2, masks[2])
    label_frame(view, 8, masks[8])
    view.seek(0)
    assert view.interpolate() == []  # no labelled frame before frame 1
    view.seek(5)
    assert view.interpolate() == [3, 4, 5, 6, 7]
    assert view.wait_proposals()
    assert view.proposed_frames() == [3, 4, 5, 6, 7]
    for f in range(3, 8):
        assert pr.mask_dice(view.mask_and_kind(f)[0], masks[f], classes=(1, 2, 3)) > 0.9, f
    view.undo()
    assert view.proposed_frames() == []
    f = ActionFactory(view, load_specs())
    view.addAction(f.action("mask.interpolate", view.propagation_actions()["mask.interpolate"]))
    view.seek(2)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_I)
    assert view.wait_proposals() and view.proposed_frames() == [3, 4, 5, 6, 7]
