"""Bundles: round trip, checksum refusal, missing key/file refusal, shape mismatch refusal."""

from __future__ import annotations

import json

import pytest
import torch

from lusapp.core.errors import BundleError
from lusapp.model.bundle import load_bundle, read_manifest, save_bundle
from media_files import make_bundle, tiny_networks


def make_modules(clin_dim=6):
    return tiny_networks(seed=1, clin_dim=clin_dim)


def bundle_and_networks(path, version="1.0.0", **extra):
    """(bundle folder, the networks saved in it)."""
    networks = make_modules()
    return make_bundle(path, version, "tiny", networks, metrics={"dice": 0.5}, **extra), networks


def test_round_trip(tmp_path):
    d, (seg, zone, sev) = bundle_and_networks(tmp_path / "b")
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "weights.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    b = load_bundle(d)
    assert b.version == "1.0.0" and b.input_size == (64, 64) and b.manifest["metrics"] == {"dice": 0.5}
    assert b.manifest["architecture"]["variant"] == "maclr" and b.manifest["architecture"]["feat_dim"] == 16
    x = torch.rand(2, 1, 64, 64)
    seg.eval()
    assert torch.allclose(b.seg(x), seg(x))
    for k, v in sev.state_dict().items():
        assert torch.equal(b.severity.state_dict()[k], v)
    assert not b.seg.training


def test_overwrite_is_atomic_replace(tmp_path):
    bundle_and_networks(tmp_path / "b", version="1.0.0")
    bundle_and_networks(tmp_path / "b", version="1.0.1")
    assert load_bundle(tmp_path / "b").version == "1.0.1"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_flipped_byte_is_refused(tmp_path):
    d, _ = bundle_and_networks(tmp_path / "b")
    w = d / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum") as e:
        load_bundle(d)
    assert "weights.safetensors" in str(e.value)


def test_missing_manifest_key_is_refused(tmp_path):
    d, _ = bundle_and_networks(tmp_path / "b")
    m = json.loads((d / "manifest.json").read_text())
    del m["weights_sha256"]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="weights_sha256") as e:
        load_bundle(d)
    assert "manifest.json" in str(e.value)


@pytest.mark.parametrize("victim", ["manifest.json", "weights.safetensors"])
def test_missing_file_is_refused(tmp_path, victim):
    d, _ = bundle_and_networks(tmp_path / "b")
    (d / victim).unlink()
    with pytest.raises(BundleError, match="missing") as e:
        load_bundle(d)
    assert victim in str(e.value)


def test_garbage_manifest_and_tampered_architecture(tmp_path):
    d, _ = bundle_and_networks(tmp_path / "b")
    good = (d / "manifest.json").read_text()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="parsed"):
        read_manifest(d)
    m = json.loads(good)
    m["architecture"]["seg"]["widths"] = [4, 8, 32]  # shapes no longer fit the weights
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="shape|match"):
        load_bundle(d)


def test_seg_only_bundle_and_bad_fields(tmp_path):
    seg, _, _ = make_modules()
    d = save_bundle(tmp_path / "s", seg, None, None, {"name": "seg", "version": "0.1.0"})
    b = load_bundle(d)
    assert b.zone is None and b.severity is None
    with pytest.raises(ValueError):
        save_bundle(tmp_path / "x", seg, None, None, {"name": "seg", "version": "one"})
    with pytest.raises(ValueError):
        save_bundle(tmp_path / "x", seg, None, None, {"version": "1.0.0"})
