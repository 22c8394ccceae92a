"""The engine's forward passes with ONNX Runtime (CPU execution provider; no torch).

One ``InferenceSession`` per graph of the bundle (lusapp.model.onnx_bundle), created once when the engine is
built and reused for every call. Threads: ``threads`` intra-op threads (the engine's setting; None = ONNX
Runtime's default, one per physical core), one inter-op thread, and idle worker threads sleep instead of
spin-waiting (``session.intra_op.allow_spinning = 0``): the GUI, the decoder and the prefetch thread share the
cores with the network (the same reason the torch path sets ``OMP_WAIT_POLICY=PASSIVE``).

Precision: when the bundle carries the int8 frame graphs (``frames_full_int8`` / ``frames_encode_int8``) they run
every frame pass -- live masks and the assessment's features alike, so one engine's feature cache holds one
precision -- unless ``precision`` / ``$LUSAPP_FRAME_PRECISION`` is 'fp32'; only the graphs that run get a
session. ``precision`` tells which ran ('int8' or 'fp32').

The interface is the one of ``lusapp.model.torch_backend.TorchBackend``: ``frames``, ``zone_probs``,
``severity_probs``, ``warm_up``, ``has_branch``.

Cancelling: ``thread_canceller()`` gives the calling thread its own ``RunOptions``; calling the function it
returns (from any thread) stops that thread's frame pass in flight and its later ones with ``RunCancelled``.
The live-mask worker uses it so that closing the app does not wait for a batch (other threads' runs go on).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

import numpy as np
import onnxruntime as ort

from lusapp.core.errors import BundleError, RunCancelled

if TYPE_CHECKING:
    from lusapp.model.onnx_bundle import GraphSet

PROVIDERS = ["CPUExecutionProvider"]

__all__ = ["OrtBackend", "RunCancelled", "session_options"]

def session_options(threads: int | None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(0, int(threads or 0))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: no optimiser chatter on the console
    return opts


class OrtBackend:
    name = "onnxruntime"

    def __init__(self, graphs: GraphSet, manifest: dict, threads: int | None = None, precision: str | None = None):
        self.graphs = graphs
        self._threads = int(threads or 0)
        self.precision, run = graphs.run_paths(precision)
        self.paths = run  # the graph files the sessions run (name -> path)
        opts = session_options(threads)
        self.sessions: dict[str, ort.InferenceSession] = {}
        for name, path in run.items():
            try:
                self.sessions[name] = ort.InferenceSession(str(path), sess_options=opts, providers=PROVIDERS)
            except Exception as e:  # noqa: BLE001 -- onnxruntime raises its own (Fail, InvalidGraph, ...) types
                raise BundleError(path, f"ONNX graph cannot be loaded ({str(e)[:160]})") from None
        self._full_out = [o.name for o in self.sessions["frames_full"].get_outputs()]
        self._enc_out = [o.name for o in self.sessions["frames_encode"].get_outputs()]
        self.has_branch = graphs.has_branch and "branch_logits" in self._full_out
        arch = manifest["architecture"]
        self.has_zone, self.has_severity = bool(arch.get("zone")), bool(arch.get("severity"))
        self._local = threading.local()

    @property
    def threads(self) -> int:
        return self._threads

    def frames(self, x: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(N, 1, H, W) float32 inputs -> (features, label maps if ``full`` else None, branch logits or None)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        names = self._full_out if full else self._enc_out
        opts = getattr(self._local, "run_options", None)
        if opts is not None and opts.terminate:
            raise RunCancelled("frame pass cancelled")
        try:
            outs = self.sessions["frames_full" if full else "frames_encode"].run(names, {"x": x}, opts)
        except Exception:
            if opts is not None and opts.terminate:  # onnxruntime's "terminate flag" failure
                raise RunCancelled("frame pass cancelled") from None
            raise
        out = dict(zip(names, outs))
        return out["features"], out.get("labels"), out.get("branch_logits") if self.has_branch else None

    def thread_canceller(self) -> Callable[[], None]:
        """A function that stops the calling thread's frame passes (the one in flight and every later one)."""
        opts = getattr(self._local, "run_options", None)
        if opts is None:
            opts = self._local.run_options = ort.RunOptions()
            opts.log_severity_level = 4  # a cancelled run is expected: no "terminate flag" error on the console

        def cancel() -> None:
            opts.terminate = True

        return cancel

    def zone_probs(self, frame_feats: np.ndarray) -> np.ndarray:
        """(B, T, D) frame features -> (B, n_scores) zone-score probabilities (float64)."""
        f = np.ascontiguousarray(frame_feats, dtype=np.float32)
        return self.sessions["zone"].run(["probs"], {"frame_features": f})[0].astype(np.float64)

    def severity_probs(self, zone_feats: np.ndarray, mask: np.ndarray, clinical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, Z, F) zone inputs, (1, Z) bool mask, (1, C) clinical vector -> (severity probs (4,), attention (Z,))."""
        probs, attn = self.sessions["severity"].run(["probs", "attention"], {
            "zone_features": np.ascontiguousarray(zone_feats, dtype=np.float32),
            "zone_mask": np.ascontiguousarray(mask, dtype=bool),
            "clinical": np.ascontiguousarray(clinical, dtype=np.float32)})
        return probs[0].astype(np.float64), attn[0].astype(np.float64)

    def warm_up(self, input_size: tuple[int, int]) -> None:
        """One small run of each frame graph (the first run of a session allocates its buffers)."""
        x = np.zeros((1, 1, *input_size), np.float32)
        self.frames(x, full=True)
        self.frames(x, full=False)
