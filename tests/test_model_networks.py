"""SegNet / ZoneScorer / SeverityNet: shapes, VGG naming, masking, attention, permutation invariance."""

from __future__ import annotations

import pytest
import torch

from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer, build_modules

torch.manual_seed(0)


def tiny_seg() -> SegNet:
    return SegNet(widths=(4, 8, 16), convs=(1, 1, 1))


def test_segnet_shapes_and_features():
    net = tiny_seg().eval()
    x = torch.rand(3, 1, 64, 64)
    logits, feats = net.forward_with_features(x)
    assert logits.shape == (3, 5, 64, 64)
    assert feats.shape == (3, 16) == (3, net.feat_dim)
    assert torch.allclose(net.frame_features(x), feats, atol=1e-6)
    assert torch.allclose(net(x), logits, atol=1e-6)


def test_segnet_vgg_state_dict_naming_and_skips():
    net = SegNet(widths=(16, 32, 64, 128), convs=(1, 2, 2, 2), stem=1)
    sd = net.state_dict()
    # features.0 conv, features.1 BN, features.2 ReLU, features.3 pool, features.4 next conv ...
    assert "features.0.weight" in sd and sd["features.0.weight"].shape == (16, 1, 3, 3)
    assert "features.1.running_mean" in sd
    assert isinstance(net.features[2], torch.nn.ReLU) and isinstance(net.features[3], torch.nn.MaxPool2d)
    assert sd["features.4.weight"].shape == (32, 16, 3, 3)
    for i in net.skip_indices:
        assert isinstance(net.features[i], torch.nn.ReLU)
        assert isinstance(net.features[i + 1], torch.nn.MaxPool2d)
    assert len(net.skip_indices) == 3
    rebuilt = SegNet(**net.config())
    assert rebuilt.state_dict().keys() == sd.keys()


@pytest.mark.parametrize("stem", [1, 2, 4])
def test_segnet_stem_keeps_full_resolution(stem):
    net = SegNet(widths=(8, 16), convs=(1, 1), stem=stem).eval()
    assert net.features[0].in_channels == stem * stem and net.downsample == 2 * stem
    logits, feats = net.forward_with_features(torch.rand(2, 1, 32, 32))
    assert logits.shape == (2, 5, 32, 32) and feats.shape == (2, 16)
    assert SegNet(**net.config()).config() == net.config()
    # the default network: stem 2, feature dimension 256
    default = SegNet()
    assert default.stem == 2 and default.feat_dim == 256 and default.features[0].in_channels == 4


def test_zone_scorer_masked_temporal_pool():
    zs = ZoneScorer(8).eval()
    f = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = zs(f, mask)
    assert out.shape == (2, 5)
    f2 = f.clone()
    f2[0, 3:] = 1e6  # padding frames must not matter
    assert torch.allclose(zs(f2, mask), out)
    assert torch.allclose(zs(f[:1, :3]), out[:1], atol=1e-6)


def _sev(variant="maclr", gated=True):
    return SeverityNet(feat_dim=8, clin_dim=6, embed_dim=16, attn_dim=16, variant=variant, gated=gated).eval()


@pytest.mark.parametrize("variant", ["maclr", "mil", "clinical", "concat"])
def test_severity_shapes_and_attention(variant):
    net = _sev(variant)
    f = torch.randn(3, 12, 8)
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, [0, 4, 7]] = False
    out = net(f, mask, torch.rand(3, 6))
    assert out["severity_logits"].shape == (3, 4)
    assert out["zone_logits"].shape == (3, 12, 5)
    assert out["attention"].shape == (3, 12)
    assert torch.allclose(out["attention"].sum(1), torch.ones(3), atol=1e-5)
    assert (out["attention"][1, [0, 4, 7]] == 0).all()
    assert out["u"].shape == out["v"].shape == (3, 64)


@pytest.mark.parametrize("gated", [True, False])
def test_masked_zone_does_not_change_outputs(gated):
    net = _sev(gated=gated)
    f = torch.randn(2, 12, 8)
    clin = torch.rand(2, 6)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[:, 3] = False
    a = net(f, mask, clin)
    f2 = f.clone()
    f2[:, 3] = torch.randn(2, 8) * 100
    b = net(f2, mask, clin)
    f3 = f.clone()
    f3[:, 3] = float("nan")
    c = net(f3, mask, clin)
    for k in ("severity_logits", "attention", "u", "v"):
        assert torch.allclose(a[k], b[k]) and torch.allclose(a[k], c[k])
    # and an unmasked change does change the result (the test can fail)
    f4 = f.clone()
    f4[:, 2] += 5
    assert not torch.allclose(net(f4, mask, clin)["severity_logits"], a["severity_logits"])


def test_permutation_invariance_over_zones():
    net = _sev()
    f = torch.randn(1, 12, 8)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 5] = False
    clin = torch.rand(1, 6)
    perm = torch.randperm(12)
    a = net(f, mask, clin)
    b = net(f[:, perm], mask[:, perm], clin)
    assert torch.allclose(a["severity_logits"], b["severity_logits"], atol=1e-5)
    assert torch.allclose(a["attention"][:, perm], b["attention"], atol=1e-6)


def test_all_zones_missing_is_graceful():
    net = _sev()
    out = net(torch.randn(2, 12, 8), torch.zeros(2, 12, dtype=torch.bool), torch.rand(2, 6))
    assert (out["attention"] == 0).all()
    for v in out.values():
        assert torch.isfinite(v).all()


def test_instance_head_init_from_zone_scorer_and_build():
    zs = ZoneScorer(8)
    net = _sev()
    net.init_zone_head_from(zs)
    f = torch.randn(1, 12, 8)
    zl = net(f, None, torch.rand(1, 6))["zone_logits"]
    assert torch.allclose(zl[0, 0], zs.fc(f[0, 0]), atol=1e-6)
    seg, zone, sev = build_modules({"seg": tiny_seg().config(), "zone": zs.config(), "severity": net.config()})
    assert zone.feat_dim == 8 and sev.variant == "maclr" and seg.feat_dim == 16
    with pytest.raises(ValueError):
        SeverityNet(8, 6, variant="nope")


@pytest.mark.parametrize("on_embed", [False, True])
def test_dual_supervision_reaches_the_shared_embedding_only_with_instance_on_embed(on_embed):
    """With a frozen encoder the zone-score CE must shape what the bag is built from (h), or DS-MIL == A-MIL."""
    zs = ZoneScorer(8)
    net = SeverityNet(8, 6, embed_dim=8, attn_dim=8, proj_dim=8, clin_hidden=8, instance_on_embed=on_embed)
    net.init_zone_head_from(zs)
    f = torch.randn(1, 12, 8)
    out = net(f, None, torch.rand(1, 6))
    assert torch.allclose(out["zone_logits"][0, 0], zs.fc(f[0, 0]), atol=1e-6)  # starts as the stage-2 scorer
    target = torch.randint(0, 5, (12,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):  # the zero-initialised h-part of W_z opens the path after the first step
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(f, None, torch.rand(1, 6))["zone_logits"][0], target).backward()
        opt.step()
    grad = net.embed[0].weight.grad
    assert (grad is not None and grad.abs().sum() > 0) == on_embed
    _, _, rebuilt = build_modules({"seg": tiny_seg().config(), "zone": zs.config(), "severity": net.config()})
    assert rebuilt.instance_on_embed == on_embed
    rebuilt.load_state_dict(net.state_dict())  # same shapes
