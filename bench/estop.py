"""
E-stop latency: from the e-stop message to the last command the controller receives.

    python bench/estop.py [--trials 50] [--rate 25] [--via topic|service]

The safety node runs in its own process (asym_control.deploy.safety_probe), active, with the gate's
actions streaming in at --rate Hz and the driver's state at 100 Hz. Each trial publishes
std_msgs/Bool true on /asym/estop (or calls ~/estop) and notes the time; the controller's topic is
then watched until 25 more gate actions have gone out: the first hold it receives (the measured
pose; commands before it were already on their way) gives the latency, and any other command
after the hold is counted as a violation. Then the e-stop is
reset and the node deactivated and activated again for the next trial. Prints one JSON object:
p50 / p99 / max latency in ms, the violations (must be 0), the machine's CPU count and the
host's steal over the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hoststat import cpu_times, steal_share  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--rate", type=float, default=25.0, help="gate actions per second")
    p.add_argument("--via", choices=("topic", "service"), default="topic")
    a = p.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", "91")
    from lifecycle_msgs.msg import Transition
    from std_msgs.msg import Bool

    from asym_control.deploy.safety_probe import SafetyProbe, start_safety_process

    log = Path(tempfile.mkdtemp(prefix="asym-estop-")) / "safety.log"
    proc = start_safety_process({"soft_start_s": 0.0, "state_timeout_s": 0.5}, log)
    probe = SafetyProbe()
    stop = threading.Event()
    sent = [0]

    def gate():
        k = 0
        while not stop.is_set():
            probe.send_action(np.full(6, 0.5 if k % 2 else -0.5))
            sent[0] += 1
            k += 1
            time.sleep(1.0 / a.rate)

    latencies, violations = [], 0
    cpu = cpu_times()
    try:
        probe.bring_up()
        threading.Thread(target=gate, daemon=True).start()
        for _ in range(a.trials):
            n = len(probe.commands())
            probe.wait(lambda: len(probe.commands()) >= n + 5, 30, "commands to the controller")
            t0 = time.perf_counter()
            if a.via == "topic":
                probe.estop_pub.publish(Bool(data=True))
            else:
                probe.call_trigger("/asym/safety/estop")
            gate_at = sent[0]
            probe.wait(lambda: sent[0] >= gate_at + 25, 30, "25 more gate actions")
            after = [(t, np.allclose(c, probe.q_task)) for t, c in probe.commands() if t >= t0]
            # the hold is the measured pose; commands before it were on their way when the
            # e-stop was sent
            first_hold = next((i for i, (_, is_hold) in enumerate(after) if is_hold), None)
            if first_hold is None:
                raise RuntimeError("no hold reached the controller after the e-stop")
            latencies.append(after[first_hold][0] - t0)
            violations += sum(not is_hold for _, is_hold in after[first_hold + 1:])
            probe.call_trigger("/asym/safety/reset_estop")
            probe.transition(Transition.TRANSITION_DEACTIVATE)
            probe.activate()
    finally:
        stop.set()
        probe.close()
        proc.terminate()
        proc.wait(timeout=10)
    lat = 1e3 * np.array(latencies)
    steal = steal_share(cpu, cpu_times())
    print(json.dumps({"trials": a.trials, "via": a.via, "gate_rate_hz": a.rate,
                      "estop_to_last_command_ms": {"p50": round(float(np.percentile(lat, 50)), 3),
                                                   "p99": round(float(np.percentile(lat, 99)), 3),
                                                   "max": round(float(lat.max()), 3)},
                      "commands_after_the_hold": violations, "cpus": os.cpu_count(), "host_steal": steal}))
    return 0 if violations == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
