"""The review model: what the app holds while a clinician reviews a patient, without Qt.

Frames decoded ahead of the playhead (``frame_cache``), the masks of a clip and which of them are the
clinician's (``mask_state``, read from the store through ``mask_source``), the FINAL masks edited in this
session and what is unsaved (``final_edits``: one owner, shared by the clip view and the session;
``unsaved``: writes them), and the pure
computations the views show (``overlay``: a label map to RGBA; ``measures``: the measures table of a zone).
``lusapp.gui`` wires these to widgets and worker threads; everything here runs and is tested headless
(an import-linter contract keeps Qt and pyqtgraph out).
"""
