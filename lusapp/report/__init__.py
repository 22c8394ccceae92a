"""The patient report: one or two A4 pages (PDF) built from the store, Qt-free.

- :mod:`lusapp.report.content`: what the report shows, gathered from a store patient (opened read-only) or a
  plain patient folder: scores, findings, measures from the stored masks, a key frame per zone with its masks
  overlaid, severity, clinical information, raters, times, model version (``gather_store`` / ``gather_folder``
  / ``gather_path``).
- :mod:`lusapp.report.pdf`: renders that content with fpdf2 (``render_pdf``, ``write_report``: temporary file,
  then rename).
- :mod:`lusapp.report.cli`: ``lusapp report PATIENT -o report.pdf``.

Layer: above ``lusapp.model`` (it uses the Qt-free, torch-free ``lusapp.model.measures``), below ``lusapp.gui``
(``File > Export report...``). The same store gives the same PDF: nothing in it depends on the clock (the PDF
creation date is the latest time recorded in the patient's document).
"""

NOT_A_MEDICAL_DEVICE = "Not a medical device: research software; check every finding on the images."
