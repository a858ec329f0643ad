"""
Networks at reduced precision: onnxruntime graphs with int8 or fp16 weights, and weights sent at a precision.

`quantized(policy, "int8")` returns the policy with each sub-policy's actor replaced by the
package's ONNX export of its weights (export.actor_model), quantized by onnxruntime's dynamic
quantization (int8 weights per output channel, activations quantized at each call, int32
accumulation) from the second layer on, the first layer (the observation's) kept fp32, run on one
thread; the master stays fp32 (its choice is one argmax of two values). "fp32" runs the
same ONNX graph unquantized (the runtime's own fp32 path, for a like-for-like comparison);
"fp16" stores the weights and computes in half precision (onnxruntime's CPU kernels; input and
output stay fp32).

The actor-learner mode's actors (training.actors) use the same graphs for their sampled actions
(`QuantizedActor.act(obs, deterministic=False, noise=...)`) and `QuantizedMLP` for the master's
Q-network; `pack_weights`/`unpack_weights` send the learner's weights to them at fp32, fp16 or
int8 (blocks of 256 with one scale each).

Where it pays, measured (docs/benchmarks.md, bench/inference_precision.py): at the paper's widths
(8 to 256 units) and batch 1, onnxruntime int8 is no faster than NumPy fp32 (a few microseconds
either way, the call's overhead); at ActorQ's 3 x 2048 actor it is several times faster. The
learners never see these: their weights stay fp32.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
RUNTIMES = ("numpy",) + PRECISIONS   # what an actor can run on: the package's NumPy networks, or these
COMM_BLOCK = 256


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def _to_fp16(model):
    """Return the same graph with half-precision weights and arithmetic; inputs and outputs stay fp32."""
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    ins = {v.name for v in g.input}
    outs = {v.name for v in g.output}
    for node in g.node:
        node.input[:] = [f"{x}.f16" if x in ins or x in outs else x for x in node.input]
        node.output[:] = [f"{x}.f16" if x in outs else x for x in node.output]
    casts_in = [helper.make_node("Cast", [x], [f"{x}.f16"], to=TensorProto.FLOAT16) for x in sorted(ins)]
    casts_out = [helper.make_node("Cast", [f"{x}.f16"], [x], to=TensorProto.FLOAT) for x in sorted(outs)]
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    return model


def _session(model, precision: str):
    """Return an onnxruntime session of `model` at `precision`, on one thread."""
    import onnxruntime as ort

    _check(precision)
    for i, node in enumerate(model.graph.node):
        node.name = f"{node.op_type}{i}"
    first = next(n.name for n in model.graph.node if n.op_type == "MatMul")
    if precision == "fp16":
        model = _to_fp16(model)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.onnx"
        path.write_bytes(model.SerializeToString())
        if precision == "int8":
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic
            q = Path(d) / "net.int8.onnx"
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
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class QuantizedMLP:
    """An MLP's forward pass (ensemble member 0) at a precision; `forward(x)` is shaped as MLP.forward's."""

    def __init__(self, net, precision: str):
        from onnx import TensorProto, helper

        from asym_control.deploy.export import _mlp_nodes, _model

        _check(precision)
        self.precision, self.in_dim, out_dim = precision, net.sizes[0], net.sizes[-1]
        nodes, inits, out = _mlp_nodes(net, "x", "net")
        nodes.append(helper.make_node("Identity", [out], ["y"]))
        model = _model(nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", self.in_dim])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_dim])], "net")
        self.session = _session(model, precision)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1, self.in_dim)
        return self.session.run(["y"], {"x": x})[0][None]


class QuantizedActor:
    """An actor through onnxruntime at a precision: the deterministic action, or SAC's sampled one."""

    def __init__(self, actor, precision: str):
        from onnx import TensorProto, helper

        from asym_control.deploy.export import actor_model

        _check(precision)
        self.obs_dim, self.act_dim, self.precision = actor.obs_dim, actor.act_dim, precision
        model = actor_model(actor, "actor")
        head = next(n.input[0] for n in model.graph.node if n.op_type == "Slice")
        # the whole last layer too (mean and log std), for the sampled actions of training's actors
        model.graph.output.append(helper.make_tensor_value_info(head, TensorProto.FLOAT, ["N", 2 * self.act_dim]))
        self.head = head
        self.session = _session(model, precision)

    def act(self, obs: np.ndarray, deterministic: bool = True, noise=None) -> np.ndarray:
        """As SquashedGaussianActor.act: tanh(mean), or tanh(mean + std * noise) when not deterministic."""
        from asym_control.learning.policies import head_actions

        single = np.ndim(obs) == 1
        x = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        if deterministic:
            a = self.session.run(["action"], {"observation": x})[0]
        else:
            a = head_actions(self.session.run([self.head], {"observation": x})[0], self.act_dim, False,
                             np.asarray(noise, np.float32))
        return a[0] if single else a


def quantized(policy, precision: str):
    """Return a copy of an AsymPolicy whose actors run at `precision` (the master and weights shared)."""
    other = copy.copy(policy)
    other.actors = {o: QuantizedActor(a, precision) for o, a in policy.actors.items()}
    return other


# --- weights on the wire ------------------------------------------------------------------------

def pack_weights(tensors: dict[str, np.ndarray], precision: str) -> dict[str, dict]:
    """
    Pack the learner's fp32 weights for sending at `precision`.

    fp32 as they are, fp16 rounded, int8 in blocks of COMM_BLOCK entries with one fp32 scale
    (absmax / 127) each: about a quarter of the bytes, an error of at most half a step per block.
    """
    _check(precision)
    packed = {}
    for name, t in tensors.items():
        t = np.asarray(t, dtype=np.float32)
        entry = {"precision": precision, "shape": t.shape, "scale": None}
        flat = t.ravel()
        if precision == "fp32":
            entry["data"] = flat.copy()
        elif precision == "fp16":
            entry["data"] = flat.astype(np.float16)
        else:
            blocks = np.concatenate([flat, np.zeros((-flat.size) % COMM_BLOCK, np.float32)]).reshape(-1, COMM_BLOCK)
            scale = np.abs(blocks).max(axis=1) / 127.0
            scale[scale == 0] = 1.0
            q = np.clip(np.rint(blocks / scale[:, None]), -127, 127).astype(np.int8)
            entry["data"], entry["scale"] = q.ravel()[:flat.size], scale.astype(np.float32)
        packed[name] = entry
    return packed


def unpack_weights(packed: dict[str, dict]) -> dict[str, np.ndarray]:
    """Back to fp32 arrays of the original shapes (what pack_weights was given, up to its rounding)."""
    out = {}
    for name, e in packed.items():
        data = e["data"].astype(np.float32)
        if e["scale"] is not None:
            data = data * np.repeat(e["scale"], COMM_BLOCK)[:data.size]
        out[name] = data.reshape(e["shape"])
    return out


def packed_bytes(packed: dict[str, dict]) -> int:
    """Bytes of the arrays in a packed set of weights (what a broadcast carries)."""
    return sum(e["data"].nbytes + (e["scale"].nbytes if e["scale"] is not None else 0) for e in packed.values())
