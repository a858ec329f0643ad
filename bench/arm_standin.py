"""
Reaching through the whole arm chain and the hardware stand-in, with and without faults.

The chain: master, sub-policies, cost monitor, safety lifecycle node; the faults are realistic
ones.

    python bench/arm_standin.py --episodes 20 [--checkpoint-dir checkpoints/arm-reach/asym]

prints one JSON object per condition: success rate (final distance < 5 cm), mean final distance,
share of control steps on the large sub-policy and the FLOPs reduction vs L-only, as the cost
monitor measured them, and the same checkpoint evaluated in MuJoCo alone (`asym-control eval`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

warnings.filterwarnings("ignore", message=".*DISPLAY.*")

CONDITIONS = {
    "no faults": {},
    # a driver on a busy Ethernet link: 5 ms +- 5 ms, 5% of commands lost, 1 mrad encoder noise
    "latency 5-10 ms, 5% dropped, noise 1 mrad": {"latency_s": 0.005, "jitter_s": 0.005, "drop_rate": 0.05,
                                                  "noise_std": 0.001},
    # worse: a command arrives up to half a control period late, 20% lost
    "latency 10-20 ms, 20% dropped, noise 2 mrad": {"latency_s": 0.01, "jitter_s": 0.01, "drop_rate": 0.2,
                                                    "noise_std": 0.002},
}


def main():
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on loopback
    from asym_control.training.checkpoint import load_policy
    from asym_control.evaluation.evaluate import evaluate
    from asym_control.deploy.graph import package_root
    from asym_control.deploy.launcher import run_graph

    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--checkpoint-dir", default=str(package_root() / "checkpoints" / "arm-reach" / "asym"))
    a = p.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
    cfg, policy = load_policy(a.checkpoint_dir)
    result, _ = evaluate(cfg, policy, a.episodes, seed=0)
    print(json.dumps({"condition": "MuJoCo alone (asym-control eval)", "episodes": a.episodes,
                      "success_rate": result["success_rate"], "final_distance": round(result["final_distance"], 4),
                      "large_fraction": round(result["large_fraction"], 4),
                      "flops_reduction": round(result["flops_reduction"], 4)}), flush=True)
    for name, faults in CONDITIONS.items():
        t = time.perf_counter()
        outcome = run_graph("arm", episodes=a.episodes, checkpoint_dir=a.checkpoint_dir, standin=True, seed=0,
                            timeout_s=60 + 8 * a.episodes, extra={"standin": faults})
        s, sim = outcome.summaries[-1], outcome.sim
        print(json.dumps({"condition": name, "episodes": sim["episodes"], "success_rate": sim["success_rate"],
                          "final_distance": round(sim["final_distance"], 4),
                          "large_fraction": round(s["large_fraction"], 4),
                          "flops_reduction": round(s["flops_reduction"], 4),
                          "commands": sim["commands"], "dropped": sim["dropped"],
                          "seconds": round(time.perf_counter() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()
