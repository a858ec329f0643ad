"""
Deployment artefacts for runtimes without Python: ONNX graphs plus a JSON contract.

`asym-control export CKPT_DIR --onnx OUT_DIR` writes
  master.onnx        observation [N, obs_dim] -> q [N, 2], option [N] (0 small, 1 large; argmax q)
  small.onnx         observation [N, obs_dim] -> action [N, act_dim] in [-1, 1] (the actor's mean, tanh)
  large.onnx         the same for the large sub-policy
  observation.onnx   position [N, J], velocity [N, J], sensors [N, S] -> observation [N, obs_dim],
                     for the tasks whose observation is a closed formula of the robot's state
                     (walker-stand, finger-spin, MountainCarContinuous-v0, Swimmer-v5, Ant-v5);
                     for arm-reach (forward kinematics of the URDF) the contract gives the formula
  contract.json      what a runtime must know to use them (CONTRACT_FORMAT below)
The graphs are built node by node with onnx.helper from the same weights the NumPy policy uses
(ONNX opset 17, float32), so the export needs neither torch nor the learners.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CONTRACT_FORMAT = "asym_control.onnx_contract/1"
OPSET = 17


def _mlp_nodes(net, x: str, prefix: str):
    """ONNX nodes and initialisers of an MLP (ensemble member 0), input x -> output name."""
    from onnx import helper, numpy_helper

    nodes, inits = [], []
    h = x
    for i in range(net.n_layers):
        w, b = net.params[2 * i][0], net.params[2 * i + 1][0, 0]
        inits += [numpy_helper.from_array(np.ascontiguousarray(w, np.float32), f"{prefix}.w{i}"),
                  numpy_helper.from_array(np.ascontiguousarray(b, np.float32), f"{prefix}.b{i}")]
        nodes += [helper.make_node("MatMul", [h, f"{prefix}.w{i}"], [f"{prefix}.z{i}"]),
                  helper.make_node("Add", [f"{prefix}.z{i}", f"{prefix}.b{i}"], [f"{prefix}.a{i}"])]
        h = f"{prefix}.a{i}"
        if i < net.n_layers - 1:
            act = "Relu" if net.activation == "relu" else "Tanh"
            nodes.append(helper.make_node(act, [h], [f"{prefix}.h{i}"]))
            h = f"{prefix}.h{i}"
    return nodes, inits, h


def _model(nodes, inits, inputs, outputs, name: str):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="asym_control")
    model.ir_version = 8          # readable by onnxruntime 1.10 and later
    onnx.checker.check_model(model)
    return model


def actor_model(actor, name: str):
    from onnx import TensorProto, helper

    nodes, inits, out = _mlp_nodes(actor.net, "observation", name)
    inits.append(helper.make_tensor(f"{name}.starts", TensorProto.INT64, [1], [0]))
    inits.append(helper.make_tensor(f"{name}.ends", TensorProto.INT64, [1], [actor.act_dim]))
    inits.append(helper.make_tensor(f"{name}.axes", TensorProto.INT64, [1], [1]))
    nodes += [helper.make_node("Slice", [out, f"{name}.starts", f"{name}.ends", f"{name}.axes"], ["mean"]),
              helper.make_node("Tanh", ["mean"], ["action"])]
    return _model(nodes, inits,
                  [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["N", actor.obs_dim])],
                  [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["N", actor.act_dim])], name)


def master_model(q_net, obs_dim: int):
    from onnx import TensorProto, helper

    nodes, inits, out = _mlp_nodes(q_net, "observation", "master")
    nodes += [helper.make_node("Identity", [out], ["q"]),
              helper.make_node("ArgMax", ["q"], ["option"], axis=1, keepdims=0)]
    return _model(nodes, inits,
                  [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["N", obs_dim])],
                  [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["N", 2]),
                   helper.make_tensor_value_info("option", TensorProto.INT64, ["N"])], "master")


# --- observation functions as graphs -----------------------------------------------------------

class _Graph:
    """A small builder: named constants and nodes, float32 throughout."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value, dtype=np.float32) -> str:
        from onnx import numpy_helper
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs) -> str:
        from onnx import helper
        self.n += 1
        name = f"t{self.n}"
        self.nodes.append(helper.make_node(kind, list(inputs), [name], **attrs))
        return name

    def cols(self, x: str, start: int, end: int) -> str:
        return self.op("Slice", x, self.const([start], np.int64), self.const([end], np.int64),
                       self.const([1], np.int64))


def _walker(g: _Graph, q, v, s):
    from asym_control.tasks.registry import WALKER_TORSO_Z0
    # pitch = q @ A: the torso's is rooty, each leg body's is rooty minus the hinges above it
    A = np.zeros((9, 7), np.float32)
    A[2, :] = 1.0
    for side, base in ((0, 3), (1, 6)):
        for k in range(3):
            A[base:base + k + 1, 1 + 3 * side + k] = -1.0
    pitch = g.op("MatMul", q, g.const(A))
    cs = g.op("Concat", g.op("Unsqueeze", g.op("Cos", pitch), g.const([2], np.int64)),
              g.op("Unsqueeze", g.op("Sin", pitch), g.const([2], np.int64)), axis=2)   # [N, 7, 2]
    orient = g.op("Reshape", cs, g.const([-1, 14], np.int64))
    height = g.op("Add", g.cols(q, 0, 1), g.const([WALKER_TORSO_Z0]))
    return g.op("Concat", orient, height, v, axis=1)


def _finger(g: _Graph, q, v, s):
    from asym_control.tasks.registry import FINGER_TIP_RADIUS
    hinge = g.cols(q, 2, 3)
    tip = g.op("Concat", g.op("Mul", g.op("Sin", hinge), g.const([-FINGER_TIP_RADIUS])),
               g.op("Mul", g.op("Cos", hinge), g.const([FINGER_TIP_RADIUS])), axis=1)
    touch = g.op("Log", g.op("Add", s, g.const([1.0])))
    return g.op("Concat", g.cols(q, 0, 2), tip, v, touch, axis=1)


def _mountaincar(g: _Graph, q, v, s):
    return g.op("Concat", q, v, axis=1)


def _swimmer(g: _Graph, q, v, s):
    return g.op("Concat", g.cols(q, 2, 5), v, axis=1)


def _ant(g: _Graph, q, v, s):
    return g.op("Concat", g.cols(q, 2, 15), v, g.op("Clip", s, g.const(-1.0), g.const(1.0)), axis=1)


OBSERVATION_GRAPHS = {"walker-stand": _walker, "finger-spin": _finger, "MountainCarContinuous-v0": _mountaincar,
                      "Swimmer-v5": _swimmer, "Ant-v5": _ant}
OBSERVATION_FORMULAS = {
    "arm-reach": "concat(cos q (6), sin q (6), qdot / velocity limits of the URDF (6), tool0 position p(q) "
                 "(3, forward kinematics of urdf/arm.urdf: the product of each joint's origin transform and "
                 "its rotation about its axis, base_link to tool0), goal (3), goal - p(q) (3)); "
                 "sensors = the goal (x, y, z) in the base frame",
    "FetchPickAndPlace-v4": "sensors as they are: Fetch's observation (25: gripper and block positions and "
                            "velocities), the achieved goal (the block's position, 3), the desired goal (3)",
    "FetchReach-v4": "sensors as they are: Fetch's observation (10: the gripper's position and velocities), the "
                     "achieved goal (the gripper's position, 3), the desired goal (3)",
}


def observation_model(spec):
    from onnx import TensorProto, helper

    build = OBSERVATION_GRAPHS.get(spec.name)
    if build is None:
        return None
    g = _Graph()
    J, S = len(spec.joint_names), len(spec.sensor_names)
    out = build(g, "position", "velocity", "sensors")
    g.nodes.append(helper.make_node("Identity", [out], ["observation"]))
    inputs = [helper.make_tensor_value_info("position", TensorProto.FLOAT, ["N", J]),
              helper.make_tensor_value_info("velocity", TensorProto.FLOAT, ["N", J]),
              helper.make_tensor_value_info("sensors", TensorProto.FLOAT, ["N", S])]
    return _model(g.nodes, g.inits, inputs,
                  [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["N", spec.obs_dim])],
                  f"{spec.name}.observation")


# --- the contract ----------------------------------------------------------------------------

def action_scaling(spec) -> dict:
    """How an action in [-1, 1]^A becomes an actuator command, read from the simulator's model."""
    if spec.suite == "arm":
        from asym_control.robot.arm import MAX_STEP_FRACTION, default_arm
        arm = default_arm()
        return {"kind": "position_step",
                "formula": "target = clip(q + clip(a, -1, 1) * fraction * velocity_limit * control_period, "
                           "lower, upper), joint by joint; then the safety layer",
                "fraction": MAX_STEP_FRACTION, "velocity_limit": arm.velocity.tolist(),
                "lower": arm.lower.tolist(), "upper": arm.upper.tolist()}
    if spec.suite == "fetch":
        return {"kind": "fetch_mocap",
                "formula": "the gripper's mocap target moves by step_m * a[0:3] (x, y, z in the world frame) each "
                           "control step, its orientation fixed; both fingers' position actuators get a[3] relative "
                           "to their joint's position (0 when the task blocks the gripper, as reaching does)",
                "step_m": 0.05}
    env = spec.make_env(seed=0)
    if spec.suite == "dm_control":
        m = env.physics.model
        return {"kind": "torque", "formula": "ctrl = a (inside ctrlrange); torque = gear * ctrl",
                "ctrlrange": m.actuator_ctrlrange.tolist(), "gear": m.actuator_gear[:, 0].tolist()}
    return {"kind": "affine", "formula": "command = offset + scale * a",
            "scale": np.asarray(env._scale).tolist(), "offset": np.asarray(env._offset).tolist()}


def contract(cfg, costs, has_observation_graph: bool) -> dict:
    spec = cfg.spec
    from asym_control.flops import CONVENTION
    return {
        "format": CONTRACT_FORMAT,
        "task": spec.name,
        "mode": cfg.mode,
        "control_period_s": spec.control_dt,
        "n_omega": cfg.n_omega,
        "joints": list(spec.joint_names),
        "sensors": list(spec.sensor_names),
        "actuators": list(spec.actuator_names) or list(spec.joint_names[-spec.act_dim:]),
        "obs_dim": spec.obs_dim,
        "act_dim": spec.act_dim,
        "observation": ({"onnx": "observation.onnx", "inputs": ["position", "velocity", "sensors"]}
                        if has_observation_graph else {"formula": OBSERVATION_FORMULAS[spec.name]}),
        "observation_doc": spec.observation.__doc__.strip() if spec.observation.__doc__ else "",
        "action_scaling": action_scaling(spec),
        "models": {name: f"{name}.onnx" for name in (["master"] if cfg.mode == "asym" else [])
                   + [{0: "small", 1: "large"}[o] for o in cfg.options()]},
        "selection": "every n_omega control steps: option = argmax master(observation) (0 small, 1 large); "
                     "the selected sub-policy acts for the next n_omega steps",
        "flops_per_inference": {"small": costs.small_flops, "large": costs.large_flops,
                                "master": costs.master_flops, "convention": CONVENTION},
        "widths": {"small": cfg.small_units, "large": cfg.large_units},
        "dtype": "float32",
        "onnx_opset": OPSET,
    }


def export_onnx(ckpt_dir: Path, out_dir: Path) -> dict:
    """Write the ONNX models and contract.json of a checkpoint; returns the contract."""
    import onnx

    from asym_control.asym.policy import OPTION_NAMES
    from asym_control.training.checkpoint import load_policy

    cfg, policy = load_policy(Path(ckpt_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for option, actor in policy.actors.items():
        onnx.save(actor_model(actor, OPTION_NAMES[option]), str(out_dir / f"{OPTION_NAMES[option]}.onnx"))
    if policy.master is not None:
        onnx.save(master_model(policy.master, cfg.spec.obs_dim), str(out_dir / "master.onnx"))
    obs = observation_model(cfg.spec)
    if obs is not None:
        onnx.save(obs, str(out_dir / "observation.onnx"))
    c = contract(cfg, policy.costs, obs is not None)
    (out_dir / "contract.json").write_text(json.dumps(c, indent=2) + "\n")
    return c
