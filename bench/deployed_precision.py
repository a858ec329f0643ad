"""
The deployed graph at each precision of its sub-policies: return and the nodes' measured time per inference.

    python bench/deployed_precision.py [--robot walker] [--episodes 3] [--precisions numpy,fp32,int8]
        [--rounds 2]

Runs `asym-control launch ROBOT --precision P --episodes N --single-process --json` for each
precision, interleaved over `rounds` rounds (so that a change of the machine's load falls on all
of them), on the lockstep simulator with the shipped checkpoint, and prints one JSON object: per
precision the return, the share on large, and each sub-policy node's inferences and mean time per
inference (its own timer around the actor's call, as /diagnostics reports it), with the integer
operations per inference beside the FLOPs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--robot", default="walker")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--precisions", default="numpy,fp32,int8")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE=os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
               ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID", "91"))
    runs: dict[str, list[dict]] = {x: [] for x in a.precisions.split(",")}
    for _ in range(a.rounds):
        for precision in runs:
            r = subprocess.run([sys.executable, "-m", "asym_control.cli", "launch", a.robot, "--precision", precision,
                                "--episodes", str(a.episodes), "--single-process", "--json"], capture_output=True,
                               text=True, env=env, timeout=900)
            if r.returncode != 0:
                raise SystemExit(f"{precision}: {r.stderr[-2000:]}")
            runs[precision].append(json.loads(r.stdout.strip().splitlines()[-1]))
    out = {"robot": a.robot, "episodes_per_run": a.episodes, "rounds": a.rounds,
           "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
           "command": "python bench/deployed_precision.py " + " ".join(sys.argv[1:]), "precisions": {}}
    for precision, summaries in runs.items():
        nodes = {}
        for name in ("asym/small", "asym/large"):
            stats = [s["nodes"][name] for s in summaries if name in s.get("nodes", {})]
            if not stats:
                continue
            nodes[name] = {"inferences": sum(int(x["inferences"]) for x in stats),
                           "inference_mean_us": round(statistics.mean(float(x["inference_mean_us"]) for x in stats
                                                                      if int(x["inferences"])), 1),
                           "flops_per_inference": int(stats[0]["flops_per_inference"]),
                           "int_ops_per_inference": int(stats[0].get("int_ops_per_inference", 0))}
        out["precisions"][precision] = {"return_mean": round(statistics.mean(s["return_mean"] for s in summaries), 1),
                                        "large_fraction": round(statistics.mean(s["large_fraction"]
                                                                                for s in summaries), 4),
                                        "nodes": nodes}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
