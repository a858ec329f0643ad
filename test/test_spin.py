"""How every node's spin ends: a Ctrl-C inside a publishing callback is a shutdown, not a crash."""

from __future__ import annotations

import pytest
import rclpy
from std_msgs.msg import Float64MultiArray


@pytest.mark.parametrize("kind", ["events", "single"])
def test_a_runtime_error_raised_as_the_context_goes_down_ends_the_spin_cleanly(kind):
    # the same Ctrl-C landing inside spin_once itself: under load the executor raised pybind11's
    # plain RuntimeError for a handle it no longer had (the safety node then exited with status 1)
    from asym_control.nodes.common import make_executor, spin_executor

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("shutdown_probe", context=ctx)

    def tick():
        ctx.handle.shutdown()
        raise RuntimeError("Unable to convert call argument '0' to Python object")
    node.create_timer(0.01, tick)
    executor = make_executor(context=ctx, kind=kind)
    executor.add_node(node)
    spin_executor(executor)                          # returns, does not raise
    assert not rclpy.ok(context=ctx)
    node.destroy_node()
    ctx.try_shutdown()


@pytest.mark.parametrize("kind", ["events", "single"])
def test_a_shutdown_that_lands_inside_a_publishing_callback_ends_the_spin_cleanly(kind):
    # Ctrl-C shuts the context down from rclpy's signal handler, possibly while a callback is
    # between its computation and its publish: the spin ends as a shutdown, not an RCLError
    from asym_control.nodes.common import make_executor, spin_executor

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("shutdown_probe", context=ctx)
    pub = node.create_publisher(Float64MultiArray, "probe", 1)
    calls = []

    def tick():
        calls.append(1)
        ctx.handle.shutdown()                       # what rclpy's SIGINT handler does: rcl's context only
        pub.publish(Float64MultiArray(data=[1.0]))  # "publisher's context is invalid": an RCLError
    node.create_timer(0.01, tick)
    executor = make_executor(context=ctx, kind=kind)
    executor.add_node(node)
    spin_executor(executor)                          # returns, does not raise
    assert calls == [1] and not rclpy.ok(context=ctx)
    node.destroy_node()
    ctx.try_shutdown()


@pytest.mark.parametrize("error", ["RCLError", "RuntimeError"])
def test_an_rcl_error_with_the_context_up_is_not_swallowed(error):
    from asym_control.nodes.common import make_executor, spin_executor
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

    kind = _rclpy.RCLError if error == "RCLError" else RuntimeError
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("error_probe", context=ctx)

    def tick():
        raise kind("a real failure")
    node.create_timer(0.01, tick)
    executor = make_executor(context=ctx)
    executor.add_node(node)
    with pytest.raises(kind, match="a real failure"):
        spin_executor(executor)
    node.destroy_node()
    rclpy.shutdown(context=ctx)
