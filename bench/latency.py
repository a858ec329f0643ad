"""
State-to-actuator latency of the walker graph in real time.

Runs the graph of config/walker.yaml with the simulator in real time at --rate Hz for about
--seconds, multi-process and single-process, and reports the simulator's measurement: the time
from publishing a /joint_states message to receiving the actuator command the master forwarded
for it (through master -> selected sub-policy -> master), p50 and p99, and the missed deadlines
(states whose command arrived after the next tick, or never: runtime.DeadlineMeter).

    python bench/latency.py --rate 500 --seconds 30 [--executor events|single|multi] [--only multi|single]
                            [--pin master,small,large:1 --pin sim,cost_monitor:0] [--hops]
                            [--cpu-latency-us 0]

prints one JSON object per configuration; with --hops, each also splits the latency into its hops
(asym_control.deploy.hoptrace: p50/p90/p99 per hop, over all answered states and over the missed ones).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

from hoststat import NodeCpu, cpu_times, steal_share

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def main():
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    from asym_control.deploy import hoptrace
    from asym_control.deploy.launcher import GraphError, parse_pins, run_graph

    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--only", choices=["multi", "single"], default=None)
    p.add_argument("--executor", choices=["events", "single", "multi"], default="events",
                   help="rclpy executor of every node (default: the EventsExecutor the nodes use)")
    p.add_argument("--pin", action="append", metavar="NODES:CPUS",
                   help="multi-process: run these nodes' processes on these CPUs only (repeatable)")
    p.add_argument("--cpu-latency-us", type=int, default=None, metavar="US",
                   help="hold a PM QoS CPU latency request while the graph runs (asym_control.deploy.cpulatency; "
                        "0: idle CPUs poll instead of halting; needs root)")
    p.add_argument("--hops", action="store_true",
                   help="trace every period hop by hop (asym_control.deploy.hoptrace) and report the split")
    a = p.parse_args()
    pins = parse_pins(a.pin)
    os.environ["ASYM_EXECUTOR"] = a.executor
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    # one episode of rate x seconds control periods (the walker keeps standing; its length only
    # sets how long the measurement runs)
    steps = int(a.rate * a.seconds)
    for single in (False, True):
        if a.only and (a.only == "single") != single:
            continue
        trace = tempfile.TemporaryDirectory(prefix="asym-hops-") if a.hops else None
        hoptrace.enable(trace.name if trace else None)
        t = time.perf_counter()
        host = cpu_times()
        # the cores each node process uses, over the middle of the run (after start-up)
        node_cpu = None if single else NodeCpu(start=10.0 + a.seconds / 3, span=a.seconds / 3)
        try:
            outcome = run_graph("walker", episodes=1, lockstep=False, rate_hz=a.rate,
                                checkpoint_dir=a.checkpoint_dir, single_process=single, timeout_s=a.seconds * 8 + 60,
                                extra={"sim": {"episode_steps": steps}}, pins=None if single else pins,
                                cpu_latency_us=a.cpu_latency_us)
        except GraphError as e:
            raise SystemExit(f"latency.py: {e}") from None
        steal = steal_share(host, cpu_times())
        hoptrace.enable(None)        # what the nodes of this process noted is written now
        sim = outcome.sim or {}
        s = outcome.summaries[-1]
        result = {
            "graph": "single-process" if single else "multi-process", "executor": a.executor, "rate_hz": a.rate,
            "pins": {n: sorted(c) for n, c in pins.items()} if pins and not single else None,
            "cpu_latency_us": a.cpu_latency_us,
            "control_periods": sim.get("ticks"), "seconds": round(time.perf_counter() - t, 1),
            "latency_p50_ms": round(sim["latency_p50_ms"], 3), "latency_p99_ms": round(sim["latency_p99_ms"], 3),
            "latency_max_ms": round(sim["latency_max_ms"], 3), "missed_deadlines": sim["missed_deadlines"],
            "return_mean": round(s["return_mean"], 1), "large_fraction": round(s["large_fraction"], 4),
            "cpu_steal": steal,   # of the 2 cores' time, taken by the host
        }
        if node_cpu is not None:
            result["node_cores"] = node_cpu.cores
        if trace:
            result["hops"] = hoptrace.breakdown(hoptrace.read(trace.name))
            trace.cleanup()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
