"""Crash safety with one owner of an edited FINAL mask (issue 15): a brush stroke in the clip view is autosaved
from the array the view painted, undo is autosaved too, and the session holds no copy of its own."""

from __future__ import annotations

import numpy as np
import pytest

from gui_clip_support import moving_disc_clip
from lusapp.core.labels import B_LINE
from lusapp.gui.clip_view import ClipView


@pytest.fixture
def wired(qtbot, tmp_path):
    """A session and a clip view wired as ``ClipBinding`` wires them (one ``FinalEdits``; edits autosaved)."""
    from lusapp.gui.session import SessionController
    from lusapp.store import Store

    Store.create(tmp_path / "st").close()
    s = SessionController(rater="dr_a", autosave_ms=50)
    assert s.open_store(tmp_path / "st") and s.new_patient("P1")
    view = ClipView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    view.masks.finals = s.unsaved.finals
    view.maskEdited.connect(lambda z, f, m: s.mask_edited(z, f, "lus-staged-1.2.0"))
    view.maskUnlabelled.connect(s.unlabel_mask)
    view.set_clip("R1", moving_disc_clip(n=3), clip_key="P1/R1/abc")
    yield s, view
    view.shutdown()
    s.close_store()


def test_a_stroke_is_autosaved_from_the_mask_on_screen(qtbot, wired):
    s, view = wired
    view.tool_brush()
    view.set_edit_class(B_LINE)
    view.controller.press(40, 20), view.controller.move(40, 40), view.controller.release(40, 60)
    shown = view.masks.mask_and_kind(0)[0]
    assert s.dirty and s.pending_masks("R1")[0] is shown  # the session reads the view's array, no copy
    qtbot.waitUntil(lambda: not s.dirty, timeout=3000)  # the autosave, as before issue 15
    np.testing.assert_array_equal(s.store.load_mask("P1", "R1", 0, "final"), shown)
    assert s.store.mask_provenance("P1", "R1", "final")[0]["model_version"] == "lus-staged-1.2.0"
    view.set_edit_class(B_LINE)
    view.controller.press(10, 80), view.controller.release(10, 100)  # a second stroke on the saved frame
    assert s.dirty and view.masks.mask_and_kind(0)[0] is shown  # the same array, edited again
    qtbot.waitUntil(lambda: not s.dirty, timeout=3000)
    view.undo()  # undo after the save: the restored mask is saved again
    assert s.dirty
    qtbot.waitUntil(lambda: not s.dirty, timeout=3000)
    np.testing.assert_array_equal(s.store.load_mask("P1", "R1", 0, "final"), view.current_mask())


def test_discarding_shows_what_is_stored(qtbot, wired):
    s, view = wired
    s._timer.setInterval(60_000)  # no autosave: the reviewer throws the edit away
    view.tool_brush()
    view.controller.press(40, 20), view.controller.release(40, 60)
    assert view.mask_kind(0) == "FINAL" and s.dirty
    s.discard_changes()
    assert not s.dirty and view.mask_kind(0) is None and s.store.mask_frames("P1", "R1", "final") == []
