"""
One DDS hop through rclpy: round trip of a sensor_msgs/JointState between two processes.

The pong process echoes every message back; the ping process sends one every 2 ms and measures
the round trip (two hops, each through an executor's callback). Run for each executor and
reliability; this is the cost per hop behind the graph's latency (bench/latency.py) and the QoS
choices in asym_control/nodes/common.py.

    python bench/pingpong.py --messages 3000

prints one JSON object per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time


def qos(reliable: bool):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      history=HistoryPolicy.KEEP_LAST, depth=1)


def pong(executor: str, reliable: bool) -> None:
    import rclpy
    from sensor_msgs.msg import JointState

    from asym_control.nodes.common import make_executor, spin_executor

    rclpy.init()
    node = rclpy.create_node("pong")
    pub = node.create_publisher(JointState, "pong", qos(reliable))
    node.create_subscription(JointState, "ping", pub.publish, qos(reliable))
    ex = make_executor(kind=executor)
    ex.add_node(node)
    spin_executor(ex)


def ping(executor: str, reliable: bool, n: int) -> dict:
    import numpy as np
    import rclpy
    from sensor_msgs.msg import JointState

    from asym_control.nodes.common import make_executor, spin_executor

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("ping", context=ctx)
    pub = node.create_publisher(JointState, "ping", qos(reliable))
    rtts, sent, got = [], [0.0], threading.Event()

    def back(_):
        rtts.append(time.perf_counter() - sent[0])
        got.set()
    node.create_subscription(JointState, "pong", back, qos(reliable))
    ex = make_executor(ctx, kind=executor)
    ex.add_node(node)
    threading.Thread(target=spin_executor, args=(ex,), daemon=True).start()
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    msg = JointState(name=[f"joint_{i}" for i in range(9)], position=[0.0] * 9, velocity=[0.0] * 9)
    lost = 0
    for _ in range(n):
        got.clear()
        sent[0] = time.perf_counter()
        pub.publish(msg)
        if not got.wait(0.1):
            lost += 1
        time.sleep(0.002)
    rclpy.try_shutdown(context=ctx)
    r = np.array(rtts) * 1e3
    return {"executor": executor, "reliability": "reliable" if reliable else "best_effort", "messages": n,
            "lost": lost, "rtt_p50_ms": round(float(np.percentile(r, 50)), 3),
            "rtt_p99_ms": round(float(np.percentile(r, 99)), 3)}


def main():
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--pong", nargs=2, metavar=("EXECUTOR", "RELIABLE"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.pong:
        pong(a.pong[0], a.pong[1] == "1")
        return
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    for executor in ("events", "single"):
        for reliable in (True, False):
            child = subprocess.Popen([sys.executable, __file__, "--pong", executor, "1" if reliable else "0"])
            try:
                print(json.dumps(ping(executor, reliable, a.messages)), flush=True)
            finally:
                child.terminate()
                child.wait(timeout=10)


if __name__ == "__main__":
    main()
