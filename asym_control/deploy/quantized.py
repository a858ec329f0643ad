"""
Quantized sub-policies for deployment: the actors as onnxruntime graphs with int8 weights.

`quantized(policy, "int8")` returns the policy with each sub-policy's actor replaced by the
package's ONNX export of its weights (export.actor_model), quantized by onnxruntime's dynamic
quantization (int8 weights per output channel, activations quantized at each call, int32
accumulation) from the second layer on, the first layer (the observation's) kept fp32, run on one
thread; the master stays fp32 (its choice is one argmax of two values). "fp32" runs the
same ONNX graph unquantized (the runtime's own fp32 path, for a like-for-like comparison).

Where it pays, measured (docs/benchmarks.md, bench/inference_precision.py): at the paper's widths
(8 to 256 units) and batch 1, onnxruntime int8 is no faster than NumPy fp32 (a few microseconds
either way, the call's overhead); at ActorQ's 3 x 2048 actor it is several times faster. The
training side never sees these: the learners stay fp32.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "int8")


class QuantizedActor:
    """An actor's deterministic action through onnxruntime, fp32 or dynamically quantized int8."""

    def __init__(self, actor, precision: str):
        import onnxruntime as ort

        from asym_control.deploy.export import actor_model

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.obs_dim, self.act_dim, self.precision = actor.obs_dim, actor.act_dim, precision
        model = actor_model(actor, "actor")
        for i, node in enumerate(model.graph.node):
            node.name = f"{node.op_type}{i}"
        first = next(n.name for n in model.graph.node if n.op_type == "MatMul")
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "actor.onnx"
            path.write_bytes(model.SerializeToString())
            if precision == "int8":
                import logging

                from onnxruntime.quantization import QuantType, quantize_dynamic
                q = Path(d) / "actor.int8.onnx"
                level = logging.getLogger().level
                logging.getLogger().setLevel(logging.ERROR)   # its advice to pre-process convolutional models
                try:
                    # the first layer stays fp32: its input is the observation, whose entries differ in
                    # scale (joint angles, velocities), and one 8-bit range for all of them loses the
                    # small ones (walker-stand: mean action error 0.24 with it quantized, 0.03 without)
                    quantize_dynamic(str(path), str(q), weight_type=QuantType.QInt8, per_channel=True,
                                     nodes_to_exclude=[first])
                finally:
                    logging.getLogger().setLevel(level)
                path = q
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def act(self, obs: np.ndarray, deterministic: bool = True, noise=None) -> np.ndarray:
        single = np.ndim(obs) == 1
        x = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        a = self.session.run(["action"], {"observation": x})[0]
        return a[0] if single else a


def quantized(policy, precision: str):
    """Return a copy of an AsymPolicy whose actors run at `precision` (the master and weights shared)."""
    other = copy.copy(policy)
    other.actors = {o: QuantizedActor(a, precision) for o, a in policy.actors.items()}
    return other
