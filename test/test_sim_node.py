"""
The simulator node's real-time periods, driven call by call (a real node, not spun).

A period's physics runs with the command for its state as soon as that command is known, or at the
next tick with the newest command (zero-order hold); either way the robot moves as the task does.
"""

from __future__ import annotations

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from asym_control.nodes.common import set_stamp
from asym_control.nodes.sim import SimNode
from asym_control.tasks.registry import get_task


@pytest.fixture
def sim():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    params = dict(lockstep=False, rate_hz=100.0, seed=3, episode_steps=0, wait_for_topics=[""],
                  wait_for_subscribers=0, settle_s=0.0)
    node = SimNode(context=ctx, namespace="/asym",
                   parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    node.try_start()
    assert node.started
    yield node
    node.destroy_node()
    rclpy.shutdown(context=ctx)


def copy_of(stamp: int) -> JointState:
    msg = JointState()
    set_stamp(msg.header.stamp, stamp)
    return msg


def same_state(node: SimNode, ref) -> bool:
    a, b = node.env.robot_state(), ref.robot_state()
    return np.array_equal(a.position, b.position) and np.array_equal(a.velocity, b.velocity)


def test_a_period_runs_on_the_command_for_its_state_whenever_that_arrives(sim):
    spec = get_task("walker-stand")
    ref = spec.make_env(seed=3)
    ref.reset()
    rng = np.random.default_rng(0)
    commands = [rng.uniform(-1, 1, spec.act_dim) for _ in range(3)]
    dt = sim.dt_ns

    sim.tick()                                           # state 0 goes out
    assert sim.env.t == 0 and sim.stamp_published == 0
    # its command, then the stamped copy: the period's physics is computed at once, with it
    sim.on_command(Float64MultiArray(data=commands[0].tolist()))
    sim.on_forwarded(copy_of(0))
    ref.step(commands[0], observe=False)
    assert sim.env.t == 1 and same_state(sim, ref)
    sim.tick()                                           # the tick only publishes state 1
    assert sim.env.t == 1 and sim.stamp_published == dt and sim.meter.missed == 0

    # the copy overtakes its command: not known to answer state 1, so the tick computes the period
    sim.on_forwarded(copy_of(dt))
    assert sim.env.t == 1
    sim.on_command(Float64MultiArray(data=commands[1].tolist()))
    assert sim.env.t == 1
    sim.tick()
    ref.step(commands[1], observe=False)
    assert sim.env.t == 2 and same_state(sim, ref) and sim.stamp_published == 2 * dt

    # no command for state 2 by the next tick: a missed deadline, the period holds the newest one
    sim.tick()
    ref.step(commands[1], observe=False)
    assert sim.env.t == 3 and same_state(sim, ref)
    # its command, late, with its copy: counted missed; state 3 is out already, nothing is
    # computed twice
    sim.on_command(Float64MultiArray(data=commands[2].tolist()))
    sim.on_forwarded(copy_of(2 * dt))
    assert sim.env.t == 3 and sim.meter.missed == 1
    # the late command is the newest at the next tick: it drives the period of state 3
    sim.tick()
    ref.step(commands[2], observe=False)
    assert sim.env.t == 4 and same_state(sim, ref) and sim.meter.missed == 1
    assert sim.meter.latency.count == 3 and sim.rejected == 0


def _finished_sim(ctx, **params):
    """Make a simulator (exit_when_done) whose one 2-step episode has just ended."""
    base = dict(lockstep=True, seed=0, episodes=1, episode_steps=2, wait_for_topics=[""], wait_for_subscribers=0,
                settle_s=0.0, exit_when_done=True)
    node = SimNode(context=ctx, namespace="/asym",
                   parameter_overrides=[Parameter(k, value=v) for k, v in {**base, **params}.items()])
    hold = np.zeros(node.spec.act_dim)
    while not node.finished:
        node.advance(hold)
    return node


def test_the_simulator_leaves_only_once_its_statistics_have_the_readers_it_was_told_of():
    from std_msgs.msg import String

    from asym_control.nodes.common import DONE_QOS
    from waiting import wait_until

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = _finished_sim(ctx, done_readers=1, done_linger_s=600.0)
        node.on_summary(String(data='{"episodes": 1}'))
        assert node.exit_code is None              # summarised, but nobody has matched sim_done yet
        reader = rclpy.create_node("launcher", namespace="/asym", context=ctx)
        got = []
        reader.create_subscription(String, "sim_done", got.append, DONE_QOS)
        wait_until(lambda: node.done_pub.get_subscription_count() >= 1, "the reader's match", 30)
        node.check_linger()
        assert node.exit_code == 0
        reader.destroy_node()
        node.destroy_node()

        # told of no reader: it leaves with the summary; with neither, after done_linger_s
        node = _finished_sim(ctx)
        node.on_summary(String(data='{"episodes": 1}'))
        assert node.exit_code == 0
        node.destroy_node()
        node = _finished_sim(ctx, done_readers=1, done_linger_s=0.0)
        node.check_linger()
        assert node.exit_code == 0
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
