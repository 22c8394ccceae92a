"""Exports of a store for use elsewhere (Qt-free): a dataset folder, plain or de-identified, with COCO / CVAT
annotations (``exporter``), and DICOM SEG / SR of the FINAL masks and scores (``dicom_objects``).
Format: docs/export-format.md."""
