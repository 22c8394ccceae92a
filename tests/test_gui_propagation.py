"""Mask propagation in the clip view (issue 11): proposals by optical flow are not FINAL until accepted,
accept / accept all / discard are undo steps, timeline markers for labelled / proposed / disagreeing frames,
jump shortcuts, fit / 100 % zoom."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from gui_clip_support import label_frame, open_shifted_clip
from lusapp.core import propagate as pr


def _open(view, n=10, k=3):
    return open_shifted_clip(view, n, k)


def test_propagation_proposals_follow_the_motion_and_are_not_final(view):
    _, masks = _open(view, n=10, k=3)
    edits, unl = [], []
    view.maskEdited.connect(lambda z, f, m: edits.append(f))
    view.maskUnlabelled.connect(lambda z, f: unl.append(f))
    label_frame(view, 0, masks[0])
    assert view.labelled_frames() == [0] and edits == [0]
    view.set_propagate_count(6)
    assert view.propagate(1) == [1, 2, 3, 4, 5, 6]
    assert view.wait_proposals()
    assert view.proposed_frames() == [1, 2, 3, 4, 5, 6]
    assert view.labelled_frames() == [0] and edits == [0]  # proposals are neither FINAL nor saved
    for f in range(1, 7):
        m, kind = view.mask_and_kind(f)
        assert kind == "PROPOSED"
        assert pr.mask_dice(m, masks[f]) > 0.9, f
    view.seek(3)
    assert view.last_kind == "PROPOSED" and "PROPOSED" in view.badge.text()
    assert view.transport.slider.markers["proposed"] == [1, 2, 3, 4, 5, 6]
    assert view.transport.slider.markers["labelled"] == [0]

    # accept one: FINAL and saved; undo -> a proposal again, FINAL withdrawn
    assert view.accept_proposal()
    assert view.mask_kind(3) == "FINAL" and view.labelled_frames() == [0, 3] and edits[-1] == 3
    assert 3 not in view.proposed_frames()
    view.undo()
    assert view.mask_kind(3) == "PROPOSED" and view.labelled_frames() == [0] and unl == [3]
    view.redo()
    assert view.mask_kind(3) == "FINAL"

    # accept all in one undo step
    assert view.accept_all_proposals() == 5
    assert view.labelled_frames() == list(range(7)) and view.proposed_frames() == []
    assert view.transport.slider.markers["labelled"] == list(range(7))
    view.undo()
    assert view.labelled_frames() == [0, 3] and view.proposed_frames() == [1, 2, 4, 5, 6]


def test_propagation_stops_before_a_labelled_frame_and_runs_backward(view):
    _, masks = _open(view, n=10, k=2)
    label_frame(view, 2, masks[2])
    label_frame(view, 7, masks[7])
    view.seek(7)
    view.set_propagate_count(0)  # up to the next labelled frame
    assert view.propagate(-1) == [3, 4, 5, 6]
    assert view.wait_proposals()
    view.seek(2)
    assert view.propagate(1) == [3, 4, 5, 6]  # replaces the proposals (one undo step)
    assert view.wait_proposals()
    assert pr.mask_dice(view.mask_and_kind(4)[0], masks[4]) > 0.9
    view.undo()  # back to the backward proposals
    assert view.proposed_frames() == [3, 4, 5, 6]
    view.undo()
    assert view.proposed_frames() == []
    view.seek(5)
    assert view.propagate(1) == []  # frame 5 is not FINAL: nothing to propagate


def test_discard_is_undoable_and_editing_a_proposal_labels_it(view):
    _, masks = _open(view, n=6, k=2)
    label_frame(view, 0, masks[0])
    view.set_propagate_count(3)
    view.propagate(1)
    assert view.wait_proposals()
    assert view.discard_proposals() == 3 and view.proposed_frames() == []
    view.undo()
    assert view.proposed_frames() == [1, 2, 3]
    view.seek(2)
    edited = view.mask_and_kind(2)[0].copy()
    edited[:5, :5] = 4
    label_frame(view, 2, edited)  # an edit of a proposed frame makes it FINAL
    assert view.labelled_frames() == [0, 2] and view.proposed_frames() == [1, 3]
    assert (view.key, 2) not in view.masks.proposals  # its proposal is dropped, not kept under the FINAL mask
    view.undo()  # one step: the edit and the dropped proposal
    assert view.mask_kind(2) == "PROPOSED" and (view.key, 2) in view.masks.proposals
    view.redo()
    assert view.mask_kind(2) == "FINAL" and (view.key, 2) not in view.masks.proposals
    view.undo()
    assert view.mask_kind(2) == "PROPOSED"


def test_markers_for_labelled_and_disagreeing_frames(view):
    _, masks = _open(view, n=8, k=2)
    model = {f: masks[f] for f in range(8)}
    view.masks.model_lookup = lambda key, f: model.get(f)
    view.seek(1)
    assert view.mark_labelled()  # the model's mask accepted as it is: agrees
    wrong = np.zeros_like(masks[4])
    wrong[:20, :20] = 4
    label_frame(view, 4, wrong)  # disagrees
    sl = view.transport.slider
    assert sl.markers["labelled"] == [1, 4]
    assert view.disagreeing_frames() == [4] and sl.markers["disagree"] == [4]
    assert sl.marker_x(1) < sl.marker_x(4) and 0 <= sl.marker_x(0) <= sl.width()
    view.undo()  # the disagreeing frame is unlabelled: its marker goes
    assert sl.markers["labelled"] == [1] and sl.markers["disagree"] == []
    sl.grab()  # paints without error


def test_jump_and_propagation_shortcuts(view, qtbot):
    from lusapp.gui.actions import ActionFactory, check_conflicts, load_specs

    specs = load_specs()
    assert not check_conflicts(specs)
    _, masks = _open(view, n=12, k=1)
    host = QWidget()
    qtbot.addWidget(host)
    f = ActionFactory(host, specs)
    for aid, slot in {**view.navigation_actions(), **view.propagation_actions()}.items():
        assert specs[aid].keys, aid
        view.addAction(f.action(aid, slot))
    for aid in ("frame.next_labelled", "mask.propagate_forward", "mask.accept_all", "view.fit"):
        assert any(aid_text == specs[aid].text.replace("&", "").rstrip("…") for aid_text, _ in f.shortcut_table())
    label_frame(view, 0, masks[0])
    label_frame(view, 5, masks[5])
    label_frame(view, 9, masks[9])
    view.seek(0)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert view.current_frame == 5
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert view.current_frame == 9
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert view.current_frame == 5
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert view.current_frame == 6
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert view.current_frame == 4
    view.seek(5)
    view.set_propagate_count(0)
    qtbot.keyClick(view, Qt.Key.Key_G)
    assert view.wait_proposals()
    assert view.proposed_frames() == [6, 7, 8]
    view.seek(7)
    qtbot.keyClick(view, Qt.Key.Key_A)
    assert view.mask_kind(7) == "FINAL"
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    assert view.proposed_frames() == []
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom_factor() == pytest.approx(1.0, rel=0.05)
    assert "100 %" in view.toolbar.zoom_label.text()
    qtbot.keyClick(view, Qt.Key.Key_F)
    assert view.zoom_factor() != pytest.approx(1.0, rel=0.05)


def test_bench_label_runs_and_prints_one_json_line(capsys):
    import json

    from lusapp.gui import bench_label

    assert bench_label.main(["--frames", "11", "--size", "120x160"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("scratch", "copy_prev", "propagate", "interpolate"):
        assert out[name]["keyframes"] == 3 and out[name]["ops"] > 0 and 0 <= out[name]["dice_keyframes"] <= 1
    assert out["propagate"]["labelled_frames"] > out["copy_prev"]["labelled_frames"]
    assert out["interpolate"]["labelled_frames"] == 11  # keyframes 0, 5, 10 and the 8 frames between
