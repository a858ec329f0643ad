"""
`safety`: the lifecycle node between the gate and a robot's ros2_control controller.

It takes the gate's normalised action (std_msgs/Float64MultiArray on /asym/actuator_command, the
task's joint order), turns it into a joint position target from the measured pose
(asym_control.robot.arm.action_to_target), passes it through the SafetyLayer and sends it to the
controller chosen in the config:
- forward_command_controller: std_msgs/Float64MultiArray on /<controller>/commands,
- joint_trajectory_controller: trajectory_msgs/JointTrajectory on /<controller>/joint_trajectory
  (one point, reached one control period from now),
with the joints in the controller's order (parameter `joints`), mapped by name from /joint_states
(any order, extra joints ignored).

Lifecycle: configure loads the URDF and checks the controller's joints and any limit overrides
against it (a clear error and FAILURE otherwise); activate needs a fresh state and starts the
soft start from the measured pose; only an active node sends commands; deactivate sends one hold.
E-stop: std_msgs/Bool true on /asym/estop, or the service ~/estop (std_srvs/Trigger); it latches
until ~/reset_estop, and even then nothing moves until an operator deactivates and activates the
node again (a new soft start from wherever the arm is).
"""

from __future__ import annotations

import json
import time
import types

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from asym_control.robot.arm import ARM_JOINTS, UrdfError, action_to_target, arm_urdf_path, load_arm
from asym_control.robot.runtime import JointMap, StateRejected, command_ok
from asym_control.robot.safety import SafetyConfigError, SafetyLayer, limits_from_urdf
from asym_control.nodes.common import (ACTUATOR, CONTROL_QOS, DIAG_QOS, DIAGNOSTICS, EVENT_QOS, JOINT_STATES,
                                       ThrottledLogger, publish_status, spin_node, steady_timer)

CONTROLLER_TYPES = ("forward_command_controller", "joint_trajectory_controller")


class SafetyNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("safety", **kwargs)
        self.log = ThrottledLogger(self.get_logger())
        self.declare_parameter("urdf", "")                         # "": the package's urdf/arm.urdf
        self.declare_parameter("joints", list(ARM_JOINTS))         # the controller's joint order
        self.declare_parameter("task_joints", list(ARM_JOINTS))    # the order of the gate's actions
        self.declare_parameter("controller", "forward_position_controller")
        self.declare_parameter("controller_type", "forward_command_controller")
        self.declare_parameter("command_topic", ACTUATOR)
        self.declare_parameter("period_s", 0.04)                   # the policy's control period
        self.declare_parameter("soft_start_s", 2.0)
        self.declare_parameter("state_timeout_s", 0.2)
        self.declare_parameter("following_error_rad", 0.35)
        self.declare_parameter("velocity_scale", 1.0)              # of the URDF's velocity limits
        self.declare_parameter("limit_overrides", "")              # JSON {joint: {lower, upper, velocity}}
        self.declare_parameter("estop_topic", "estop")
        self.layer: SafetyLayer | None = None
        self.pub = None
        self.forwarded = 0
        self.holds = 0
        self.rejected_states = 0
        self.last_event = ""          # what /diagnostics reports (a node that runs for days keeps no list)

    # --- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        try:
            arm = load_arm(g("urdf") or arm_urdf_path())
            overrides = json.loads(g("limit_overrides") or "{}")
            if not isinstance(overrides, dict):
                raise SafetyConfigError("limit_overrides must be a JSON object {joint: {lower, upper, velocity}}")
            limits = limits_from_urdf(arm, list(g("joints")), overrides, float(g("velocity_scale")))
            task_joints = tuple(g("task_joints"))
            if sorted(task_joints) != sorted(limits.joint_names):
                raise SafetyConfigError(f"the policy's joints {list(task_joints)} are not the controller's "
                                        f"{list(limits.joint_names)}")
            kind = g("controller_type")
            if kind not in CONTROLLER_TYPES:
                raise SafetyConfigError(f"controller_type must be one of {', '.join(CONTROLLER_TYPES)}, got {kind!r}")
            self.layer = SafetyLayer(limits, float(g("period_s")), float(g("soft_start_s")),
                                     float(g("state_timeout_s")), float(g("following_error_rad")))
        except (UrdfError, SafetyConfigError, json.JSONDecodeError, ValueError) as e:
            self.get_logger().error(f"configure failed: {e}")
            self.last_event = f"configure failed: {e}"
            return TransitionCallbackReturn.FAILURE
        self.arm = arm
        self.kind = kind
        self.period_s = float(g("period_s"))
        self.joints = limits.joint_names
        self.joint_map = JointMap(types.SimpleNamespace(joint_names=self.joints, sensor_names=()))
        # the gate's action in task order -> controller order
        self.to_controller = np.array([task_joints.index(n) for n in self.joints])
        self.arm_index = np.array([arm.joint_names.index(n) for n in self.joints])
        controller = g("controller")
        if kind == "forward_command_controller":
            self.pub = self.create_publisher(Float64MultiArray, f"/{controller}/commands", CONTROL_QOS)
        else:
            self.pub = self.create_publisher(JointTrajectory, f"/{controller}/joint_trajectory", CONTROL_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.inputs = [
            self.create_subscription(JointState, JOINT_STATES, self.on_state, CONTROL_QOS),
            self.create_subscription(Float64MultiArray, g("command_topic"), self.on_command, CONTROL_QOS),
            self.create_subscription(Bool, g("estop_topic"), self.on_estop_topic, EVENT_QOS),
        ]
        self.estop_services = [self.create_service(Trigger, "~/estop", self.on_estop_service),
                               self.create_service(Trigger, "~/reset_estop", self.on_reset_service)]
        self.periodic = [steady_timer(self, min(0.05, self.layer.state_timeout_s / 4), self.watchdog),
                         steady_timer(self, 1.0, self.publish_diagnostics)]
        self.get_logger().info(f"configured: {len(self.joints)} joints of {arm.path.name} -> "
                               f"{self.pub.topic_name} ({kind})")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self.layer.activate(time.monotonic()):
            why = "e-stopped (reset it first)" if self.layer.estopped else "no fresh /joint_states"
            self.get_logger().error(f"activate refused: {why}")
            self.last_event = f"activate refused: {why}"
            return TransitionCallbackReturn.FAILURE
        self.note(f"active: soft start over {self.layer.soft_start_s:g} s from the measured pose")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.send(self.layer.deactivate(time.monotonic()))
        self.note("inactive: hold sent, no command passes")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self.inputs:
            self.destroy_subscription(s)
        for s in self.estop_services:
            self.destroy_service(s)
        for t in self.periodic:
            self.destroy_timer(t)
        self.destroy_publisher(self.pub)
        self.destroy_publisher(self.diag_pub)
        self.layer = None
        return TransitionCallbackReturn.SUCCESS

    def on_process_exit(self) -> None:
        """
        Hold the arm: the process is being stopped (SIGINT/SIGTERM, as `ros2 launch` does at shutdown).

        An active node deactivates, sending its hold, and waits briefly for the controller to have
        it.
        """
        if self.layer is not None and self.layer.active:
            self.send(self.layer.deactivate(time.monotonic()))
            self.get_logger().warning("stopped while active: hold sent")
            from rclpy.duration import Duration as RclpyDuration
            self.pub.wait_for_all_acked(RclpyDuration(seconds=0.5))

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.layer is not None and self.layer.active:
            self.send(self.layer.deactivate(time.monotonic()))
        return TransitionCallbackReturn.SUCCESS

    # --- inputs -----------------------------------------------------------------------------
    def on_state(self, msg: JointState) -> None:
        velocity = msg.velocity if len(msg.velocity) else [0.0] * len(msg.name)  # drivers may omit it
        try:
            st = self.joint_map.robot_state(msg.name, msg.position, velocity)
        except StateRejected as e:
            self.rejected_states += 1
            self.log("error", "state_rejected", lambda e=e: f"state rejected: {e}")
            return
        self.layer.update_state(st.position, time.monotonic())

    def on_command(self, msg: Float64MultiArray) -> None:
        layer = self.layer
        if not layer.active or layer.estopped or layer.q is None:
            return
        reason = command_ok(msg.data, len(self.joints))
        if reason is not None:
            layer.rejected += 1
            self.log("error", "command_rejected", lambda: f"command rejected: {reason}")
            return
        action = np.asarray(msg.data, dtype=np.float64)[self.to_controller]
        # the target from the measured pose, with the URDF's limits (controller order)
        q_arm = np.zeros(len(self.arm.joint_names))
        q_arm[self.arm_index] = layer.q
        a_arm = np.zeros(len(self.arm.joint_names))
        a_arm[self.arm_index] = action
        target = action_to_target(a_arm, q_arm, self.arm, self.period_s)[self.arm_index]
        self.send(layer.command(target, time.monotonic()))

    def on_estop_topic(self, msg: Bool) -> None:
        if msg.data and not self.layer.estopped:
            self.send(self.layer.estop(time.monotonic()))
            self.note("E-STOP (topic): holding; ~/reset_estop, then deactivate and activate")

    def on_estop_service(self, request, response):
        if not self.layer.estopped:
            self.send(self.layer.estop(time.monotonic()))
            self.note("E-STOP (service): holding; ~/reset_estop, then deactivate and activate")
        response.success, response.message = True, "e-stopped: holding"
        return response

    def on_reset_service(self, request, response):
        was = self.layer.estopped
        self.layer.reset_estop()
        if was:
            self.note("e-stop reset: nothing moves until the node is deactivated and activated again")
        response.success = True
        response.message = "e-stop reset; deactivate and activate to move" if was else "was not e-stopped"
        return response

    def watchdog(self) -> None:
        hold = self.layer.watchdog(time.monotonic())
        if hold is not None:
            self.send(hold)
            self.note(f"no state for {1e3 * self.layer.state_timeout_s:.0f} ms: hold sent")

    # --- output -----------------------------------------------------------------------------
    def send(self, positions: np.ndarray | None) -> None:
        if positions is None or self.pub is None:
            return
        if self.kind == "forward_command_controller":
            msg = Float64MultiArray(data=positions.tolist())
        else:
            msg = JointTrajectory(joint_names=list(self.joints))
            sec, nsec = divmod(int(round(self.period_s * 1e9)), 1_000_000_000)
            msg.points = [JointTrajectoryPoint(positions=positions.tolist(),
                                               time_from_start=Duration(sec=sec, nanosec=nsec))]
        self.pub.publish(msg)
        self.forwarded += 1

    def note(self, text: str) -> None:
        self.get_logger().warning(text) if "E-STOP" in text or "hold" in text else self.get_logger().info(text)
        self.last_event = text
        self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        L = self.layer
        if L is None:
            return
        level = DiagnosticStatus.ERROR if L.estopped else DiagnosticStatus.WARN if L.holding else DiagnosticStatus.OK
        message = "e-stopped" if L.estopped else "active" if L.active else "inactive"
        publish_status(self, self.diag_pub, "asym/safety", self.kind, message,
                       {"commands_sent": self.forwarded, "clamped": L.clamped, "rejected_commands": L.rejected,
                        "rejected_states": self.rejected_states, "last_event": self.last_event},
                       level)


def main(args=None) -> int:
    return spin_node(SafetyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
