"""`small` / `large`: one sub-policy (the same node, run twice with different parameters).

Loads its actor from the checkpoint and computes only while it is selected. The master selects
it by forwarding it a state (`<option>/joint_states`) with a lease: the number of control steps,
that one included, the selection lasts (the entry `asym_lease_steps`, and the goal of
goal-conditioned tasks, ride along as named entries). The sub-policy answers that state, then
reads the lease's remaining states straight from /joint_states, so on most steps the command is
one hop from the robot's state instead of two; with no lease it reads nothing. The command goes
back to the master as sensor_msgs/JointState (actuator names, `effort` = action in [-1, 1],
stamp = the answered state's stamp), so the gate can tell which state it answers. Inference
count and time are on /diagnostics.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import JointState

from ..agent import OPTION_NAMES
from ..checkpoint import load_policy
from ..flops import actor_flops
from ..runtime import JointMap, RunningStats, StateRejected, Timer
from .common import (CONTROL_QOS, DIAG_QOS, DIAGNOSTICS, INTERNAL_QOS, JOINT_STATES, LEASE, publish_status,
                     spin_node, stamp_ns, sub_command_topic, sub_state_topic)

OPTIONS = {name: o for o, name in OPTION_NAMES.items()}


class SubPolicyNode(Node):
    def __init__(self, **kwargs):
        super().__init__("subpolicy", **kwargs)
        self.declare_parameter("option", "small")
        self.declare_parameter("checkpoint_dir", "checkpoints/walker-stand/asym")
        self.declare_parameter("task", "walker-stand")
        name = self.get_parameter("option").value
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
        self.flops = actor_flops(self.spec.obs_dim, self.spec.act_dim, cfg.units(option))
        self.joints = JointMap(self.spec)          # states forwarded by the master
        self.direct_joints = JointMap(self.spec)   # states read from /joint_states (other names)
        self.actuators = [f"actuator_{i}" for i in range(self.spec.act_dim)]
        self.pub = self.create_publisher(JointState, sub_command_topic(name), INTERNAL_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.create_subscription(JointState, sub_state_topic(name), self.on_lease, INTERNAL_QOS)
        self.create_subscription(JointState, JOINT_STATES, self.on_state, CONTROL_QOS)
        self.create_timer(1.0, self.publish_diagnostics)
        self.infer = RunningStats()
        self.rejected = 0
        self.lease_left = 0          # states still to answer from /joint_states
        self.sensors = None          # the lease's goal (goal-conditioned tasks)
        self.answered: int | None = None
        self.last_out: JointState | None = None
        self.get_logger().info(f"{name} sub-policy of {self.spec.name}: {cfg.units(option)} units, "
                               f"{self.flops} FLOPs per inference")

    def on_lease(self, msg: JointState) -> None:
        """A state forwarded by the master: this sub-policy is selected for it and the lease's
        remaining states."""
        stamp = stamp_ns(msg.header.stamp)
        steps = 1
        try:
            steps = max(1, int(msg.position[msg.name.index(LEASE)]))
        except (ValueError, IndexError):
            pass
        self.lease_left = steps - 1
        if stamp == self.answered and self.last_out is not None:
            self.pub.publish(self.last_out)   # the master resends a state whose command it lacks
            return
        try:
            state = self.joints.robot_state(msg.name, msg.position, msg.velocity)
        except StateRejected as e:
            self.lease_left = 0
            self.reject(e)
            return
        self.sensors = state.sensors
        self.answer(state, msg.header.stamp, stamp)

    def on_state(self, msg: JointState) -> None:
        """A state from the robot: answered only inside a lease, else not even read."""
        if self.lease_left <= 0:
            return
        stamp = stamp_ns(msg.header.stamp)
        if self.answered is not None and stamp <= self.answered:
            if stamp < self.answered:   # the robot's clock went back: a new episode, a new decision
                self.lease_left = 0
            return
        self.lease_left -= 1
        try:
            state = self.direct_joints.robot_state(msg.name, msg.position, msg.velocity, self.sensors)
        except StateRejected as e:
            self.reject(e)
            return
        self.answer(state, msg.header.stamp, stamp)

    def answer(self, state, header_stamp, stamp: int) -> None:
        with Timer(self.infer):
            action = self.actor.act(self.spec.observation(state), deterministic=True)
        out = JointState()
        out.header.stamp = header_stamp
        out.name = self.actuators
        out.effort = action.astype(float).tolist()
        self.answered, self.last_out = stamp, out
        self.pub.publish(out)

    def reject(self, e: StateRejected) -> None:
        self.rejected += 1
        self.get_logger().error(f"state rejected: {e}", throttle_duration_sec=1.0)

    def publish_diagnostics(self) -> None:
        values = {"inferences": self.infer.count, "inference_mean_us": 1e6 * self.infer.mean,
                  "inference_p99_us": 1e6 * self.infer.percentile(99), "flops_per_inference": self.flops,
                  "rejected_states": self.rejected}
        publish_status(self, self.diag_pub, f"asym/{self.name_}", self.spec.name,
                       "selected recently" if self.infer.count else "idle", values)

def main(args=None) -> int:
    return spin_node(SubPolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
