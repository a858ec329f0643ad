"""The RViz timeline: markers well formed, bounded, reset at each episode (real rclpy)."""

import os
import threading
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray, UInt8
from visualization_msgs.msg import Marker, MarkerArray

from asym_control.nodes.common import EVENT_QOS
from asym_control.nodes.cost_monitor import CostMonitorNode
from asym_control.robot.runtime import LARGE_RGBA, SMALL_RGBA, Timeline

ROOT = Path(__file__).resolve().parent.parent
CKPT = str(os.environ.get("ASYM_TEST_CKPT", ROOT / "checkpoints" / "walker-stand" / "asym"))


def test_timeline_ring_buffer_and_geometry():
    t = Timeline(capacity=5, width=1.0, height=2.0)
    for o in [0, 1, 1, 0, 0, 0, 1]:
        t.add(o)
    dots = t.dots()
    assert len(dots) == 5
    assert [d[2] for d in dots] == [LARGE_RGBA, SMALL_RGBA, SMALL_RGBA, SMALL_RGBA, LARGE_RGBA]
    xs = [d[0] for d in dots]
    assert xs == sorted(xs) and xs[-1] == pytest.approx(0.5) and all(d[1] == 2.0 for d in dots)
    assert "large 42.9% of 7 steps" in t.caption(0.5)
    t.reset()
    assert t.dots() == [] and t.steps == 0


def test_cost_monitor_publishes_a_bounded_timeline_reset_per_episode():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    node = CostMonitorNode(context=ctx, namespace="/asym", parameter_overrides=[
        Parameter("checkpoint_dir", value=CKPT), Parameter("timeline_length", value=50),
        Parameter("timeline_rate_hz", value=50.0)])
    probe = rclpy.create_node("probe", context=ctx)
    got = []
    probe.create_subscription(MarkerArray, "/asym/timeline", got.append, 10)
    sel = probe.create_publisher(UInt8, "/asym/selection", EVENT_QOS)
    rew = probe.create_publisher(Float64MultiArray, "/asym/reward", EVENT_QOS)
    ex.add_node(node)
    ex.add_node(probe)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 10
        while (sel.get_subscription_count() == 0 or rew.get_subscription_count() == 0
               or probe.count_publishers("/asym/timeline") == 0) and time.monotonic() < deadline:
            time.sleep(0.02)

        def run_steps(n, option_of, episode, end, start=0):
            for k in range(start, start + n):
                sel.publish(UInt8(data=option_of(k)))
                rew.publish(Float64MultiArray(data=[episode, k, 1.0, 0.0, float(end and k == start + n - 1)]))
                time.sleep(0.002)

        run_steps(120, lambda k: 1 if k < 30 else 0, 0, end=False)
        time.sleep(0.5)
        last = got[-1].markers
        dots = next(m for m in last if m.type == Marker.SPHERE_LIST)
        text = next(m for m in last if m.type == Marker.TEXT_VIEW_FACING)
        assert dots.header.frame_id == "world" and text.header.frame_id == "world"
        assert dots.action == Marker.ADD and dots.ns == "asym_timeline"
        assert len(dots.points) == len(dots.colors) == 50          # bounded: the last 50 steps only
        assert all((c.r, c.g, c.b) == (1.0, 1.0, 1.0) for c in dots.colors)  # the last 50 were small
        assert dots.scale.x > 0 and dots.pose.orientation.w == 1.0
        assert "large 25.0% of 120 steps" in text.text and "FLOPs saved" in text.text
        run_steps(1, lambda k: 0, 0, end=True, start=120)           # the episode ends (121 steps)
        time.sleep(0.5)
        n_before = len(got)
        run_steps(10, lambda k: 1, 1, end=False)                    # the next episode
        time.sleep(0.5)
        after = got[n_before:]
        assert any(m.action == Marker.DELETEALL for arr in got[n_before - 1:] for m in arr.markers)
        dots = next(m for m in after[-1].markers if m.type == Marker.SPHERE_LIST)
        assert len(dots.points) == 10
        assert all((c.r, c.g, c.b) == pytest.approx(LARGE_RGBA[:3]) for c in dots.colors)   # yellow: large
    finally:
        ex.shutdown(timeout_sec=2)
        rclpy.try_shutdown(context=ctx)


def test_timeline_is_built_only_for_a_reader():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = CostMonitorNode(context=ctx, namespace="/asym", parameter_overrides=[
            Parameter("checkpoint_dir", value=CKPT), Parameter("timeline_length", value=50)])
        for k in range(30):
            node.on_selection(UInt8(data=k % 2))
        node.publish_timeline()
        assert node.timeline_published == 0          # headless: no RViz, no markers
        probe = rclpy.create_node("probe", context=ctx)
        got = []
        probe.create_subscription(MarkerArray, "/asym/timeline", got.append, 10)
        deadline = time.monotonic() + 10
        while node.timeline_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        node.publish_timeline()
        assert node.timeline_published == 1
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(probe)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.1)
        # a reader that joins late gets the whole strip, the clearing marker first
        assert got and got[0].markers[0].action == Marker.DELETEALL
        dots = next(m for m in got[0].markers if m.type == Marker.SPHERE_LIST)
        assert len(dots.points) == 30
    finally:
        rclpy.try_shutdown(context=ctx)
