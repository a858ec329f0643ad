"""
What one rclpy publish costs the publishing thread, at the graph's rate.

Publishes each message type of the control path once every 2 ms (as at 500 Hz: the thread sleeps
between publishes, so caches are as cold as in the graph) and times the `publish()` call, with no
reader and with a reader in another process (Fast DDS delivers over shared memory). Also the same
sensor_msgs/JointState handed over already serialised (bytes, as the master forwards what it
received) and `serialize_message` alone.

    python bench/publish_cost.py [--messages 1500]

prints one JSON object per case: the message, the readers, p50 and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

TOPICS = ("joint_state", "float64_array", "uint8")


def types():
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, UInt8
    return dict(zip(TOPICS, (JointState, Float64MultiArray, UInt8)))


def qos():
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=1)


def reader() -> None:
    import rclpy

    from asym_control.nodes.common import make_executor, spin_executor

    rclpy.init()
    node = rclpy.create_node("publish_cost_reader")
    for topic, msg_type in types().items():
        node.create_subscription(msg_type, topic, lambda m: None, qos())
    ex = make_executor()
    ex.add_node(node)
    spin_executor(ex)


def timed(fn, n: int) -> tuple[float, float]:
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
        time.sleep(0.002)
    ts.sort()
    return 1e6 * ts[len(ts) // 2], 1e6 * ts[int(len(ts) * 0.99)]


def main() -> None:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--messages", type=int, default=1500)
    p.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    if a.reader:
        return reader()

    import rclpy
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Float64MultiArray, UInt8
    from sensor_msgs.msg import JointState

    from asym_control.tasks.registry import WALKER_JOINTS

    rclpy.init()
    node = rclpy.create_node("publish_cost")
    pubs = {topic: node.create_publisher(t, topic, qos()) for topic, t in types().items()}
    state = JointState(name=list(WALKER_JOINTS), position=[0.1] * len(WALKER_JOINTS),
                       velocity=[0.2] * len(WALKER_JOINTS))
    raw = serialize_message(state)
    cases = {
        "JointState": lambda: pubs["joint_state"].publish(state),
        "JointState, serialised": lambda: pubs["joint_state"].publish(raw),
        "Float64MultiArray(6)": lambda: pubs["float64_array"].publish(Float64MultiArray(data=[0.1] * 6)),
        "UInt8": lambda: pubs["uint8"].publish(UInt8(data=1)),
        "serialize_message(JointState) alone": lambda: serialize_message(state),
    }
    child = None
    try:
        for readers in (0, 1):
            if readers:
                child = subprocess.Popen([sys.executable, __file__, "--reader"])
                deadline = time.monotonic() + 30
                while any(p.get_subscription_count() == 0 for p in pubs.values()):
                    if time.monotonic() > deadline:
                        raise SystemExit("publish_cost: the reader process did not connect within 30 s")
                    time.sleep(0.05)
                time.sleep(1.0)
            for name, fn in cases.items():
                if readers and name.startswith("serialize"):
                    continue
                p50, p99 = timed(fn, a.messages)
                print(json.dumps({"case": name, "readers": "none" if not readers else "1, other process",
                                  "p50_us": round(p50, 1), "p99_us": round(p99, 1)}), flush=True)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=10)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
