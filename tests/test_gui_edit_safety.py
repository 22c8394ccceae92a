"""Edits must be safe (issue 11): undo also withdraws "labelled", unlabel / revert to the model, the tool falls
back to pan/zoom on a zone change, a plain click of a drag tool edits nothing, a polygon's outline takes the
class its fill will have, class hotkeys apart from the score keys, and the session deletes withdrawn FINALs."""

from __future__ import annotations

import numpy as np

from gui_clip_support import moving_disc_clip
from lusapp.core.labels import A_LINE, CLASS_COLORS, CONSOLIDATION, PLEURAL_LINE
from lusapp.review.mask_source import MemoryMaskSource


def test_plain_click_of_a_drag_tool_changes_nothing(view):
    view.set_clip("R1", moving_disc_clip(n=3))
    hints, edits = [], []
    view.statusMessage.connect(hints.append)
    view.maskEdited.connect(lambda *a: edits.append(a))
    for tool in ("brush", "eraser", "line"):
        view.set_tool(tool)
        view.controller.set_size(40)
        view.controller.click(20, 20)
    assert edits == [] and view.mask_kind(0) is None and view.undo_stack.count() == 0
    assert any("drag to draw" in h for h in hints)


def test_tool_falls_back_to_pan_on_zone_change(view):
    view.set_clip("R1", moving_disc_clip(n=3))
    view.tool_eraser()
    msgs = []
    view.statusMessage.connect(msgs.append)
    view.set_clip("R2", moving_disc_clip(n=3))
    assert view.controller.tool == "pan" and view.toolbar.buttons["pan"].isChecked()
    assert any("Pan/zoom" in m for m in msgs)


def test_undo_of_first_stroke_and_of_mark_labelled_withdraw_final(view):
    view.set_clip("R1", moving_disc_clip(n=4))
    assert view.frames.wait_until_cached()
    unl, edits = [], []
    view.maskUnlabelled.connect(lambda z, f: unl.append((z, f)))
    view.maskEdited.connect(lambda z, f, m: edits.append((z, f)))
    view.tool_brush()
    c = view.controller
    c.press(10, 10), c.move(20, 12), c.release(30, 14)
    assert view.mask_kind(0) == "FINAL" and view.labelled_frames() == [0]
    view.undo()
    assert view.mask_kind(0) is None and view.labelled_frames() == [] and unl == [("R1", 0)]
    view.redo()
    assert view.mask_kind(0) == "FINAL" and view.current_mask()[12, 20] == CONSOLIDATION
    view.seek(2)
    assert view.mark_labelled() and view.labelled_frames() == [0, 2]
    view.undo()
    assert view.labelled_frames() == [0] and unl[-1] == ("R1", 2)
    view.redo()
    assert view.labelled_frames() == [0, 2] and edits[-1] == ("R1", 2)


def test_unlabel_reverts_to_the_model_and_is_undoable(view):
    clip = moving_disc_clip(n=4)
    final = np.zeros((clip.height, clip.width), np.uint8)
    final[5:10, 5:30] = PLEURAL_LINE
    src = MemoryMaskSource({1: final})
    view.set_clip("L1", clip, src)
    assert view.frames.wait_until_cached()
    unl = []
    view.maskUnlabelled.connect(lambda z, f: unl.append((z, f)))
    view.seek(0)
    assert not view.unlabel_frame()  # not labelled: nothing to revert
    view.seek(1)
    assert view.mask_kind(1) == "FINAL"
    view.toolbar.unlabel_btn.click()
    assert view.mask_kind(1) is None and view.labelled_frames() == [] and unl == [("L1", 1)]
    assert 1 not in src.final_frames()
    view.undo()
    assert view.mask_kind(1) == "FINAL"
    np.testing.assert_array_equal(view.current_mask(), final)


def test_polygon_outline_follows_the_class(view):
    view.set_clip("R1", moving_disc_clip(n=2))
    view.tool_polygon()
    c = view.controller
    view.set_edit_class(A_LINE)
    for x, y in [(10, 10), (40, 10), (40, 40)]:
        c.click(x, y)
    view.set_edit_class(CONSOLIDATION)  # mid-polygon
    assert c.preview.opts["pen"].color().getRgb()[:3] == CLASS_COLORS[CONSOLIDATION]
    assert c.close_polygon()
    assert view.current_mask()[20, 35] == CONSOLIDATION


def test_class_hotkeys_are_not_the_score_keys():
    from lusapp.gui.actions import check_conflicts, load_specs

    specs = load_specs()
    assert not check_conflicts(specs)
    for c in range(1, 5):
        keys = specs[f"tool.class{c}"].keys
        assert keys and all(k not in ("0", "1", "2", "3", "4") for k in keys)


def test_session_deletes_a_withdrawn_final(qtbot, tmp_path):
    from lusapp.gui.session import SessionController
    from lusapp.store import Store

    Store.create(tmp_path / "st").close()
    s = SessionController(rater="dr", autosave_ms=10_000)
    assert s.open_store(tmp_path / "st") and s.new_patient("U-1")
    s.queue_mask("R1", 3, np.ones((8, 8), np.uint8), "final")
    s.unlabel_mask("R1", 3)  # withdrawn before it was saved: nothing is written
    assert s.pending_masks("R1") == {} and s.dirty
    assert s.save() and s.store.mask_frames("U-1", "R1", "final") == []
    s.queue_mask("R1", 4, np.ones((8, 8), np.uint8), "final")
    assert s.save() and s.store.mask_frames("U-1", "R1", "final") == [4]
    errors = []
    s.errorRaised.connect(lambda t, m: errors.append(m))
    s.unlabel_mask("R1", 4)
    assert s.save()
    if hasattr(s.store, "delete_mask"):
        assert s.store.mask_frames("U-1", "R1", "final") == []
    else:  # the store cannot delete yet: the user is told, in a sentence
        assert errors and "cannot delete" in errors[0]
    s.close_store()


def test_assessment_shown_out_of_date_after_a_change(qtbot, tmp_path):
    from types import SimpleNamespace

    from lusapp.core.patient import ClinicalInfo
    from lusapp.gui.model_ctl import ModelController
    from lusapp.gui.session import SessionController
    from lusapp.gui.severity_panel import SeverityPanel
    from lusapp.store import Store

    Store.create(tmp_path / "st").close()
    s = SessionController(rater="dr", autosave_ms=10_000)
    assert s.open_store(tmp_path / "st") and s.new_patient("A-1")
    sp = SeverityPanel(s, ModelController())
    qtbot.addWidget(sp)
    sp.show()
    assess = SimpleNamespace(severity_probs=[0.1, 0.2, 0.6, 0.1], model_version="m-9", zone_probs={},
                             zone_scores={}, attention={"R1": 1.0})
    s.apply_assessment(assess)
    assert not sp.stale_label.isVisible() and sp.stale_reasons() == []
    s.set_clinical(ClinicalInfo(age=70))
    s.set_clinician_score(3, "R1")
    sp.masks_changed()
    assert sp.stale_label.isVisible() and sp.reassess_button.isVisible()
    assert sp.stale_reasons() == ["the clinical information", "a zone score", "a mask"]
    assert "Out of date" in sp.stale_label.text()
    assess.severity_probs = [0.1, 0.1, 0.7, 0.1]
    s.apply_assessment(assess)  # re-assessed: up to date again
    assert not sp.stale_label.isVisible()
    s.close_store()
