"""
The safety lifecycle node with real rclpy.

Lifecycle gating, limits under adversarial commands, watchdog hold, e-stop by topic and by service,
soft start, joints mapped by name, and configurations that contradict the URDF refused at
configure.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from asym_control.robot.arm import ARM_JOINTS, default_arm
from asym_control.nodes.common import CONTROL_QOS, EVENT_QOS
from asym_control.nodes.safety import SafetyNode

# the driver's order differs from the task's, and it reports a gripper joint the policy ignores
DRIVER_JOINTS = list(reversed(ARM_JOINTS)) + ["gripper_joint"]
CONTROLLER_JOINTS = [ARM_JOINTS[i] for i in (2, 0, 1, 3, 5, 4)]
PERIOD = 0.04


class Rig:
    def __init__(self, **params):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        defaults = dict(joints=CONTROLLER_JOINTS, period_s=PERIOD, soft_start_s=0.0, state_timeout_s=0.3)
        defaults.update(params)
        self.node = SafetyNode(context=self.ctx, namespace="/asym",
                               parameter_overrides=[Parameter(k, value=v) for k, v in defaults.items()])
        self.probe = rclpy.create_node("probe", context=self.ctx)
        self.out: list = []
        self.kind = defaults.get("controller_type", "forward_command_controller")
        if self.kind == "forward_command_controller":
            self.probe.create_subscription(Float64MultiArray, "/forward_position_controller/commands",
                                           lambda m: self.out.append(np.array(m.data)), EVENT_QOS)
        else:
            self.probe.create_subscription(JointTrajectory, "/forward_position_controller/joint_trajectory",
                                           lambda m: self.out.append(m), EVENT_QOS)
        self.state_pub = self.probe.create_publisher(JointState, "/joint_states", CONTROL_QOS)
        self.cmd_pub = self.probe.create_publisher(Float64MultiArray, "/asym/actuator_command", CONTROL_QOS)
        self.estop_pub = self.probe.create_publisher(Bool, "/asym/estop", EVENT_QOS)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.ex.add_node(self.probe)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        self.q_task = np.array([0.2, -0.5, 1.0, -0.4, 0.3, 0.1])

    def _spin(self):
        try:
            while rclpy.ok(context=self.ctx):
                self.ex.spin_once(timeout_sec=0.05)
        except Exception:  # noqa: BLE001 - the context went down under us at the end
            pass

    def configure(self):
        r = self.node.trigger_configure()
        if r == TransitionCallbackReturn.SUCCESS:
            wait(lambda: self.state_pub.get_subscription_count() > 0 and self.cmd_pub.get_subscription_count() > 0
                 and self.node.pub.get_subscription_count() > 0)
        return r

    def activate(self):
        """Configure, let a state be seen, activate."""
        assert self.configure() == TransitionCallbackReturn.SUCCESS
        self.publish_state()
        wait(lambda: self.node.layer.q is not None)
        assert self.node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def publish_state(self, q_task=None):
        q = self.q_task if q_task is None else q_task
        by_name = dict(zip(ARM_JOINTS, q))
        msg = JointState(name=DRIVER_JOINTS, position=[float(by_name.get(n, 0.04)) for n in DRIVER_JOINTS])
        self.state_pub.publish(msg)   # no velocities, as some drivers do

    def stream(self, seconds, action_fn, rate=1 / PERIOD):
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            self.publish_state()
            time.sleep(0.002)
            self.cmd_pub.publish(Float64MultiArray(data=[float(x) for x in action_fn(k)]))
            k += 1
            time.sleep(1 / rate)

    def close(self):
        rclpy.try_shutdown(context=self.ctx)
        self.thread.join(timeout=2)


def wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def controller_order(q_task):
    return np.array([q_task[ARM_JOINTS.index(n)] for n in CONTROLLER_JOINTS])


def test_only_an_active_node_commands_and_deactivate_holds(rig):
    assert rig.configure() == TransitionCallbackReturn.SUCCESS
    rig.stream(0.3, lambda k: np.ones(6))
    assert rig.out == []                                        # configured, not active: nothing
    assert rig.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    rig.stream(0.4, lambda k: np.ones(6))
    wait(lambda: len(rig.out) >= 3)
    n = len(rig.out)
    assert rig.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    wait(lambda: len(rig.out) == n + 1)
    np.testing.assert_allclose(rig.out[-1], controller_order(rig.q_task))   # the hold: measured pose
    rig.stream(0.3, lambda k: np.ones(6))
    time.sleep(0.2)
    assert len(rig.out) == n + 1                                # nothing after deactivate


def test_activate_needs_a_fresh_state(rig):
    rig.configure()
    assert rig.node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert "no fresh /joint_states" in rig.node.last_event


def test_adversarial_commands_stay_inside_the_limits(rig):
    rig.activate()
    rng = np.random.default_rng(0)
    bad = [np.full(6, np.nan), np.full(6, np.inf), np.full(6, 1e9), np.full(5, 0.5)]
    rig.stream(1.2, lambda k: bad[k % 4] if k % 2 else rng.uniform(-1, 1, 6))
    wait(lambda: len(rig.out) > 5)
    lim = rig.node.layer.limits
    prev = controller_order(rig.q_task)
    for cmd in rig.out:
        assert np.all(np.isfinite(cmd)) and np.all(cmd >= lim.lower) and np.all(cmd <= lim.upper)
        assert np.all(np.abs(cmd - prev) <= lim.velocity * PERIOD + 1e-9)
        prev = cmd
    assert rig.node.layer.rejected > 0


def test_watchdog_holds_once_when_the_state_stops(rig):
    rig.activate()
    rig.stream(0.3, lambda k: np.full(6, 0.5))
    n = len(rig.out)
    time.sleep(0.8)                                              # no state for > 0.3 s
    assert len(rig.out) == n + 1
    np.testing.assert_allclose(rig.out[-1], controller_order(rig.q_task))
    assert "no state" in rig.node.last_event


def test_estop_by_topic_and_by_service(rig):
    rig.activate()
    rig.stream(0.2, lambda k: np.full(6, 0.5))
    rig.estop_pub.publish(Bool(data=True))
    wait(lambda: rig.node.layer.estopped)
    n = len(rig.out)
    rig.stream(0.3, lambda k: np.full(6, 0.5))
    assert len(rig.out) == n                                     # latched: nothing passes
    np.testing.assert_allclose(rig.out[-1], controller_order(rig.q_task))
    client = rig.probe.create_client(Trigger, "/asym/safety/reset_estop")
    assert client.wait_for_service(timeout_sec=5)
    fut = client.call_async(Trigger.Request())
    wait(fut.done)
    assert fut.result().success and not rig.node.layer.estopped
    rig.stream(0.2, lambda k: np.full(6, 0.5))
    assert len(rig.out) == n                                     # reset alone moves nothing
    assert rig.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    rig.publish_state()
    time.sleep(0.05)
    assert rig.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    rig.stream(0.2, lambda k: np.full(6, 0.5))
    assert len(rig.out) > n + 1                                  # moving again
    estop = rig.probe.create_client(Trigger, "/asym/safety/estop")
    assert estop.wait_for_service(timeout_sec=5)
    fut = estop.call_async(Trigger.Request())
    wait(fut.done)
    assert fut.result().success and rig.node.layer.estopped


def test_soft_start_ramps_from_the_measured_pose():
    rig = Rig(soft_start_s=1.0)
    try:
        rig.activate()
        rig.stream(0.6, lambda k: np.ones(6))
        wait(lambda: len(rig.out) > 5)
        lim = rig.node.layer.limits
        full = MAX = lim.velocity * PERIOD
        first = np.abs(rig.out[0] - controller_order(rig.q_task))
        assert np.all(first <= 0.1 * MAX + 1e-9)                # starts slowly where the arm is
        assert np.all(first > 0)
        steps = [np.abs(b - a).max() for a, b in zip(rig.out, rig.out[1:])]
        assert max(steps) < full.max()                           # never full speed in the first 0.6 s
    finally:
        rig.close()


def test_trajectory_controller_gets_named_joints():
    rig = Rig(controller_type="joint_trajectory_controller")
    try:
        rig.activate()
        rig.stream(0.3, lambda k: np.zeros(6))
        wait(lambda: len(rig.out) > 1)
        msg = rig.out[-1]
        assert list(msg.joint_names) == CONTROLLER_JOINTS
        assert len(msg.points) == 1 and msg.points[0].time_from_start.nanosec == int(PERIOD * 1e9)
        np.testing.assert_allclose(msg.points[0].positions, controller_order(rig.q_task), atol=1e-9)
    finally:
        rig.close()


@pytest.mark.parametrize("params, message", [
    (dict(joints=CONTROLLER_JOINTS[:5]), "lack ['wrist_2_joint']"),
    (dict(joints=CONTROLLER_JOINTS[:5] + ["gripper_joint"]), "not in arm.urdf"),
    (dict(limit_overrides='{"elbow_joint": {"velocity": 9.0}}'), "above the URDF's 3.14"),
    (dict(controller_type="effort_controller"), "controller_type must be one of"),
    (dict(urdf="/nonexistent/arm.urdf"), "cannot read URDF"),
])
def test_configuration_errors_fail_configure_clearly(params, message):
    rig = Rig(**params)
    try:
        assert rig.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert message in rig.node.last_event
    finally:
        rig.close()


def test_lifecycle_services_drive_the_node(rig):
    client = rig.probe.create_client(ChangeState, "/asym/safety/change_state")
    assert client.wait_for_service(timeout_sec=5)
    fut = client.call_async(ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)))
    wait(fut.done)
    assert fut.result().success and rig.node.layer is not None
    assert default_arm().joint_names == ARM_JOINTS
