"""
`small` / `large`: one sub-policy (the same node, run twice with different parameters).

Loads its actor from the checkpoint and computes only when the master forwards it a state, that
is, only while it is selected. Parameter `precision`: numpy (fp32, the default), or fp32, fp16 or
int8 through onnxruntime (deploy.quantized; int8: every layer but the observation's). The
command goes back to the master as sensor_msgs/JointState (actuator names, `effort` = action in
[-1, 1], stamp = the answered state's stamp), so the gate can tell which state it answers.
Inference count and time, the precision and the integer operations are on /diagnostics.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import JointState

from asym_control.asym.policy import OPTION_NAMES
from asym_control.training.checkpoint import load_policy
from asym_control.flops import actor_ops
from asym_control.deploy.hoptrace import mark
from asym_control.deploy.quantized import RUNTIMES, QuantizedActor
from asym_control.robot.runtime import JointMap, RunningStats, StateRejected, Timer
from asym_control.nodes.common import (DIAG_QOS, DIAGNOSTICS, INTERNAL_QOS, ThrottledLogger, publish_status, spin_node,
                                       stamp_ns, steady_timer, sub_command_topic, sub_state_topic)

OPTIONS = {name: o for o, name in OPTION_NAMES.items()}


class SubPolicyNode(Node):
    def __init__(self, **kwargs):
        super().__init__("subpolicy", **kwargs)
        self.log = ThrottledLogger(self.get_logger())
        self.declare_parameter("option", "small")
        self.declare_parameter("checkpoint_dir", "checkpoints/walker-stand/asym")
        self.declare_parameter("task", "walker-stand")
        self.declare_parameter("precision", "numpy")
        name = self.get_parameter("option").value
        precision = self.get_parameter("precision").value
        if precision not in RUNTIMES:
            raise ValueError(f"precision must be one of {', '.join(RUNTIMES)}, got {precision!r}")
        if name not in OPTIONS:
            raise ValueError(f"option must be 'small' or 'large', got {name!r}")
        cfg, policy = load_policy(self.get_parameter("checkpoint_dir").value,
                                  expect_task=self.get_parameter("task").value)
        option = OPTIONS[name]
        if option not in policy.actors:
            raise ValueError(f"checkpoint {self.get_parameter('checkpoint_dir').value} ({cfg.mode}) "
                             f"has no {name} sub-policy")
        self.name_, self.spec = name, cfg.spec
        self.actor = policy.actors[option]
        self.precision = precision
        if precision != "numpy":
            self.actor = QuantizedActor(self.actor, precision)
        self.ops = actor_ops(self.spec.obs_dim, self.spec.act_dim, cfg.units(option), precision)
        self.flops = self.ops["float_ops"] + self.ops["int_ops"]
        self.joints = JointMap(self.spec)
        self.actuators = [f"actuator_{i}" for i in range(self.spec.act_dim)]
        self.pub = self.create_publisher(JointState, sub_command_topic(name), INTERNAL_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.create_subscription(JointState, sub_state_topic(name), self.on_state, INTERNAL_QOS)
        steady_timer(self, 1.0, self.publish_diagnostics)
        self.infer = RunningStats()
        self.rejected = 0
        self.get_logger().info(f"{name} sub-policy of {self.spec.name}: {cfg.units(option)} units, "
                               f"{self.flops} FLOPs per inference ({precision}: {self.ops['int_ops']} of them "
                               "integer)")

    def on_state(self, msg: JointState) -> None:
        stamp = stamp_ns(msg.header.stamp)    # the command carries the state's stamp back
        mark("s_state", stamp)
        try:
            state = self.joints.robot_state(msg.name, msg.position, msg.velocity)
        except StateRejected as e:
            self.rejected += 1
            self.log("error", "state_rejected", lambda e=e: f"state rejected: {e}")
            return
        with Timer(self.infer):
            action = self.actor.act(self.spec.observation(state), deterministic=True)
        out = JointState()
        out.header.stamp = msg.header.stamp
        out.name = self.actuators
        out.effort = action.astype(float).tolist()
        mark("s_pub", stamp)
        self.pub.publish(out)

    def publish_diagnostics(self) -> None:
        values = {"inferences": self.infer.count, "inference_mean_us": 1e6 * self.infer.mean,
                  "inference_p99_us": 1e6 * self.infer.percentile(99), "flops_per_inference": self.flops,
                  "precision": self.precision, "float_ops_per_inference": self.ops["float_ops"],
                  "int_ops_per_inference": self.ops["int_ops"], "rejected_states": self.rejected}
        publish_status(self, self.diag_pub, f"asym/{self.name_}", self.spec.name,
                       "selected recently" if self.infer.count else "idle", values)


def main(args=None) -> int:
    return spin_node(SubPolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
