"""
The floor under the graph's latency: its four hops with nothing to compute.

The walker graph's control path is four DDS hops through Python callbacks: simulator ->
master -> selected sub-policy -> master -> simulator. This runs the same topology, QoS,
executor and message type with callbacks that only pass the message on (no observation, no
policy, no physics, no cost monitor), at --rate Hz in real time, and measures what
bench/latency.py measures, with the same bookkeeping (runtime.DeadlineMeter): latency from a
state published to its command back, p50 / p99, and missed deadlines (command after the next
tick, or never). Multi-process (source, relay "master", relay "sub-policy": three processes)
and single-process (one executor). Whatever the graph misses beyond these figures is the
graph's; what these miss is this machine's.

    python bench/floor.py --rate 500 --seconds 30 [--only multi|single] [--cpu-latency-us 0]

prints one JSON object per configuration, with the share of CPU the host stole meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from hoststat import cpu_times, steal_share

STATE, TO_SUB, FROM_SUB, COMMAND = "floor/joint_states", "floor/sub_state", "floor/sub_command", "floor/command"


def relay_master(node) -> None:
    """Relay the master's two hops: state -> sub-policy, sub-policy's command -> actuator."""
    from sensor_msgs.msg import JointState

    from asym_control.nodes.common import CONTROL_QOS, INTERNAL_QOS

    to_sub = node.create_publisher(JointState, TO_SUB, INTERNAL_QOS)
    command = node.create_publisher(JointState, COMMAND, CONTROL_QOS)
    node.create_subscription(JointState, STATE, to_sub.publish, CONTROL_QOS)
    node.create_subscription(JointState, FROM_SUB, command.publish, INTERNAL_QOS)


def relay_sub(node) -> None:
    from sensor_msgs.msg import JointState

    from asym_control.nodes.common import INTERNAL_QOS

    back = node.create_publisher(JointState, FROM_SUB, INTERNAL_QOS)
    node.create_subscription(JointState, TO_SUB, back.publish, INTERNAL_QOS)


RELAYS = {"master": relay_master, "sub": relay_sub}


def run_relay(role: str) -> None:
    import rclpy

    from asym_control.nodes.common import make_executor, spin_executor

    rclpy.init()
    node = rclpy.create_node(f"floor_{role}")
    RELAYS[role](node)
    ex = make_executor()
    ex.add_node(node)
    try:
        spin_executor(ex)
    except KeyboardInterrupt:
        pass


class Source:
    """The simulator's side: a timer publishes a stamped state each period; commands come back."""

    def __init__(self, node, rate: float, periods: int):
        from sensor_msgs.msg import JointState

        from asym_control.nodes.common import CONTROL_QOS, set_stamp, stamp_ns
        from asym_control.robot.runtime import DeadlineMeter
        from asym_control.tasks.registry import WALKER_JOINTS

        self.set_stamp, self.stamp_ns = set_stamp, stamp_ns
        self.meter = DeadlineMeter(window=periods + 10)
        self.pub = node.create_publisher(JointState, STATE, CONTROL_QOS)
        node.create_subscription(JointState, COMMAND, self.on_command, CONTROL_QOS)
        self.msg = JointState(name=list(WALKER_JOINTS), position=[0.0] * len(WALKER_JOINTS),
                              velocity=[0.0] * len(WALKER_JOINTS))
        self.periods, self.ticks, self.running = periods, 0, False
        self.done = threading.Event()
        node.create_timer(1.0 / rate, self.tick)

    def tick(self) -> None:
        if not self.running or self.done.is_set():
            return
        t = time.perf_counter()
        self.meter.tick(t)
        if self.ticks == self.periods:
            self.meter.finish()
            self.done.set()
            return
        self.ticks += 1
        self.set_stamp(self.msg.header.stamp, self.ticks)
        self.meter.sent(self.ticks, time.perf_counter())
        self.pub.publish(self.msg)

    def on_command(self, msg) -> None:
        t = time.perf_counter()
        self.meter.command(t)
        self.meter.copy(self.stamp_ns(msg.header.stamp), t)


def measure(single: bool, rate: float, seconds: float) -> dict:
    import rclpy

    from asym_control.nodes.common import make_executor, spin_executor

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("floor_source", context=ctx)
    source = Source(node, rate, int(rate * seconds))
    ex = make_executor(ctx)
    ex.add_node(node)
    children = []
    if single:
        for role, build in RELAYS.items():
            relay = rclpy.create_node(f"floor_{role}", context=ctx)
            build(relay)
            ex.add_node(relay)
    else:
        children = [subprocess.Popen([sys.executable, __file__, "--relay", role]) for role in RELAYS]
    spinner = threading.Thread(target=spin_executor, args=(ex,), daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 30
        while source.pub.get_subscription_count() == 0 or node.count_publishers(COMMAND) == 0:
            if time.monotonic() > deadline:
                raise SystemExit("floor: the relays did not connect within 30 s")
            time.sleep(0.05)
        time.sleep(2.0)   # every hop matched, not only the first and the last
        host = cpu_times()
        source.running = True
        source.done.wait(seconds * 4 + 30)
        m = source.meter
        return {"graph": "single-process" if single else "multi-process", "floor": "4 hops, no computation",
                "rate_hz": rate, "control_periods": source.ticks, "commands": m.latency.count,
                "latency_p50_ms": round(1e3 * m.latency.percentile(50), 3),
                "latency_p99_ms": round(1e3 * m.latency.percentile(99), 3),
                "latency_max_ms": round(1e3 * m.latency.max, 3), "missed_deadlines": m.missed,
                "cpu_steal": steal_share(host, cpu_times())}
    finally:
        for c in children:
            c.terminate()
        for c in children:
            c.wait(timeout=10)
        rclpy.try_shutdown(context=ctx)
        spinner.join(timeout=2.0)


def main() -> None:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--only", choices=["multi", "single"], default=None)
    p.add_argument("--cpu-latency-us", type=int, default=None, metavar="US",
                   help="hold a PM QoS CPU latency request meanwhile (asym_control.deploy.cpulatency; needs root)")
    p.add_argument("--relay", choices=sorted(RELAYS), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.relay:
        return run_relay(a.relay)
    from asym_control.deploy.cpulatency import CpuLatencyError, CpuLatencyRequest

    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    try:
        request = CpuLatencyRequest(a.cpu_latency_us) if a.cpu_latency_us is not None else None
    except CpuLatencyError as e:
        raise SystemExit(f"floor.py: --cpu-latency-us: {e}") from None
    try:
        for single in (False, True):
            if a.only and (a.only == "single") != single:
                continue
            result = measure(single, a.rate, a.seconds)
            result["cpu_latency_us"] = a.cpu_latency_us
            print(json.dumps(result), flush=True)
    finally:
        if request is not None:
            request.close()


if __name__ == "__main__":
    main()
