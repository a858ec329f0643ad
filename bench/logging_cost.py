"""
Cost of a suppressed throttled log call on the control path.

Rclpy's throttle_duration_sec against the package's ThrottledLogger (asym_control/nodes/common.py).

    python bench/logging_cost.py --calls 3000

prints one JSON object (microseconds per call, median of 5 repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main():
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--calls", type=int, default=3000)
    a = p.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    import rclpy.logging

    from asym_control.nodes.common import ThrottledLogger

    logger = rclpy.logging.get_logger("logging_cost")
    ours = ThrottledLogger(logger, period_s=1e6)

    def rclpy_call():
        logger.warning("stale command dropped", throttle_duration_sec=1e6)

    def our_call():
        ours("warning", "stale", "stale command dropped")

    result = {}
    for name, call in (("rclpy_throttle_us", rclpy_call), ("throttled_logger_us", our_call)):
        call()  # the one that logs
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(a.calls):
                call()
            times.append((time.perf_counter() - t) / a.calls * 1e6)
        result[name] = round(statistics.median(times), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
