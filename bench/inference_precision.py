"""
Actor inference at batch 1 and 32 by precision and runtime, single-threaded (ActorQ's question).

    python bench/inference_precision.py [--repeats 2000] [--out runs/bench/precision.json]

Actors of walker-stand's shape (24 inputs, 6 actions: mean and log-std heads, 12 outputs) with two
hidden layers of 8, 64 and 256 units (the paper's widths) and ActorQ's actor, three of 2048. Paths:
NumPy fp32 (the package's MLP, what the nodes run), torch fp32 (nn.Linear layers), torch dynamic
int8 (torch.ao.quantization.quantize_dynamic of those Linear layers: int8 weights, activations
quantized per call), onnxruntime fp32 (the package's ONNX export of the same weights) and
onnxruntime dynamic int8 (onnxruntime.quantization.quantize_dynamic of that graph, every layer; and the
deployed scheme of deploy/quantized.py: per-channel weights, the first layer fp32), and onnxruntime
fp16 (deploy/quantized.py's: half-precision weights and arithmetic). Every runtime on
one thread; each figure the median of `--repeats` calls, in microseconds, after 200 calls of
warm-up. Also the largest difference of each path's output from NumPy fp32's (the same weights).
Prints a Markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)   # onnxruntime's quantizer advises pre-processing for convolutional models
OBS, OUT = 24, 12
SHAPES = {"2x8": [8, 8], "2x64": [64, 64], "2x256": [256, 256], "3x2048 (ActorQ)": [2048, 2048, 2048]}


def _time(fn, x, repeats: int) -> float:
    for _ in range(200):
        fn(x)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        fn(x)
        samples.append(time.perf_counter_ns() - t)
    return statistics.median(samples) / 1e3


def paths(hidden: list[int], rng: np.random.Generator, tmp: Path) -> dict:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from asym_control.deploy.export import _mlp_nodes, _model
    from asym_control.learning.nets import MLP

    net = MLP([OBS, *hidden, OUT], "relu", rng=rng)
    torch.set_num_threads(1)
    layers = []
    for i in range(net.n_layers):
        lin = torch.nn.Linear(net.sizes[i], net.sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(net.params[2 * i][0].T.copy()))
            lin.bias.copy_(torch.from_numpy(net.params[2 * i + 1][0, 0].copy()))
        layers += [lin] + ([torch.nn.ReLU()] if i < net.n_layers - 1 else [])
    t32 = torch.nn.Sequential(*layers).eval()
    t8 = torch.ao.quantization.quantize_dynamic(t32, {torch.nn.Linear}, dtype=torch.qint8)

    from onnx import TensorProto, helper
    nodes, inits, out = _mlp_nodes(net, "x", "actor")
    nodes.append(helper.make_node("Identity", [out], ["y"]))
    for i, node in enumerate(nodes):
        node.name = f"{node.op_type}{i}"
    model = _model(nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", OBS])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])], "actor")
    f32, f8 = tmp / "a32.onnx", tmp / "a8.onnx"
    f32.write_bytes(model.SerializeToString())
    quantize_dynamic(str(f32), str(f8), weight_type=QuantType.QInt8)
    from asym_control.deploy.quantized import QuantizedMLP
    deployed8, deployed16 = QuantizedMLP(net, "int8"), QuantizedMLP(net, "fp16")   # deploy/quantized.py's
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    o32 = ort.InferenceSession(str(f32), so, providers=["CPUExecutionProvider"])
    o8 = ort.InferenceSession(str(f8), so, providers=["CPUExecutionProvider"])

    def torch_call(m):
        def run(x):
            with torch.inference_mode():
                return m(torch.from_numpy(x)).numpy()
        return run
    return {"numpy fp32": lambda x: net.forward(x)[0],
            "torch fp32": torch_call(t32), "torch int8 (dynamic)": torch_call(t8),
            "onnxruntime fp32": lambda x: o32.run(None, {"x": x})[0],
            "onnxruntime int8 (dynamic)": lambda x: o8.run(None, {"x": x})[0],
            "onnxruntime int8, first layer fp32": lambda x: deployed8.forward(x)[0],
            "onnxruntime fp16": lambda x: deployed16.forward(x)[0]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--repeats", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("runs/bench/precision.json"))
    a = p.parse_args()
    from threadpoolctl import threadpool_limits

    from asym_control.experiments.results import machine

    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(1), tempfile.TemporaryDirectory() as d:
        for name, hidden in SHAPES.items():
            fns = paths(hidden, rng, Path(d))
            for batch in (1, 32):
                x = rng.uniform(-1, 1, (batch, OBS)).astype(np.float32)
                ref = fns["numpy fp32"](x)
                for path, fn in fns.items():
                    us = _time(fn, x, max(50, a.repeats // (20 if "2048" in name else 1)))
                    err = float(np.max(np.abs(np.asarray(fn(x)).reshape(ref.shape) - ref)))
                    rows.append({"actor": name, "batch": batch, "path": path, "us": round(us, 2),
                                 "max_abs_diff_vs_numpy": err})
    out = {"machine": machine(),
           "repeats": a.repeats, "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    names = list(dict.fromkeys(r["path"] for r in rows))
    print("| actor | batch | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for actor in SHAPES:
        for batch in (1, 32):
            cells = {r["path"]: r["us"] for r in rows if r["actor"] == actor and r["batch"] == batch}
            print(f"| {actor} | {batch} | " + " | ".join(f"{cells[n]:.1f} us" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
