"""Kill -9 a store writer at random moments; after each kill the store must open, every document validate,
no confirmed operation be lost and no orphan (temporary file, unrecorded mask, unreferenced media) be taken for
data. ``LUSAPP_CRASH_KILLS`` sets the number of kills (default 60; more in a slow run)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lusapp.store import Store
from lusapp.store.masks import read_labels

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PIDS = ("P1", "P2")
ZONES = ("R1", "R2", "L1")


def _sources(folder: Path) -> list[Path]:
    out = []
    for k in range(3):
        img = np.full((40, 48), 40 + 60 * k, np.uint8)
        img[5 + k:20, 10:30] = 200
        path = folder / f"src{k}.png"
        cv2.imwrite(str(path), img)
        out.append(path)
    return out


def _writer(root: Path, log_fd: int, sources: list[Path], seed: int) -> None:
    """Child: random store operations forever; logs 'start' before and 'done' after each one."""
    rng = random.Random(seed)
    store = Store.open(root)

    def log(kind: str, rec: dict) -> None:
        os.write(log_fd, (json.dumps(dict(rec, phase=kind)) + "\n").encode())

    n = 0
    while True:
        n += 1
        pid, zone = rng.choice(PIDS), rng.choice(ZONES)
        what = rng.choice(("media", "mask", "mask", "score"))
        if what == "media":
            src = rng.choice(sources)
            rec = {"op": "media", "pid": pid, "zone": zone, "src": src.name}
            log("start", rec)
            store.add_media(pid, zone, src, "crash")
        elif what == "mask":
            value = n % 5
            frames = sorted(rng.sample(range(6), rng.randint(1, 3)))
            rec = {"op": "mask", "pid": pid, "zone": zone, "frames": frames, "value": value}
            log("start", rec)
            store.save_masks(pid, zone, {f: np.full((40, 48), value, np.uint8) for f in frames}, "final", "crash")
        else:
            value = n % 5
            rec = {"op": "score", "pid": pid, "zone": zone, "value": value}
            log("start", rec)
            p = store.load_patient(pid)
            from lusapp.core.patient import ScoreEntry
            p.zones[zone].clinician_score = ScoreEntry.now(value, "crash")
            store.save_patient(p, "crash")
        log("done", rec)


def _replay(lines: list[dict], sources: dict[str, str], confirmed: dict) -> dict:
    """Fold one child's log into ``confirmed`` (last confirmed value per key); returns the in-flight operation's
    keys (it may or may not have completed before the kill)."""
    last_start: dict = {}
    for rec in lines:
        keys = _keys(rec, sources)
        if rec["phase"] == "start":
            last_start = keys
        else:
            confirmed.update(keys)
            last_start = {}
    return last_start


def _keys(rec: dict, sources: dict[str, str]) -> dict:
    if rec["op"] == "media":
        out = {("media", rec["pid"], rec["zone"]): sources[rec["src"]]}
        for f in range(6):  # masks of the zone are set aside with the old media
            out[("mask", rec["pid"], rec["zone"], f)] = None
        return out
    if rec["op"] == "mask":
        return {("mask", rec["pid"], rec["zone"], f): rec["value"] for f in rec["frames"]}
    return {("score", rec["pid"], rec["zone"]): rec["value"]}


def _state(store: Store, key: tuple):
    if key[0] == "media":
        ref = store.load_patient(key[1]).zones[key[2]].media
        return None if ref is None else ref.sha256
    if key[0] == "score":
        s = store.load_patient(key[1]).zones[key[2]].clinician_score
        return None if s is None else s.value
    m = store.load_mask(key[1], key[2], key[3], "final")
    return None if m is None else int(m[0, 0])


def _check_no_orphans(store: Store) -> None:
    root = store.root
    assert not any((root / ".journal").iterdir()) if (root / ".journal").exists() else True
    stray = [p for p in root.rglob("*") if p.name.endswith((".tmp", ".old")) and ".journal" not in p.parts]
    assert stray == [], f"temporary files left among the data: {stray[:3]}"
    seen = [(e["detail"]["op"], e["action"]) for e in store.audit()
            if isinstance(e.get("detail"), dict) and "op" in e["detail"]]
    assert len(seen) == len(set(seen)), "an audit entry was written twice"
    for pid in PIDS:
        patient = store.load_patient(pid)  # validates
        folder = store.patient_dir(pid)
        referenced = {z.media.file for z in patient.zones.values() if z.media is not None}
        on_disk = {p.relative_to(folder).as_posix() for p in (folder / "media").glob("*")} \
            if (folder / "media").exists() else set()
        assert on_disk == referenced, f"{pid}: media files {on_disk - referenced} are not referenced"
        assert set(store.verify_media(pid)) == {z for z, r in patient.zones.items() if r.media is not None}
        for zone in ZONES:
            zdir = folder / "masks" / zone
            if not zdir.exists():
                continue
            labels = read_labels(zdir)
            for kind in ("original", "final"):
                frames = {str(f) for f in store.mask_frames(pid, zone, kind)}
                assert frames == set(labels["frames"][kind]), f"{pid}/{zone}: PNGs without provenance or v.v."


def test_kill_during_writes_loses_no_confirmed_operation(tmp_path):
    kills = int(os.environ.get("LUSAPP_CRASH_KILLS", "60"))
    root = tmp_path / "store"
    sources = _sources(tmp_path)
    from lusapp.store.store import sha256_file
    digests = {p.name: sha256_file(p) for p in sources}
    with Store.create(root) as s:
        for pid in PIDS:
            s.new_patient(pid, actor="crash")
    log_path = tmp_path / "ops.log"
    rng = random.Random(12)
    t0 = time.monotonic()
    survived = recovered_ops = n_ops = completed = 0
    confirmed: dict = {}
    for k in range(kills):
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child is killed
            try:
                _writer(root, fd, sources, seed=k)
            finally:
                os._exit(0)
        os.close(fd)
        time.sleep(rng.uniform(0.005, 0.12))
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
        log_path.unlink()
        n_ops += sum(1 for r in lines if r["phase"] == "done")
        inflight = _replay(lines, digests, confirmed)
        with Store.open(root) as store:
            recovered_ops += len(store.recovered)
            assert [p.problem for p in store.list_patients()] == ["", ""]
            for key, value in confirmed.items():
                got = _state(store, key)
                assert got == value or (key in inflight and got == inflight[key]), \
                    f"kill {k}: {key} is {got!r}, the confirmed value is {value!r}; " + str(
                        [r for r in lines if r["pid"] == key[1] and r["zone"] == key[2]][-6:])
            _check_no_orphans(store)
            for key in inflight:  # what the interrupted operation left (all of it or none of it)
                confirmed[key] = _state(store, key)
            done = [confirmed[key] == v for key, v in inflight.items()]
            completed += bool(inflight) and all(done)
        survived += 1
        assert time.monotonic() - t0 < 120, "crash test too slow"
    assert survived == kills
    print(f"\nkills {kills}, survived {survived}, confirmed operations {n_ops} (none lost), interrupted "
          f"operations completed {completed}, journal entries handled at open {recovered_ops}, "
          f"{time.monotonic() - t0:.1f} s")
