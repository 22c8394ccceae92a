"""Store safety: atomic writes survive interruption, single-writer lock, damaged/new documents, migration."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lusapp.core.errors import DamagedDocument, SchemaTooNew, StoreError, StoreLocked
from lusapp.core.patient import SCHEMA_VERSION, ScoreEntry
from lusapp.store import Store
from lusapp.store import durable

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path):
    s = Store.create(tmp_path / "store")
    yield s
    s.close()


def test_interrupted_write_leaves_the_old_document_intact(store, monkeypatch):
    p = store.new_patient("P-1")
    doc_path = store.patient_dir("P-1") / "patient.json"
    before = doc_path.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable.os, "replace", crash)
    p.zones["R1"].clinician_score = ScoreEntry.now(4, "dr_a")
    with pytest.raises(StoreError, match="previous version is kept"):
        store.save_patient(p, "dr_a")
    monkeypatch.undo()
    assert doc_path.read_bytes() == before
    assert [f.name for f in doc_path.parent.iterdir() if f.name.endswith(".tmp")] == []
    assert p.revision == 0, "in-memory revision is not advanced by a failed save"
    assert store.load_patient("P-1").zones["R1"].clinician_score is None
    store.save_patient(p, "dr_a")  # a retry after the fault succeeds
    assert store.load_patient("P-1").zones["R1"].clinician_score.value == 4


def _holder(store_dir: Path) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys
        from lusapp.store import Store
        s = Store.open({str(store_dir)!r})
        print("ready", flush=True)
        sys.stdin.read()
        s.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_store_held_by_another_process_raises_store_locked_naming_its_pid(store):
    root = store.root
    store.close()
    proc = _holder(root)
    try:
        with pytest.raises(StoreLocked) as info:
            Store.open(root)
        assert f"process {proc.pid}" in str(info.value) and str(root) in str(info.value)
        with Store.open(root, readonly=True) as ro:  # readers are never blocked
            assert ro.list_patients() == []
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
    with Store.open(root) as again:
        assert again.list_patients() == []


def test_lock_of_a_crashed_process_is_taken_over(store):
    root = store.root
    store.close()
    proc = _holder(root)
    proc.kill()
    proc.wait(timeout=20)
    assert json.loads((root / ".lock").read_text())["pid"] == proc.pid  # stale lock file left behind
    with Store.open(root) as s:
        assert json.loads((root / ".lock").read_text())["pid"] == os.getpid()
        s.new_patient("P-9")


def test_second_writer_in_the_same_process_is_refused(store):
    with pytest.raises(StoreLocked, match=f"process {os.getpid()}"):
        Store.open(store.root)


@pytest.mark.parametrize("content, message", [
    (b'{"schema_version": 1, "patient_id": "P-1", "zon', "is not valid JSON"),
    (b"", "is empty"),
    (b"[1, 2]", "should hold a JSON dict"),
    (b'{"schema_version": 1, "patient_id": "P-1", "exam_date": 20260101, "zones": {}}', "invalid content: exam_date"),
    (b"\xff\xfe garbage", "not UTF-8"),
])
def test_damaged_patient_document_names_the_file(store, content, message):
    store.new_patient("P-1")
    path = store.patient_dir("P-1") / "patient.json"
    path.write_bytes(content)
    with pytest.raises(DamagedDocument, match=message) as info:
        store.load_patient("P-1")
    assert str(path) in str(info.value)
    summary = store.list_patients()[0]
    assert summary.patient_id == "P-1" and str(path) in summary.problem


def test_documents_from_a_newer_lusapp_are_refused(store):
    store.new_patient("P-1")
    path = store.patient_dir("P-1") / "patient.json"
    doc = json.loads(path.read_text())
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaTooNew, match="schema_version 99"):
        store.load_patient("P-1")
    meta = store.root / "store.json"
    meta.write_text(json.dumps({"format": "lusapp-store", "schema_version": 7}))
    with pytest.raises(SchemaTooNew, match="update LUSApp"):
        Store.open(store.root, readonly=True)


V0_DOC = {
    "patient_id": "OLD-1", "exam_date": "2025-03-01", "protocol": "lus12",
    "clinical": {"age": 55, "sex": "F", "symptoms": {"fever": True}},
    "zones": {z: {"media": None, "score": None} for z in
              ("R1", "R2", "R3", "R4", "R5", "R6", "L1", "L2", "L3", "L4", "L5", "L6")},
    "severity": 2,
}


def test_v0_document_is_migrated_on_load_and_the_original_kept(store):
    doc = json.loads(json.dumps(V0_DOC))
    doc["zones"]["R3"] = {"media": None, "score": 3, "rater": "dr_old", "scored_at": "2025-03-01T10:00:00Z"}
    doc["zones"]["L1"] = {"media": None, "score": 1}
    folder = store.root / "patients" / "OLD-1"
    folder.mkdir(parents=True)
    (folder / "patient.json").write_text(json.dumps(doc))
    p = store.load_patient("OLD-1")
    assert p.schema_version == SCHEMA_VERSION and p.protocol_id == "lus12" and p.scale_id == "0-4"
    assert p.zones["R3"].clinician_score == ScoreEntry(3, "dr_old", "2025-03-01T10:00:00Z")
    assert p.zones["L1"].clinician_score.value == 1 and p.zones["L1"].clinician_score.rater == "unknown"
    assert p.severity.clinician_label == 2 and p.clinical.symptoms == {"fever": True}
    assert json.loads((folder / "patient.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert json.loads((folder / "patient.v0.json").read_text()) == doc
    assert store.audit("OLD-1")[-1]["action"] == "migrate"
    assert store.load_patient("OLD-1") == p


def test_broken_v0_document_is_reported_as_damaged(store):
    doc = dict(V0_DOC, zones={"R1": {"score": 9}})
    folder = store.root / "patients" / "OLD-2"
    folder.mkdir(parents=True)
    (folder / "patient.json").write_text(json.dumps(doc))
    with pytest.raises(DamagedDocument, match="OLD-2"):
        store.load_patient("OLD-2")
