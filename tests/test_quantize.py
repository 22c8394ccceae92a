"""``python -m model_training quantize`` (model_training/quantize.py): static QDQ int8 versions of a bundle's frame
graphs, the node groups a variant keeps in fp32, the agreement measures against fp32, and a bundle copy with int8
frame graphs (tests/test_onnx_int8.py covers the int8 graphs in a bundle). Tiny random networks; the real
study's numbers are in docs/model-card.md ("int8")."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
numpy_helper = pytest.importorskip("onnx.numpy_helper")
torch = pytest.importorskip("torch")

from lusapp.model.onnx_bundle import open_bundle  # noqa: E402
from media_files import make_bundle, tiny_networks  # noqa: E402
from model_training import quantize as q  # noqa: E402
from model_training.cli import main as training_main  # noqa: E402
from model_training.quantize_study import write_bundle  # noqa: E402


def smooth_frames(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Frames with structure (bright bands at random depths over a gradient, speckle), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    out = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        band = np.exp(-((y - rng.uniform(0.2, 0.8)) / 0.05) ** 2)
        out[i, 0] = np.clip(0.3 * y + 0.6 * band + 0.1 * rng.random((size, size)), 0, 1)
    return out


@pytest.fixture(scope="module")
def frames_graph(tmp_path_factory) -> Path:
    """A SegNet-shaped frames_full graph (4 stages, a findings branch on stage 3) exported as the app's is."""
    from lusapp.model.findings_branch import BranchEnsemble, FindingsBranch
    from lusapp.model.networks import SegNet
    from model_training.export_onnx import FramesGraph, export_segnet

    torch.manual_seed(0)
    seg = SegNet(widths=(4, 8, 16, 32), convs=(1, 1, 1, 1)).eval()
    branch = BranchEnsemble([FindingsBranch(16, 4, 3), FindingsBranch(16, 4, 3)]).eval()
    path = tmp_path_factory.mktemp("int8") / "frames_full.onnx"
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(FramesGraph(export_segnet(seg), branch, True).eval(), (torch.rand(2, 1, 64, 64),),
                          str(path), dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["features", "labels", "branch_logits"],
                          dynamic_axes={k: {0: "n"} for k in ("x", "features", "labels", "branch_logits")})
    return path


def test_agreement_is_the_share_of_equal_pixels_and_the_largest_and_mean_drift():
    ref = {"labels": np.array([[[0, 0], [1, 2]], [[0, 0], [0, 3]]], np.uint8),
           "features": np.array([[1.0, 2.0]]), "branch_logits": np.array([[0.5, -0.5]])}
    got = {"labels": np.array([[[0, 0], [1, 1]], [[0, 4], [0, 3]]], np.uint8),
           "features": np.array([[1.0, 2.5]]), "branch_logits": np.array([[0.4, -0.5]])}
    a = q.agreement(ref, got)
    assert a["labels"] == pytest.approx(6 / 8)
    assert a["labels_fg"] == pytest.approx(2 / 4)  # of the 4 pixels either calls non-background, 2 agree
    assert a["features_max"] == pytest.approx(0.5) and a["features_mean"] == pytest.approx(0.25)
    assert a["branch_logits_max"] == pytest.approx(0.1) and a["branch_logits_mean"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="shape"):
        q.agreement(ref, {**got, "labels": got["labels"][:1]})


def test_passes_needs_99_percent_argmax_and_close_branch_logits_in_every_set():
    def row(labels, branch):
        return {"graphs": {"frames_full": {"sets": {"synthetic": {"labels": 0.999, "branch_logits_max": 0.01},
                                                    "real_dev": {"labels": labels, "branch_logits_max": 0.02}}},
                           "frames_encode": {"sets": {"real_dev": {"branch_logits_max": branch}}}}}

    assert q.passes(row(0.995, 0.05))
    assert not q.passes(row(0.985, 0.05))
    assert not q.passes(row(0.995, 0.5))


def test_node_groups_name_the_first_conv_the_heads_and_the_branch(frames_graph):
    m = onnx.load(str(frames_graph))
    g = q.node_groups(m)
    kinds = {n.name: n.op_type for n in m.graph.node}
    first_conv = next(n.name for n in m.graph.node if n.op_type == "Conv")
    assert g["stem"] == [first_conv] and first_conv in g["encoder"]
    assert [kinds[n] for n in g["head"]] == ["Conv"] and [kinds[n] for n in g["last"]] == ["Conv"]
    assert g["head"][0] not in g["encoder"] and g["last"][0] in g["encoder"]
    branch_ops = {kinds[n] for n in g["branch"]}
    assert {"Conv", "Gemm"} <= branch_ops  # 2 members x (conv1, conv2, fc)
    assert sum(kinds[n] == "Conv" for n in g["branch"]) == 4
    assert not set(g["branch"]) & set(g["encoder"])
    assert set(g["branch_pool"]) < set(g["branch"]) and "Gemm" in {kinds[n] for n in g["branch_pool"]}
    assert not {"Conv", "Relu"} & {kinds[n] for n in g["branch_pool"]}  # pooling and the linear layer only


def test_the_input_is_quantised_over_0_1_without_loss(frames_graph, tmp_path):
    model = onnx.load(str(frames_graph))
    chain = q.input_chain(model)
    assert chain[0] == "x" and len(chain) == 4  # x, then the space-to-depth reshape / transpose / reshape
    first_conv = next(n for n in model.graph.node if n.op_type == "Conv")
    assert first_conv.input[0] == chain[-1]
    dst = tmp_path / "int8.onnx"
    q.quantize_graph(frames_graph, dst, smooth_frames(32, seed=1) * 0.5, "minmax")  # calibration never reaches 1
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(dst)).graph.initializer}
    assert float(init[f"{chain[-1]}_scale"]) == pytest.approx(1 / 255) and int(init[f"{chain[-1]}_zero_point"]) == 0


def test_quantized_graph_loads_in_onnxruntime_and_stays_close_to_fp32(frames_graph, tmp_path):
    calib, test = smooth_frames(48, seed=1), smooth_frames(16, seed=2)
    dst = tmp_path / "int8.onnx"
    kept = q.quantize_graph(frames_graph, dst, calib, "minmax", ("stem", "branch"))
    model = onnx.load(str(dst))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > 0
    qdq_inputs = {i for n in model.graph.node if n.op_type == "Conv" for i in n.input if i.endswith("DequantizeLinear_Output")}
    assert qdq_inputs, "quantised convs read dequantised int8 tensors"
    assert len(kept) > 4  # the stem and the branch's nodes
    ref = q.run_frames(q.session(frames_graph, 1), test)
    got = q.run_frames(q.session(dst, 1), test, batch=5)  # any batch size: the batch axis stays dynamic
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in ref.items()}
    a = q.agreement(ref, got)
    assert a["labels"] >= 0.9
    assert a["features_max"] < 0.1 * float(np.abs(ref["features"]).max())
    assert a["branch_logits_max"] < 0.1 * float(np.abs(ref["branch_logits"]).max()) + 0.05


def test_dedicated_pairs_let_the_nodes_kept_in_fp32_read_the_fp32_tensor(frames_graph, tmp_path):
    calib = smooth_frames(32, seed=1)
    branch_conv = q.node_groups(onnx.load(str(frames_graph)))["branch"]
    for dedicated in (False, True):
        dst = tmp_path / f"int8-{dedicated}.onnx"
        q.quantize_graph(frames_graph, dst, calib, "minmax", ("branch",), dedicated=dedicated)
        nodes = {n.name: n for n in onnx.load(str(dst)).graph.node}
        first = next(nodes[n] for n in branch_conv if n in nodes and nodes[n].op_type == "Conv")
        reads_dq = first.input[0].endswith(("DequantizeLinear_Output", "DequantizeLinear_Output_1"))
        assert reads_dq != dedicated  # shared pair: the int8 round trip; dedicated pairs: the fp32 tensor


def test_quantize_graph_refuses_an_unknown_method_or_node_group(frames_graph, tmp_path):
    with pytest.raises(ValueError, match="calibration method"):
        q.quantize_graph(frames_graph, tmp_path / "a.onnx", smooth_frames(4), "kl")
    with pytest.raises(ValueError, match="node group"):
        q.quantize_graph(frames_graph, tmp_path / "b.onnx", smooth_frames(4), "minmax", ("decoder_only",))


def test_dev_halves_split_whole_groups_and_never_return_test_items():
    items = [SimpleNamespace(part=p, group=g, file=f"{g}{k}") for k, (p, g) in
             enumerate([("dev", "a"), ("dev", "a"), ("dev", "b"), ("dev", "c"), ("test", "d"), ("", "e")])]
    calib, evaluation = q.dev_halves(items)
    assert {i.group for i in calib} == {"a", "c"} and {i.group for i in evaluation} == {"b"}
    assert all(i.part == "dev" for i in calib + evaluation)


def test_bundle_copy_without_development_data_is_refused_and_leaves_nothing(tmp_path):
    """--write-bundle needs development-part frames to calibrate on: without them the copy says so (fp32 only)."""
    src = make_bundle(tmp_path / "tiny", networks=tiny_networks(seed=3, clin_dim=6))
    assert training_main(["export-onnx", str(src)]) == 0
    note = write_bundle(src, tmp_path / "tiny-int8", data_root=tmp_path / "no-data")
    assert note["included"] is False and "no-data" in note["reason"]
    assert not open_bundle(tmp_path / "tiny-int8").graphs.has_int8
    assert not list(tmp_path.glob(".tiny-int8.tmp-*"))
    with pytest.raises(ValueError, match="already exists"):
        write_bundle(src, tmp_path / "tiny-int8")


def test_calibration_reader_gives_equal_batches_and_rewinds():
    reader = q.FrameReader(smooth_frames(37, size=8), batch=16)
    sizes = []
    while (b := reader.get_next()) is not None:
        sizes.append(b["x"].shape)
    assert sizes == [(16, 1, 8, 8), (16, 1, 8, 8)]  # the 5 left over are dropped: the histogram calibrators stack
    reader.rewind()
    assert reader.get_next()["x"].shape[0] == 16
    assert q.FrameReader(smooth_frames(5, size=8), batch=16).get_next()["x"].shape[0] == 5
