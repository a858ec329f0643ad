"""
When the arm's stand-in begins its first reach: a real node, not spun, asked call by call.

The first reach waits for the chain's readers and for the cost monitor's reward reader, so that no
reward of it goes unread and its summary is the whole reach.
"""

from __future__ import annotations

import pytest
import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray

from asym_control.nodes.common import EVENT_QOS, GOAL, GOAL_QOS, REWARD
from asym_control.nodes.standin import StandinNode
from waiting import wait_until   # noqa: I100 - the tests' own helper


@pytest.fixture
def ctx():
    c = rclpy.Context()
    rclpy.init(context=c)
    yield c
    rclpy.shutdown(context=c)


def standin(ctx, **params):
    params = dict(start_when_active="", wait_for_subscribers=0, settle_s=0.0, **params)
    return StandinNode(context=ctx, namespace="/asym",
                       parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def test_the_first_reach_waits_for_the_reward_reader(ctx):
    node = standin(ctx, wait_for_reward_readers=1, wait_timeout_s=600.0)
    reader = rclpy.create_node("reader", namespace="/asym", context=ctx)
    try:
        reader.create_subscription(PointStamped, GOAL, lambda m: None, GOAL_QOS)
        wait_until(lambda: node.goal_pub.get_subscription_count() >= 1, "the goal reader", 30.0)
        assert not node.ready() and not node.started
        assert any(REWARD in m for m in node.missing())
        reader.create_subscription(Float64MultiArray, REWARD, lambda m: None, EVENT_QOS)
        wait_until(lambda: node.reward_pub.get_subscription_count() >= 1, "the reward reader", 30.0)
        assert node.missing() == []
        assert node.ready() and node.started and node.env.t == 0 and node.episode == 0
    finally:
        reader.destroy_node()
        node.destroy_node()


def test_without_its_readers_it_starts_once_the_wait_times_out(ctx):
    node = standin(ctx, wait_for_reward_readers=1, wait_timeout_s=0.0)
    try:
        assert len(node.missing()) == 2       # no goal reader, no reward reader
        assert node.ready() and node.started
    finally:
        node.destroy_node()
