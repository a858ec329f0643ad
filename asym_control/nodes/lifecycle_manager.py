"""
`lifecycle_manager`: brings the graph's lifecycle nodes (the safety node) to active, once.

As nav2's lifecycle manager does for its servers: configure each managed node as soon as its
services exist, then wait for the robot's state (a message on `wait_for_topic`, the driver's
/joint_states) and activate. While it waits it says so once; an activate the node refuses (its log
says why: a stale state, a latched e-stop) is tried again after `retry_s`, with one log line per
refusal, not a storm. A refused configure is final: the node's configuration is wrong, and this
node exits with status 1 and the reason, which stops `asym-control launch`. Used by both
launchers (launch/arm.launch.py and `asym-control launch arm`).

A request can go unanswered: DDS may drop a request sent just as the service was discovered, or
its response (the service's and the client's ends are matched separately), and a loaded machine
can make that likely. A request with no reply after `reply_timeout_s` is abandoned, and the
manager asks the node's state again (get_state, which changes nothing) and goes on from there,
so a transition is never sent twice to a node that has made it.

Deactivation on shutdown is the safety node's own (it sends a hold when its process is stopped),
so that it does not depend on this node outliving it.
"""

from __future__ import annotations

import time

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from sensor_msgs.msg import JointState

from asym_control.nodes.common import CONTROL_QOS, JOINT_STATES, spin_node, steady_timer


class _Managed:
    def __init__(self, node: Node, name: str):
        self.name = name
        self.change = node.create_client(ChangeState, f"{name}/change_state")
        self.get = node.create_client(GetState, f"{name}/get_state")
        self.stage = "find"      # find -> configure -> wait -> activate -> active | failed
        self.future = None
        self.client = None       # the client `future` waits on, and since when
        self.sent = 0.0
        self.next_try = 0.0
        self.said_waiting = False


class LifecycleManagerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("lifecycle_manager", **kwargs)
        self.declare_parameter("managed_nodes", ["safety"])   # relative to this node's namespace
        self.declare_parameter("wait_for_topic", JOINT_STATES)
        self.declare_parameter("state_fresh_s", 0.5)
        self.declare_parameter("retry_s", 1.0)
        self.declare_parameter("reply_timeout_s", 5.0)
        names = [n for n in self.get_parameter("managed_nodes").value if n]
        if not names:
            raise ValueError("managed_nodes is empty")
        self.topic = self.get_parameter("wait_for_topic").value
        self.fresh_s = float(self.get_parameter("state_fresh_s").value)
        self.retry_s = float(self.get_parameter("retry_s").value)
        self.reply_timeout_s = float(self.get_parameter("reply_timeout_s").value)
        if not self.reply_timeout_s > 0:
            raise ValueError(f"reply_timeout_s must be > 0, got {self.reply_timeout_s}")
        self.managed = [_Managed(self, n) for n in names]
        self.t_state = -float("inf")
        self.create_subscription(JointState, self.topic, self.on_state, CONTROL_QOS)
        self.exit_code: int | None = None
        steady_timer(self, 0.1, self.step)

    def on_state(self, msg: JointState) -> None:
        self.t_state = time.monotonic()

    def step(self) -> None:
        for m in self.managed:
            self._step(m)

    def _step(self, m: _Managed) -> None:
        now = time.monotonic()
        if m.stage in ("active", "failed") or now < m.next_try:
            return
        if m.future is not None:
            if m.future.done():
                result, m.future = m.future.result(), None
                self._done(m, result)
            elif now - m.sent > self.reply_timeout_s:
                m.client.remove_pending_request(m.future)
                m.future = None
                service = self.resolve_service_name(m.client.srv_name)
                self.get_logger().warning(f"no reply from {service} in {self.reply_timeout_s:g} s ({m.stage}); "
                                          "asking the node's state again")
                m.stage = "find"
            return
        if m.stage == "find":
            if m.get.service_is_ready():
                self._call(m, m.get, GetState.Request())
        elif m.stage == "configure":
            self._call(m, m.change, ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)))
        elif m.stage == "wait":
            if now - self.t_state <= self.fresh_s:
                m.stage = "activate"
                self._call(m, m.change,
                           ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE)))
            elif not m.said_waiting:
                m.said_waiting = True
                self.get_logger().info(f"waiting for {self.topic} before activating {m.get.srv_name.rsplit('/', 1)[0]}")

    @staticmethod
    def _call(m: _Managed, client, request) -> None:
        m.client, m.sent = client, time.monotonic()
        m.future = client.call_async(request)

    def _done(self, m: _Managed, result) -> None:
        name = m.change.srv_name.rsplit("/", 1)[0]
        if m.stage == "find":
            state = result.current_state.id if result is not None else State.PRIMARY_STATE_UNKNOWN
            m.stage = {State.PRIMARY_STATE_UNCONFIGURED: "configure", State.PRIMARY_STATE_INACTIVE: "wait",
                       State.PRIMARY_STATE_ACTIVE: "active"}.get(state, "find")
            if m.stage == "find":
                m.next_try = time.monotonic() + self.retry_s
        elif m.stage == "configure":
            if result is not None and result.success:
                m.stage = "wait"
            else:
                m.stage = "failed"
                self.get_logger().error(f"{name} refused to configure (its log says why)")
                self.exit_code = 1
        elif m.stage == "activate":
            if result is not None and result.success:
                m.stage = "active"
                self.get_logger().info(f"{name} is active")
            else:
                m.stage = "wait"
                m.next_try = time.monotonic() + self.retry_s
                self.get_logger().warning(f"{name} refused to activate (its log says why); "
                                          f"trying again in {self.retry_s:g} s")


def main(args=None) -> int:
    return spin_node(LifecycleManagerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
