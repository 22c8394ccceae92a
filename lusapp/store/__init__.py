"""Qt-free crash-safe patient store (format: docs/store-format.md)."""

from lusapp.store.patient_folder import PatientFolder, open_patient_folder
from lusapp.store.store import PatientSummary, Store, sha256_file

__all__ = ["Store", "PatientSummary", "PatientFolder", "open_patient_folder", "sha256_file"]
