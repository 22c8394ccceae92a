"""model_training trains from de-identified exports as from stores: two sites' exports (different site keys)
merged give the same zones, scores and training masks as their stores, and a tiny stage-1 run reads them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lusapp.export.exporter import export_store
from lusapp.store import Store
from model_training.data import build_index, load_final_masks


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    from model_training.cli import main as cli_main

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("sites")
    out = {}
    for site, seed in (("a", 3), ("b", 4)):
        store = root / f"store_{site}"
        assert cli_main(["synth", "--patients", "2", "--out", str(store), "--seed", str(seed), "--frames-min", "3",
                         "--frames-max", "4", "--size", "96x128"]) == 0
        export = root / f"export_{site}"
        export_store(store, export, True, key_path=root / f"{site}.key")
        out[site] = (store, export)
    return root, out


def test_merged_exports_index_like_their_stores(two_sites):
    _, sites = two_sites
    index = build_index([sites["a"][1], sites["b"][1]])
    stores = [build_index(sites[s][0]) for s in ("a", "b")]
    assert len(index.patients) == 4 == sum(len(s.patients) for s in stores)
    exported = sorted((p.severity, sorted((z, i.score, tuple(i.final_frames)) for z, i in p.zones.items()))
                      for p in index.patients)
    original = sorted((p.severity, sorted((z, i.score, tuple(i.final_frames)) for z, i in p.zones.items()))
                      for s in stores for p in s.patients)
    assert exported == original
    assert not any(p.pid in {q.pid for s in stores for q in s.patients} for p in index.patients)  # pseudonyms
    masks = load_final_masks(index.root, index.zones())
    assert masks and all(m.dtype == np.uint8 and m.max() <= 4 for m in masks.values())
    with Store.open(sites["a"][0], readonly=True) as store:  # one mask, byte for byte
        z = next(z for p in stores[0].patients for z in p.zones.values() if z.final_frames)
        truth = store.load_training_mask(z.pid, z.zone_id, z.final_frames[0])
    assert any(np.array_equal(truth, m) for m in masks.values())
    with pytest.raises(ValueError, match="in both"):
        build_index([sites["a"][1], sites["a"][1]])


def test_tiny_training_reads_two_exports(two_sites):
    from model_training.cli import main as cli_main

    root, sites = two_sites
    out = root / "model"
    rc = cli_main(["train", "--stage", "seg", "--store", str(sites["a"][1]), str(sites["b"][1]), "--out", str(out),
                   "--recipe", "tiny", "--cache-dir", str(root / "cache"), "--seed", "1"])
    assert rc == 0
    assert (root / "model.train_state" / "seg.safetensors").is_file()
