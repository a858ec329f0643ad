"""
How often this machine itself stalls a running thread: the floor under any deadline figure.

A busy loop reads the clock for --seconds and counts the gaps longer than --gap-ms (time the
thread was not running: other processes, the hypervisor, interrupts). With nothing else running,
every such gap longer than a control period is a deadline no program on this machine could
have met.

    python bench/jitter.py --seconds 30 --gap-ms 0.5

prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from hoststat import cpu_times, steal_share


def main():
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--gap-ms", type=float, default=0.5)
    a = p.parse_args()
    threshold = a.gap_ms / 1e3
    gaps = []
    host = cpu_times()
    start = last = time.perf_counter()
    while last - start < a.seconds:
        now = time.perf_counter()
        if now - last > threshold:
            gaps.append(now - last)
        last = now
    gaps_ms = sorted(1e3 * g for g in gaps)
    print(json.dumps({"seconds": a.seconds, "gap_ms": a.gap_ms, "gaps": len(gaps_ms),
                      "gaps_over_2ms": sum(g > 2.0 for g in gaps_ms),
                      "max_gap_ms": round(gaps_ms[-1], 3) if gaps_ms else 0.0,
                      "stalled_ms": round(sum(gaps_ms), 1), "cpu_steal": steal_share(host, cpu_times())}))


if __name__ == "__main__":
    main()
