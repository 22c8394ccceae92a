"""Registry: ordering, pinning (argument and environment), invalid bundles listed, publish atomic + no duplicates."""

from __future__ import annotations

import json

import pytest
import torch

from lusapp.core.errors import BundleError
from lusapp.model.bundle import save_bundle
from lusapp.model.networks import SegNet, ZoneScorer
from lusapp.model.registry import ModelRegistry


def put(folder, version, name="m", created=None):
    torch.manual_seed(0)
    seg = SegNet(widths=(4, 8), convs=(1, 1))
    fields = {"name": name, "version": version}
    if created:
        fields["created"] = created
    return save_bundle(folder / f"{name}-{version}", seg, ZoneScorer(seg.feat_dim), None, fields)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("LUSAPP_MODEL_VERSION", raising=False)
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    bundled.mkdir()
    return bundled, user


def test_order_is_semantic_and_newest_is_active(dirs):
    bundled, user = dirs
    put(bundled, "1.2.0")
    put(bundled, "1.10.0")
    put(user, "1.9.1")
    put(user, "1.10.0-rc1", name="rc")
    reg = ModelRegistry(bundled, user)
    vs = reg.versions()
    assert [v.version for v in vs] == ["1.2.0", "1.9.1", "1.10.0-rc1", "1.10.0"]
    assert [v.source for v in vs] == ["bundled", "user", "user", "bundled"]
    version, path, source, manifest = vs[0]
    assert manifest["version"] == version and path.name == "m-1.2.0"
    assert reg.active().version == "1.10.0"
    assert reg.problems == []


def test_pinning_by_argument_and_environment(dirs, monkeypatch):
    bundled, user = dirs
    put(bundled, "1.0.0")
    put(bundled, "2.0.0")
    reg = ModelRegistry(bundled, user)
    assert reg.active("1.0.0").version == "1.0.0"
    assert reg.active("m-1.0.0").version == "1.0.0"
    monkeypatch.setenv("LUSAPP_MODEL_VERSION", "1.0.0")
    assert reg.active().version == "1.0.0"
    assert reg.load_active().version == "1.0.0"
    monkeypatch.setenv("LUSAPP_MODEL_VERSION", "3.0.0")
    with pytest.raises(BundleError, match="3.0.0 is not installed"):
        reg.active()


def test_invalid_bundles_are_listed_not_fatal(dirs):
    bundled, user = dirs
    good = put(bundled, "1.0.0")
    bad = put(bundled, "1.1.0")
    w = bad / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 1
    w.write_bytes(bytes(data))
    broken = user / "junk"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{")
    reg = ModelRegistry(bundled, user)
    assert [v.path for v in reg.versions()] == [good]
    msgs = {p.name: m for p, m in reg.problems}
    assert set(msgs) == {"m-1.1.0", "junk"}
    assert "checksum" in msgs["m-1.1.0"] and "manifest.json" in msgs["junk"]
    empty = ModelRegistry(user / "none", user / "none2")
    with pytest.raises(BundleError, match="no valid model bundle"):
        empty.active()


def test_publish_copies_atomically_and_refuses_duplicates(dirs, tmp_path):
    bundled, user = dirs
    put(bundled, "1.0.0")
    src = put(tmp_path / "out", "1.1.0", name="fine tuned")
    reg = ModelRegistry(bundled, user)
    mv = reg.publish(src)
    assert mv.path == user / "fine_tuned-1.1.0" and mv.source == "user"
    assert sorted(p.name for p in user.iterdir()) == ["fine_tuned-1.1.0"]  # no temp leftovers
    assert reg.active().version == "1.1.0"
    with pytest.raises(BundleError, match="already installed"):
        reg.publish(src)
    dup = put(tmp_path / "out2", "1.0.0")
    with pytest.raises(BundleError, match="already installed"):
        reg.publish(dup)
    m = json.loads((src / "manifest.json").read_text())
    m["version"] = "1.2.0"  # the same weights under a new version publish fine
    (src / "manifest.json").write_text(json.dumps(m))
    assert reg.publish(src).version == "1.2.0"


def test_listing_models_and_version_do_not_import_torch():
    """`lusapp --version` and the registry read manifests only; torch (seconds to import) loads with a model."""
    import subprocess
    import sys

    code = ("import sys; from lusapp.cli import main; rc = main(['--version']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("LUSApp ") and "model lus-staged" in proc.stdout
