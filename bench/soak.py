"""
Soak: the real-time walker graph for a long run, and each node's resident memory over it.

    python bench/soak.py [--minutes 10] [--rate HZ]

Runs the graph of config/walker.yaml in real time (the task's 40 Hz unless --rate), as separate
processes, for about --minutes (whole episodes of 25 s), and samples every node process's
resident set size (VmRSS in /proc/PID/status) every 10 s. Prints one JSON object: per node the
RSS after the first episode and at the end, and the growth; with the episodes run, the missed
deadlines and the host's steal. A node whose memory grows with the episodes (an event list, an
unbounded queue) shows here.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import warnings

from hoststat import cpu_times, steal_share

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=None)
    a = p.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    os.environ.setdefault("ROS_DOMAIN_ID", "93")
    from asym_control.deploy.launcher import run_graph

    episode_s = 1000 * 0.025 * (40.0 / a.rate if a.rate else 1.0)
    episodes = max(2, int(round(a.minutes * 60 / episode_s)))
    samples: dict[str, list[tuple[float, float]]] = {}
    stop = threading.Event()

    def sample(procs, outcome):
        def run():
            t0 = time.monotonic()
            while not stop.is_set():
                for name, proc in procs.items():
                    mb = rss_mb(proc.pid)
                    if mb is not None:
                        samples.setdefault(name, []).append((time.monotonic() - t0, mb))
                stop.wait(10.0)
        threading.Thread(target=run, daemon=True).start()

    before = cpu_times()
    t0 = time.monotonic()
    try:
        outcome = run_graph("walker", episodes=episodes, lockstep=False, rate_hz=a.rate,
                            timeout_s=a.minutes * 60 * 2 + 120, on_started=sample)
    finally:
        stop.set()
    wall = time.monotonic() - t0
    first = episode_s + 10.0     # after the first episode (start-up and discovery done)
    nodes = {}
    for name, series in sorted(samples.items()):
        settled = [mb for t, mb in series if t >= first] or [series[-1][1]]
        nodes[name] = {"rss_mb_after_first_episode": round(settled[0], 1), "rss_mb_end": round(series[-1][1], 1),
                       "growth_mb": round(series[-1][1] - settled[0], 2), "samples": len(series)}
    sim = outcome.sim or {}
    print(json.dumps({"episodes": len(outcome.summaries), "wall_s": round(wall, 1),
                      "mode": sim.get("mode"), "missed_deadlines": sim.get("missed_deadlines"),
                      "control_periods": sim.get("ticks"), "nodes": nodes,
                      "cpu_steal": steal_share(before, cpu_times())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
