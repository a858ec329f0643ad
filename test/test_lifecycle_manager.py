"""
The lifecycle manager when a transition's reply never comes.

Real rclpy, the managed node and the manager on their own executors and threads, as two
processes would be. The manager abandons the unanswered request, asks the node's state, and goes
on from what the node says: the node is configured once and ends active.
"""

from __future__ import annotations

import threading
import time

import pytest
import rclpy
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from asym_control.nodes.common import CONTROL_QOS
from asym_control.nodes.lifecycle_manager import LifecycleManagerNode


class LosesOneReply(Node):
    """
    The safety node's lifecycle services, whose first change_state makes the transition but never replies.

    As a reply lost by DDS looks to the manager. Its get_state answers throughout (its own thread).
    """

    def __init__(self, **kwargs):
        super().__init__("safety", namespace="/asym", **kwargs)
        self.state = State.PRIMARY_STATE_UNCONFIGURED
        self.calls: list[int] = []
        self.release, self.released = threading.Event(), threading.Event()
        group = ReentrantCallbackGroup()
        self.create_service(ChangeState, "~/change_state", self.on_change, callback_group=group)
        self.create_service(GetState, "~/get_state", self.on_get, callback_group=group)

    def on_change(self, request, response):
        t = request.transition.id
        self.calls.append(t)
        goal = {Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
                Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE}[t]
        self.state = goal
        if len(self.calls) == 1:
            self.release.wait()          # the reply is lost: nothing comes back while the test runs
            self.released.set()
        response.success = True
        return response

    def on_get(self, request, response):
        response.current_state = State(id=self.state)
        return response


def spin(executor, ctx):
    try:
        while ctx.ok():
            executor.spin_once(timeout_sec=0.05)
    except Exception:  # noqa: BLE001 - the context went down under us at the end
        pass


def test_an_unanswered_transition_is_recovered_from_the_nodes_state_without_a_second_one():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    threads, executors, nodes_made, managed = [], [], [], None
    try:
        managed = LosesOneReply(context=ctx)
        manager = LifecycleManagerNode(context=ctx, namespace="/asym", parameter_overrides=[
            Parameter("reply_timeout_s", value=0.5), Parameter("retry_s", value=0.2)])
        driver = rclpy.create_node("driver", context=ctx)
        pub = driver.create_publisher(JointState, "/joint_states", CONTROL_QOS)
        driver.create_timer(0.05, lambda: pub.publish(JointState()))
        warnings: list[str] = []
        log = manager.get_logger()
        log_warning = log.warning
        log.warning = lambda msg, **kw: (warnings.append(msg), log_warning(msg, **kw))[1]
        for nodes, kind in (((managed,), MultiThreadedExecutor), ((manager, driver), SingleThreadedExecutor)):
            ex = kind(context=ctx)
            executors.append(ex)
            nodes_made += nodes
            for n in nodes:
                ex.add_node(n)
            threads.append(threading.Thread(target=spin, args=(ex, ctx), daemon=True))
            threads[-1].start()
        deadline = time.monotonic() + 60
        while managed.state != State.PRIMARY_STATE_ACTIVE:
            assert time.monotonic() < deadline, (managed.calls, warnings)
            assert manager.exit_code is None, warnings
            time.sleep(0.01)
        assert managed.calls == [Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE]   # each once
        assert any("no reply from /asym/safety/change_state" in w and "(configure)" in w for w in warnings)
    finally:
        if managed is not None and managed.calls:
            managed.release.set()          # the held reply goes out (to a request long abandoned)
            managed.released.wait(timeout=10)
        rclpy.try_shutdown(context=ctx)
        for t in threads:
            t.join(timeout=10)
        for ex in executors:          # its worker threads and the nodes go now, not in a later garbage collection
            ex.shutdown(timeout_sec=10)
        for n in nodes_made:
            n.destroy_node()


def test_a_reply_timeout_that_is_not_positive_is_refused():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        with pytest.raises(ValueError, match="reply_timeout_s must be > 0"):
            LifecycleManagerNode(context=ctx, parameter_overrides=[Parameter("reply_timeout_s", value=0.0)])
    finally:
        rclpy.try_shutdown(context=ctx)
