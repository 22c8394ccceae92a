"""A corpus of hostile inputs, made by the tests: media for ``lusapp probe``, patient folders for import and
``lusapp assess``, damaged stores and model bundles. Every one must be refused (or read, with a warning) by a
typed error that names the file, in bounded time and memory, with a short message; never a crash or hang."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from lusapp.core.errors import LusError, StoreLocked
from lusapp.store import Store

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
MAX_MESSAGE = 1200


# ----------------------------------------------------------------------------- media corpus
def _png_header(w, h, depth=16, colour=0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _huge_png() -> bytes:
    """16384 x 16384 16-bit grey PNG that compresses to almost nothing (a decompression bomb)."""
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (16384 * 2)
    data = b"".join(comp.compress(row) for _ in range(64)) + comp.flush()
    idat = b"IDAT" + data
    end = b"IEND"
    return (_png_header(16384, 16384) + struct.pack(">I", len(data)) + idat + struct.pack(">I", zlib.crc32(idat))
            + struct.pack(">I", 0) + end + struct.pack(">I", zlib.crc32(end)))


def _dicom(path: Path, *, frames_decl=None, frames_data=3, rows=32, cols=40, cut=0, pixels=True):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "US", rows, cols, 1
    ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = "MONOCHROME2", 8, 8, 7
    ds.PixelRepresentation = 0
    if frames_decl is not None:
        ds.NumberOfFrames = frames_decl
    if pixels:
        ds.PixelData = (np.arange(max(frames_data, 1) * max(rows, 1) * max(cols, 1)) % 251).astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    if cut:
        data = path.read_bytes()
        path.write_bytes(data[:-cut])
    assert pydicom  # imported for the side effect of registering handlers


def _media_corpus(d: Path) -> list[tuple[Path, str]]:
    """(file, expectation) with expectation 'bad' (refused) or 'note' (read with a warning)."""
    out: list[tuple[Path, str]] = []

    def put(name: str, data: bytes, expect: str = "bad") -> None:
        p = d / name
        p.write_bytes(data)
        out.append((p, expect))

    rng = np.random.default_rng(0)
    good_png = cv2.imencode(".png", (rng.random((60, 80)) * 255).astype(np.uint8))[1].tobytes()
    good_jpg = cv2.imencode(".jpg", cv2.imread(str(DEMO / "R5.png")))[1].tobytes()
    mp4 = (DEMO / "R1.mp4").read_bytes()
    put("empty.mp4", b"")
    put("empty.png", b"")
    put("text.mp4", b"hello, this is not a video\n" * 20)
    put("text.png", b"just some text\n" * 10)
    put("text.dcm", b"patient report\n" * 10)
    put("random.mp4", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    put("random.png", b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("random.jpg", b"\xff\xd8\xff" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("random.gif", b"GIF89a" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("random.bmp", b"BM" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("random.tif", b"II*\x00" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("random.webp", b"RIFF\x00\x10\x00\x00WEBPVP8 " + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    put("random.avi", b"RIFF\xff\xff\xff\x7fAVI LIST" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    put("random.mkv", b"\x1a\x45\xdf\xa3" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    put("zeros.mp4", bytes(4096))
    put("huge16.png", _huge_png())
    put("zero_size.png", _png_header(0, 0, 8) + b"\x00" * 32)
    put("header_only.png", _png_header(80, 60, 8))
    put("huge.bmp", b"BM" + bytes(16) + struct.pack("<ii", 60000, 60000) + bytes(40))
    put("huge.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + bytes(40))
    put("png_cut.png", good_png[: len(good_png) // 3])
    put("jpg_half.jpg", good_jpg[: len(good_jpg) // 2], "note")
    put("jpg_as.png", good_jpg, "ok")
    put("mp4_cut.mp4", mp4[: len(mp4) // 40])
    put("mp4_ftyp_only.mp4", mp4[:32])
    put("mp4_box_lies.mp4", mp4[:4] + b"ftyp" + b"\xff" * 24 + mp4[32:2000])
    put("noext", rng.integers(1, 256, 2000, dtype=np.uint8).tobytes())
    put("notes.txt", b"text")
    put("dicom_raw_junk", b"\x02\x00\x00\x00" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    _dicom(d / "nopixels.dcm", pixels=False)
    out.append((d / "nopixels.dcm", "bad"))
    _dicom(d / "cut.dcm", cut=600)
    out.append((d / "cut.dcm", "bad"))
    _dicom(d / "nf0.dcm", frames_decl=0, frames_data=3)
    out.append((d / "nf0.dcm", "note"))
    _dicom(d / "rows0.dcm", rows=0, frames_data=1)
    out.append((d / "rows0.dcm", "bad"))
    _dicom(d / "huge.dcm", rows=60000, cols=60000, frames_data=0, pixels=False)
    out.append((d / "huge.dcm", "bad"))
    _dicom(d / "nf_lies.dcm", frames_decl=400, frames_data=2)
    out.append((d / "nf_lies.dcm", "bad"))
    gif_frames = [(np.full((30, 40), 40 * k, np.uint8)) for k in range(5)]
    gif = _gif(gif_frames)
    put("gif_cut.gif", gif[: int(len(gif) * 0.6)], "note")
    os.mkfifo(d / "fifo.mp4")
    out.append((d / "fifo.mp4", "bad"))
    os.mkfifo(d / "fifo.png")
    out.append((d / "fifo.png", "bad"))
    (d / "folder.mp4").mkdir()
    out.append((d / "folder.mp4", "bad"))
    os.symlink("/dev/zero", d / "devzero.mp4")
    out.append((d / "devzero.mp4", "bad"))
    os.symlink(d / "nothing-here", d / "dangling.png")
    out.append((d / "dangling.png", "bad"))
    out.append((d / "missing.mp4", "bad"))
    bad_name = os.fsdecode(bytes(d) + b"/R1\xff.png")
    shutil.copy(DEMO / "R5.png", bad_name)
    out.append((Path(bad_name), "ok"))
    bad_mp4 = os.fsdecode(bytes(d) + b"/R1\xfe.mp4")
    shutil.copy(DEMO / "R1.mp4", bad_mp4)
    out.append((Path(bad_mp4), "ok"))
    return out


def _gif(frames: list[np.ndarray]) -> bytes:
    """A small uncompressed-ish GIF via PIL when available, else via OpenCV's writer is not possible: skip."""
    PIL = pytest.importorskip("PIL.Image")
    imgs = [PIL.fromarray(f) for f in frames]
    import io
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    return buf.getvalue()


def test_probe_survives_the_media_corpus(tmp_path):
    """All files in one `lusapp probe` process: a segfault or hang would lose the whole batch."""
    corpus = _media_corpus(tmp_path)
    assert len(corpus) >= 44
    args = [os.fsencode(str(p)) for p, _ in corpus]
    proc = subprocess.run([sys.executable, "-m", "lusapp.io.probe", *args], cwd=REPO, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    recs = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(recs) == len(corpus)
    handled = 0
    for (path, expect), rec in zip(corpus, recs):
        if expect == "bad":
            assert rec["ok"] is False, (path.name, rec)
            assert rec["error_type"] in ("UnreadableFile", "ZeroFrames", "UnsupportedFormat", "TruncatedFile",
                                         "NotAnImage", "TooLarge"), (path.name, rec)
            assert path.name.encode("utf-8", "replace").decode() in rec["error"] or \
                os.fsencode(path.name).decode("utf-8", "replace") in rec["error"], rec
            assert len(rec["error"]) < MAX_MESSAGE
        else:
            assert rec["ok"] is True, (path.name, rec)
            if expect == "note":
                assert any("truncated" in n or "NumberOfFrames" in n for n in rec.get("notes", [])), rec
        handled += 1
    assert handled == len(corpus)


# ----------------------------------------------------------------------------- patient folders
def _folder(tmp: Path, name: str, clinical=None, scores=None, media=("R1.mp4",), extra=None) -> Path:
    f = tmp / name
    f.mkdir()
    for m in media:
        shutil.copy(DEMO / ("R1.mp4" if m.endswith(".mp4") else "R5.png"), f / m)
    if clinical is not None:
        (f / "clinical.json").write_bytes(clinical if isinstance(clinical, bytes) else json.dumps(clinical).encode())
    if scores is not None:
        (f / "scores.csv").write_bytes(scores)
    if extra:
        extra(f)
    return f


FOLDER_CASES = {
    "deep_json": (b"[" * 200_000 + b"]" * 200_000, None, "clinical.json"),
    "huge_int": (b'{"age": ' + b"9" * 5000 + b"}", None, "clinical.json"),
    "devzero_protocol": ({"protocol_id": "/dev/zero"}, None, "clinical.json"),
    "passwd_protocol": ({"protocol_id": "../../../../etc/passwd"}, None, "clinical.json"),
    "int_protocol": ({"protocol_id": 12}, None, "clinical.json"),
    "list_pid": ({"patient_id": ["x"]}, None, "clinical.json"),
    "bad_pid": ({"patient_id": "../../evil"}, None, "clinical.json"),
    "bad_date": ({"exam_date": "2026-13-45"}, None, "clinical.json"),
    "int_date": ({"exam_date": 20260101}, None, "clinical.json"),
    "clinical_list": ({"clinical": [1, 2]}, None, "clinical.json"),
    "symptoms_list": ({"symptoms": ["fever"]}, None, "clinical.json"),
    "age_text": ({"age": "old"}, None, "clinical.json"),
    "age_huge": ({"age": 10**30}, None, "clinical.json"),
    "severity_9": ({"severity": 9}, None, "clinical.json"),
    "unknown_key": ({"colour": "red"}, None, "clinical.json"),
    "huge_string": (json.dumps({"notes": "x" * 3_000_000}).encode(), None, "clinical.json"),
    "not_utf8": (b'{"notes": "\xff\xfe"}', None, "clinical.json"),
    "top_list": (b"[1]", None, "clinical.json"),
    "csv_huge_field": (None, b"zone,score\nR1," + b"7" * 1_000_000 + b"\n", "scores.csv"),
    "csv_bad_score": (None, b"R1,9\n", "scores.csv"),
    "csv_text_score": (None, b"R1,bad\n", "scores.csv"),
    "csv_dup": (None, b"R1,1\nr1,2\n", "scores.csv"),
    "csv_nul": (None, b"R1,\x001\n", "scores.csv"),
    "csv_not_utf8": (None, b"R1,1\n\xff\xfe\n", "scores.csv"),
}


@pytest.mark.parametrize("case", sorted(FOLDER_CASES))
def test_bad_patient_folder_is_refused_naming_the_file_and_nothing_is_written(tmp_path, case):
    clinical, scores, names = FOLDER_CASES[case]
    folder = _folder(tmp_path, "PAT", clinical, scores)
    with Store.create(tmp_path / "store") as store:
        with pytest.raises(LusError) as info:
            store.import_folder(folder, "dr_a")
        msg = str(info.value)
        assert names in msg and len(msg) < MAX_MESSAGE, msg[:300]
        assert store.list_patients() == []
        assert not any((store.root / "patients").iterdir())


def test_import_with_bad_siblings_is_all_or_nothing(tmp_path):
    def extra(f: Path):
        os.mkfifo(f / "R3.mp4")  # a FIFO named like media
        (f / "R4.mp4").write_text("not a video")
        shutil.copy(DEMO / "R5.png", os.fsdecode(bytes(f) + b"/L1\xff.png"))
    folder = _folder(tmp_path, "PAT2", {"age": 60}, None, ("R1.mp4", "L2.png"), extra)
    with Store.create(tmp_path / "store") as store:
        with pytest.raises(LusError, match="R4.mp4"):
            store.import_folder(folder, "dr_a")
        assert store.list_patients() == [] and not any((store.root / "patients").iterdir())
        (folder / "R4.mp4").unlink()
        pid = store.import_folder(folder, "dr_a")  # a retry after the fix works ("already exists" before)
        p = store.load_patient(pid)
        assert {z for z, r in p.zones.items() if r.media is not None} == {"R1", "L2"}
        entry = next(e for e in store.audit(pid) if e["action"] == "import-folder")
        assert any("R3.mp4" in w and "not a regular file" in w for w in entry["detail"]["warnings"])
        mode = (store.patient_dir(pid) / p.zones["R1"].media.file).stat().st_mode & 0o777
        assert mode == (store.patient_dir(pid) / "patient.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("case", ["devzero_protocol", "int_protocol", "deep_json", "csv_huge_field"])
def test_assess_refuses_bad_folders_without_a_traceback(tmp_path, case, capsys):
    from lusapp.model.assess_cli import assess_main

    clinical, scores, names = FOLDER_CASES[case]
    folder = _folder(tmp_path, "PAT", clinical, scores)
    assert assess_main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert names in err and "Traceback" not in err and len(err) < MAX_MESSAGE


# ----------------------------------------------------------------------------- stores
def _store_with_patients(tmp_path: Path) -> Path:
    with Store.create(tmp_path / "store") as s:
        s.new_patient("P1")
        s.new_patient("P2")
    return tmp_path / "store"


STORE_JSON_CASES = {
    "missing": None,
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "huge_int": b'{"format": "lusapp-store", "schema_version": ' + b"1" * 5000 + b"}",
    "too_new": b'{"format": "lusapp-store", "schema_version": 99}',
    "wrong_format": b'{"format": "other", "schema_version": 1}',
    "not_json": b"\x00\x01garbage",
    "list": b"[]",
    "version_text": b'{"format": "lusapp-store", "schema_version": "1"}',
}


@pytest.mark.parametrize("case", sorted(STORE_JSON_CASES))
def test_damaged_store_json_is_a_typed_error(tmp_path, case):
    root = _store_with_patients(tmp_path)
    if STORE_JSON_CASES[case] is None:
        (root / "store.json").unlink()
    else:
        (root / "store.json").write_bytes(STORE_JSON_CASES[case])
    with pytest.raises(LusError) as info:
        Store.open(root)
    assert "store" in str(info.value) and len(str(info.value)) < MAX_MESSAGE


PATIENT_JSON_CASES = {
    "deep": b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000,
    "huge_int": b'{"schema_version": ' + b"1" * 5000 + b"}",
    "devzero_protocol": None,  # built below from a valid document
    "passwd_protocol": None,
    "int_protocol": None,
    "huge_string": None,
    "empty": b"",
    "truncated": b'{"schema_version": 1, "patient_id": "P2"',
}


@pytest.mark.parametrize("case", sorted(PATIENT_JSON_CASES))
def test_one_damaged_patient_does_not_hide_the_others(tmp_path, case):
    root = _store_with_patients(tmp_path)
    doc_path = root / "patients" / "P2" / "patient.json"
    data = PATIENT_JSON_CASES[case]
    if data is None:
        doc = json.loads(doc_path.read_text())
        doc.update({"devzero_protocol": {"protocol_id": "/dev/zero"},
                    "passwd_protocol": {"protocol_id": "../../../../etc/passwd"},
                    "int_protocol": {"protocol_id": 12},
                    "huge_string": {"notes": 3, "exam_date": "x" * 5_000_000}}[case])
        data = json.dumps(doc).encode()
    doc_path.write_bytes(data)
    with Store.open(root) as store:
        listed = {p.patient_id: p.problem for p in store.list_patients()}
        assert listed["P1"] == ""
        assert "patient.json" in listed["P2"] and len(listed["P2"]) < MAX_MESSAGE, listed["P2"][:300]
        with pytest.raises(LusError):
            store.load_patient("P2")


def test_links_out_of_the_store_are_refused(tmp_path):
    root = _store_with_patients(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    with Store.open(root) as store:
        store.add_media("P1", "R1", DEMO / "R5.png", "dr_a")
        (store.patient_dir("P1") / "masks").mkdir(exist_ok=True)
        os.symlink(outside, store.patient_dir("P1") / "masks" / "R1")
        with pytest.raises(LusError, match="outside the store"):
            store.save_mask("P1", "R1", 0, np.zeros((4, 4), np.uint8), "final", "dr_a")
        shutil.copytree(root / "patients" / "P2", outside / "P3")
        os.symlink(outside / "P3", root / "patients" / "P3")
        problems = {p.patient_id: p.problem for p in store.list_patients()}
        assert "outside the store" in problems["P3"]
        with pytest.raises(LusError, match="outside the store"):
            store.save_mask("P3", "R1", 0, np.zeros((4, 4), np.uint8), "final", "dr_a")
    assert list(outside.rglob("*.png")) == []


def test_lock_cases(tmp_path):
    root = _store_with_patients(tmp_path)
    s1 = Store.open(root)
    try:
        with pytest.raises(StoreLocked):  # same process, second writer
            Store.open(root)
        (root / ".lock").unlink()  # someone deletes the lock file while the writer runs
        with pytest.raises(StoreLocked):
            Store.open(root)
        ro = Store.open(root, readonly=True)  # viewing stays possible
        assert [p.patient_id for p in ro.list_patients()] == ["P1", "P2"]
        ro.close()
    finally:
        s1.close()
    (root / ".lock").unlink(missing_ok=True)
    (root / ".lock").mkdir()
    with pytest.raises(StoreLocked, match=r"\.lock.*not a plain lock file"):
        Store.open(root)
    (root / ".lock").rmdir()
    Store.open(root).close()


def test_read_only_store_is_a_typed_error_and_opens_read_only(tmp_path, monkeypatch):
    import errno

    from lusapp.core.errors import StoreReadOnly
    from lusapp.store import lock as lockmod

    root = _store_with_patients(tmp_path)
    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(lockmod.os, "open", ro_open)
    with pytest.raises(StoreReadOnly, match=r"\.lock.*read-only"):
        Store.open(root)
    monkeypatch.undo()
    with Store.open(root, readonly=True) as ro:
        assert len(ro.list_patients()) == 2


FSIZE_SCRIPT = r"""
import resource, sys, json
from pathlib import Path
from lusapp.store import Store
from lusapp.core.errors import StoreFull
from lusapp.core.patient import ScoreEntry
root, src, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = Store.open(root)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
out = {}
try:
    s.add_media("P1", "R1", src, "dr_a")
    out["media"] = "ok"
except StoreFull as e:
    out["media"] = str(e)
p = s.load_patient("P1")
p.zones["R2"].clinician_score = ScoreEntry.now(3, "dr_a")
try:
    s.save_patient(p, "dr_a")
    out["save"] = "ok"
except StoreFull as e:
    out["save"] = str(e)
print(json.dumps(out))
"""


def test_file_size_limit_gives_typed_errors_and_loses_no_audit_entry(tmp_path):
    root = _store_with_patients(tmp_path)
    with Store.open(root) as s:  # make the audit log larger than the limit: its next append fails
        for k in range(40):
            s.save_mask("P2", "R1", k, np.zeros((8, 8), np.uint8), "final", "dr_a")
    limit = (root / "audit.log").stat().st_size - 10
    before = (root / "patients" / "P1" / "patient.json").read_bytes()
    proc = subprocess.run([sys.executable, "-c", FSIZE_SCRIPT, str(root), str(DEMO / "R1.mp4"), str(limit)],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert "disk full or file-size limit" in out["media"] and "nothing half-written" in out["media"]
    assert "disk full or file-size limit" in out["save"]
    assert (root / "patients" / "P1" / "patient.json").read_bytes() == before  # no change without its audit
    with Store.open(root) as s:
        assert s.list_patients()[0].problem == "" and s.load_patient("P1").zones["R1"].media is None
        assert not list((root / ".journal").iterdir())


# ----------------------------------------------------------------------------- bundles
BUNDLE = REPO / "resources" / "models" / "lus-staged-1.1.0"


def _bundle_case(tmp_path: Path, case: str) -> Path:
    d = tmp_path / "b"
    shutil.copytree(BUNDLE, d)
    m = json.loads((d / "manifest.json").read_text())
    if case == "wide":
        m["architecture"]["seg"]["widths"] = [20000] * len(m["architecture"]["seg"]["widths"])
    elif case == "deep":
        (d / "manifest.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
        return d
    elif case == "huge_int":
        (d / "manifest.json").write_bytes(b'{"format": ' + b"1" * 5000 + b"}")
        return d
    elif case == "link_out":
        outside = tmp_path / "weights.safetensors"
        shutil.move(d / "weights.safetensors", outside)
        os.symlink(outside, d / "weights.safetensors")
    elif case == "cut":
        w = d / "weights.safetensors"
        w.write_bytes(w.read_bytes()[:1000])
        m["weights_sha256"] = __import__("hashlib").sha256(w.read_bytes()).hexdigest()
    elif case == "missing_key":
        m.pop("weights_sha256")
    elif case == "path_weights":
        m["weights_file"] = "../../etc/passwd"
    (d / "manifest.json").write_text(json.dumps(m))
    return d


@pytest.mark.parametrize("case", ["wide", "deep", "huge_int", "link_out", "cut", "missing_key", "path_weights"])
def test_bad_bundles_are_refused_before_allocating(tmp_path, case):
    from lusapp.core.errors import BundleError
    from lusapp.model.bundle import load_bundle

    d = _bundle_case(tmp_path, case)
    with pytest.raises(BundleError) as info:
        load_bundle(d)
    assert str(d) in str(info.value) and len(str(info.value)) < MAX_MESSAGE
