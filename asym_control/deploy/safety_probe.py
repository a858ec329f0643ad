"""
A harness around a running safety node, from outside it (used by a test and by bench/estop.py).

It plays the robot's driver (publishes /joint_states at a fixed pose), the gate (publishes
actions on /asym/actuator_command) and the operator (lifecycle transitions, e-stop), and records
every command that reaches the controller's topic with its arrival time. The safety node runs in
its own process (`start_safety_process`), as in a deployment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np

from asym_control.robot.arm import ARM_JOINTS

CONTROLLER_TOPIC = "/forward_position_controller/commands"
REPLY_S = 5.0      # s to wait for a lifecycle service's reply before asking the node's state


def start_safety_process(params: dict, log_path) -> subprocess.Popen:
    from asym_control.deploy.launcher import _ros_value

    cmd = [sys.executable, "-m", "asym_control.nodes.safety", "--ros-args", "-r", "__node:=safety",
           "-r", "__ns:=/asym"]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={_ros_value(v)}"]
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))


class SafetyProbe:
    def __init__(self, q_task: np.ndarray | None = None, state_rate_hz: float = 100.0):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray

        from asym_control.nodes.common import CONTROL_QOS, EVENT_QOS

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = Node("safety_probe", context=self.ctx)
        self.q_task = np.array([0.2, -0.5, 1.0, -0.4, 0.3, 0.1]) if q_task is None else q_task
        self.received: list[tuple[float, np.ndarray]] = []
        self.clients: dict = {}
        self.lock = threading.Lock()
        self.node.create_subscription(Float64MultiArray, CONTROLLER_TOPIC, self._on_command, EVENT_QOS)
        self.state_pub = self.node.create_publisher(JointState, "/joint_states", CONTROL_QOS)
        self.cmd_pub = self.node.create_publisher(Float64MultiArray, "/asym/actuator_command", CONTROL_QOS)
        self.estop_pub = self.node.create_publisher(Bool, "/asym/estop", EVENT_QOS)
        self._state_msg = JointState(name=list(ARM_JOINTS), position=[float(x) for x in self.q_task],
                                     velocity=[0.0] * len(ARM_JOINTS))
        self.node.create_timer(1.0 / state_rate_hz, lambda: self.state_pub.publish(self._state_msg))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            while self.ctx.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # noqa: BLE001 - the context went down under us at the end
            pass

    def _on_command(self, msg) -> None:
        with self.lock:
            self.received.append((time.perf_counter(), np.array(msg.data)))

    def commands(self) -> list[tuple[float, np.ndarray]]:
        with self.lock:
            return list(self.received)

    def wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.005)

    def _reply(self, client, request, timeout: float):
        """Return the service's response, or None (the request abandoned) after `timeout` without one."""
        future = client.call_async(request)
        try:
            self.wait(future.done, timeout, client.srv_name)
        except TimeoutError:
            client.remove_pending_request(future)
            return None
        return future.result()

    def state(self, timeout: float = 30.0) -> int | None:
        """Return the safety node's lifecycle state id (lifecycle_msgs/State), or None without a reply."""
        from lifecycle_msgs.srv import GetState

        r = self._reply(self._client(GetState, "/asym/safety/get_state", timeout), GetState.Request(), timeout)
        return None if r is None else int(r.current_state.id)

    def transition(self, transition_id: int, timeout: float = 30.0) -> bool:
        """
        Ask for a lifecycle transition; return whether the node made it.

        DDS can lose a request sent as the service is discovered, or its reply. A request without
        a reply after REPLY_S is abandoned and the node's state asked (which changes nothing): the
        transition is sent again only if the node has not made it.
        """
        from lifecycle_msgs.msg import State, Transition
        from lifecycle_msgs.srv import ChangeState

        goal = {Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
                Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
                Transition.TRANSITION_DEACTIVATE: State.PRIMARY_STATE_INACTIVE,
                Transition.TRANSITION_CLEANUP: State.PRIMARY_STATE_UNCONFIGURED}[transition_id]
        client = self._client(ChangeState, "/asym/safety/change_state", timeout)
        deadline, retried = time.monotonic() + timeout, False
        while time.monotonic() < deadline:
            r = self._reply(client, ChangeState.Request(transition=Transition(id=transition_id)), REPLY_S)
            if r is not None and (r.success or not retried):
                return bool(r.success)
            # no reply, or a refusal of a resent request: the node's state says whether it was made
            state = self.state(REPLY_S)
            if state == goal:
                return True
            if r is not None:
                return False
            retried = True
        raise TimeoutError(f"timed out after {timeout:g} s waiting for a lifecycle transition")

    def _client(self, kind, service: str, timeout: float):
        """One client per service, made and matched once (a new client would be discovered anew)."""
        client = self.clients.get(service)
        if client is None:
            client = self.clients[service] = self.node.create_client(kind, service)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"{service} did not appear")
        return client

    def call_trigger(self, service: str, timeout: float = 30.0) -> bool:
        from std_srvs.srv import Trigger

        future = self._client(Trigger, service, timeout).call_async(Trigger.Request())
        self.wait(future.done, timeout, service)
        return bool(future.result().success)

    def bring_up(self, timeout: float = 60.0) -> None:
        """Configure, wait until the node hears the state and the gate, and activate."""
        from lifecycle_msgs.msg import Transition

        if not self.transition(Transition.TRANSITION_CONFIGURE, timeout):
            raise RuntimeError("the safety node refused to configure (its log says why)")
        self.wait(lambda: self.cmd_pub.get_subscription_count() > 0
                  and self.state_pub.get_subscription_count() > 0, timeout, "the safety node's subscriptions")
        self.activate(timeout)

    def activate(self, timeout: float = 30.0) -> None:
        from lifecycle_msgs.msg import Transition

        deadline = time.monotonic() + timeout
        while not self.transition(Transition.TRANSITION_ACTIVATE, timeout):
            if time.monotonic() > deadline:
                raise TimeoutError("the safety node refused to activate")
            time.sleep(0.05)     # no fresh state reached it yet

    def send_action(self, action) -> None:
        from std_msgs.msg import Float64MultiArray

        self.cmd_pub.publish(Float64MultiArray(data=[float(x) for x in action]))

    def close(self) -> None:
        import rclpy

        rclpy.try_shutdown(context=self.ctx)
        self.thread.join(timeout=2)
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.ctx.destroy()    # its DDS participant now (launcher.run_graph says why)
