"""
The master's gate with real nodes in one process.

Stale state -> one hold command; bad states and bad commands never reach the actuator.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, UInt8

from asym_control.nodes.common import CONTROL_QOS, DIAG_QOS, EVENT_QOS, set_stamp
from asym_control.nodes.master import MasterNode
from asym_control.nodes.subpolicy import SubPolicyNode
from asym_control.tasks.registry import WALKER_JOINTS

ROOT = Path(__file__).resolve().parent.parent
CKPT = str(os.environ.get("ASYM_TEST_CKPT", ROOT / "checkpoints" / "walker-stand" / "asym"))


@pytest.fixture
def graph():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    ex = MultiThreadedExecutor(num_threads=3, context=ctx)
    nodes = {}

    def params(**kw):
        return [Parameter(k, value=v) for k, v in kw.items()]
    nodes["master"] = MasterNode(context=ctx, namespace="/asym", parameter_overrides=params(
        checkpoint_dir=CKPT, command_timeout_s=2.0, state_timeout_s=1.0))
    for name in ("small", "large"):
        nodes[name] = SubPolicyNode(context=ctx, namespace="/asym", cli_args=["--ros-args", "-r", f"__node:={name}"],
                                    parameter_overrides=params(checkpoint_dir=CKPT, option=name))
    probe = rclpy.create_node("probe", context=ctx)
    got = {"commands": [], "selections": [], "master_diagnostics": 0}
    probe.create_subscription(Float64MultiArray, "/asym/actuator_command",
                              lambda m: got["commands"].append((time.monotonic(), list(m.data))), EVENT_QOS)
    probe.create_subscription(UInt8, "/asym/selection", lambda m: got["selections"].append(m.data), EVENT_QOS)

    def diagnostics(m):
        got["master_diagnostics"] += sum(st.name == "asym/master" for st in m.status)
    probe.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, DIAG_QOS)
    # the master waits for a reader of its stamped commands, as the simulator is in the graph
    probe.create_subscription(JointState, "/asym/command", lambda m: None, EVENT_QOS)
    pub = probe.create_publisher(JointState, "/joint_states", CONTROL_QOS)
    for n in list(nodes.values()) + [probe]:
        ex.add_node(n)
    import threading
    t = threading.Thread(target=ex.spin, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    master = nodes["master"]

    def connected():  # every link matched, not only discovered
        return (pub.get_subscription_count() > 0 and master.actuator_pub.get_subscription_count() > 0
                and master.selection_pub.get_subscription_count() > 0
                and master.stamped_pub.get_subscription_count() > 0
                and all(p.get_subscription_count() > 0 for p in master.forward_pubs.values())
                and all(n.pub.get_subscription_count() > 0 for k, n in nodes.items() if k != "master"))
    while not connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    yield nodes, pub, got
    ex.shutdown(timeout_sec=2)
    rclpy.try_shutdown(context=ctx)


def state(step: int, position=None, names=WALKER_JOINTS, velocity=None):
    msg = JointState()
    set_stamp(msg.header.stamp, step * 25_000_000)
    msg.name = list(names)
    msg.position = position if position is not None else [0.0] * len(names)
    msg.velocity = velocity if velocity is not None else [0.0] * len(names)
    return msg


HOLD = [0.0] * 6


def answers(got):
    """Return the commands that answer a state (the gate's hold commands are not answers)."""
    return [c for _, c in got["commands"] if c != HOLD]


def send_until_answered(pub, msg, got, n_before):
    """
    Publish a state, again every 0.5 s like the lockstep simulator, until a command answers it.

    n_before: the answers before it.
    """
    for _ in range(10):
        pub.publish(msg)
        if wait_for(lambda: len(answers(got)) > n_before, timeout=0.5):
            return True
    return False


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cond()


def test_no_state_closes_the_gate_with_exactly_one_hold_command(graph):
    nodes, pub, got = graph
    hold = HOLD
    for k in range(10):
        t_last = time.monotonic()  # the master receives the state after this
        assert send_until_answered(pub, state(k), got, len(answers(got))), f"no command for state {k}"
    # On a loaded machine the master's executor can go a whole state timeout without running the
    # state's callback; its hold is then right (it has had no state), and the next state opens the
    # gate again. What follows the last answer is copies of it (a state published again by
    # send_until_answered gets its command again), then exactly one hold.
    answered = len(got["commands"])
    last = got["commands"][-1][1]
    assert last != hold
    assert wait_for(lambda: any(c == hold for _, c in got["commands"][answered:]), timeout=30), "no hold command"
    i_hold = next(i for i in range(answered, len(got["commands"])) if got["commands"][i][1] == hold)
    assert all(c == last for _, c in got["commands"][answered:i_hold])
    t_hold = got["commands"][i_hold][0]
    assert t_hold - t_last >= 1.0            # the state timeout
    # while no state comes, the master's watchdog goes on (its diagnostics, on the same executor,
    # are the proof that its timers ran): no second hold
    seen = got["master_diagnostics"]
    assert wait_for(lambda: got["master_diagnostics"] >= seen + 3, timeout=30)
    assert [c for _, c in got["commands"][i_hold:]] == [hold]
    # with states back the gate forwards again
    n = len(got["commands"])
    pub.publish(state(11))
    assert wait_for(lambda: len(got["commands"]) == n + 1)
    # one selection per forwarded state (published just after its command), none for the hold
    forwarded = nodes["master"].forwarded
    assert wait_for(lambda: len(got["selections"]) >= 11)
    assert len(got["selections"]) == forwarded


@pytest.mark.parametrize("bad", [
    dict(position=[math.nan] + [0.0] * 8),
    dict(velocity=[0.0] * 8 + [math.inf]),
    dict(position=[0.0] * 8),                       # wrong length
    dict(names=WALKER_JOINTS[:-1], position=[0.0] * 8, velocity=[0.0] * 8),  # a joint missing
])
def test_bad_states_are_rejected_and_never_reach_the_actuator(graph, bad, capfd):
    nodes, pub, got = graph
    for k in range(20):
        pub.publish(state(k, **bad))
        assert wait_for(lambda: nodes["master"].rejected_states == k + 1)
    time.sleep(0.5)
    assert got["commands"] == []
    assert nodes["small"].infer.count == nodes["large"].infer.count == 0
    err = capfd.readouterr().err
    assert "state rejected" in err
    assert err.count("state rejected") < 20  # throttled


def test_joint_order_does_not_matter_and_extra_joints_are_ignored(graph):
    nodes, pub, got = graph
    names = list(reversed(WALKER_JOINTS)) + ["camera_pan"]
    pub.publish(state(0, names=names, position=[0.1] * 10, velocity=[0.0] * 10))
    assert wait_for(lambda: len(got["commands"]) == 1)
    assert all(abs(x) <= 1.0 for x in got["commands"][0][1])


def test_commands_from_the_unselected_or_with_nan_are_dropped(graph):
    nodes, pub, got = graph
    pub.publish(state(0))
    assert wait_for(lambda: len(got["commands"]) == 1)
    master = nodes["master"]
    selected = master.option
    other_topic = "/asym/large/command" if selected == 0 else "/asym/small/command"
    own_topic = "/asym/small/command" if selected == 0 else "/asym/large/command"
    probe = nodes["small"]  # any node of this context can publish
    other = probe.create_publisher(JointState, other_topic, CONTROL_QOS)
    own = probe.create_publisher(JointState, own_topic, CONTROL_QOS)
    time.sleep(0.5)
    before = master.rejected_commands
    cmd = JointState()
    cmd.header.stamp = state(0).header.stamp
    cmd.effort = [0.5] * 6
    other.publish(cmd)                  # not the selected sub-policy
    cmd2 = JointState()
    cmd2.header.stamp = state(0).header.stamp
    cmd2.effort = [math.nan] + [0.0] * 5
    own.publish(cmd2)                   # answered already, and NaN
    assert wait_for(lambda: master.rejected_commands >= before + 2)
    time.sleep(0.3)
    # nothing but the first command and, once the state is stale, the hold command
    assert [c for _, c in got["commands"][1:] if c != [0.0] * 6] == []
