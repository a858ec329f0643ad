"""
Time to reward of the actor-learner mode, fp32 actors beside int8 actors, as ActorQ measures it.

    python bench/actorq_time_to_reward.py [--task walker-stand] [--mode large] [--threshold 947.7]
        [--seeds 0,1] [--precisions fp32,int8] [--max-steps 300000] [--sync-every 1000]
        [--work runs/actorq] [--out FILE.json]

For every seed, one `asym-control train --actors 1 --actor-precision P --stop-at-return THRESHOLD`
per precision, all precisions started together (side by side on the same cores, so that the
machine's load falls on them alike), each evaluated on 5 episodes every 10,000 steps and stopped
at the first evaluation that reaches the threshold (ActorQ's: walker-stand 947.7, finger-spin 810).
Then the learner's fp32 policy of each run is evaluated on 50 episodes. Prints, and writes to
--out, one JSON object: per run the steps and training wall time (evaluations excluded) to the
threshold, the 50-episode return, the actors' time stepping and the time they spent loading
weights; and per seed the ratio of the wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def _cli(*args):
    return [sys.executable, "-m", "asym_control.cli", *args]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="walker-stand")
    p.add_argument("--mode", default="large")
    p.add_argument("--threshold", type=float, default=947.7)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--precisions", default="fp32,int8")
    p.add_argument("--max-steps", type=int, default=300_000)
    p.add_argument("--sync-every", type=int, default=1000)
    p.add_argument("--extra", default="", help="more `asym-control train` flags, one string")
    p.add_argument("--work", type=Path, default=Path("runs/actorq"))
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        procs = {}
        for precision in a.precisions.split(","):
            out = a.work / f"{a.task}-{a.mode}-s{seed}-{precision}"
            if (out / "train_summary.json").is_file():
                procs[precision] = (out, None, 0.0)
                continue
            if out.exists():
                raise SystemExit(f"{out} holds an unfinished run: remove it first")
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = _cli("train", "--task", a.task, "--mode", a.mode, "--seed", str(seed), "--steps", str(a.max_steps),
                       "--out", str(out), "--actors", "1", "--actor-precision", precision, "--sync-every",
                       str(a.sync_every), "--stop-at-return", str(a.threshold), "--eval-every", "10000",
                       "--eval-episodes", "5", "--no-progress", *a.extra.split())
            log = open(f"{out}.log", "w")
            procs[precision] = (out, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env),
                                time.perf_counter())
        for precision, (out, proc, t0) in procs.items():
            if proc is not None and proc.wait() != 0:
                raise SystemExit(f"{precision} run failed, see {out}.log")
        for precision, (out, _, _) in procs.items():
            s = json.loads((out / "train_summary.json").read_text())
            ev = subprocess.run(_cli("eval", str(out), "--episodes", "50", "--seed", "0", "--json"), env=env,
                                capture_output=True, text=True, check=True)
            e = json.loads(ev.stdout)
            runs.append({"seed": seed, "precision": precision, "reached": s["reached"], "steps": s["steps"],
                         "train_wall_time_s": s["train_wall_time_s"], "eval_wall_time_s": s["eval_wall_time_s"],
                         "actor": s["actor_learner"], "return_50": round(e["return_mean"], 1),
                         "return_50_std": round(e["return_std"], 1), "large_fraction_50": e["large_fraction"]})
            print(json.dumps(runs[-1]), flush=True)
    ratios = {}
    for seed in sorted({r["seed"] for r in runs}):
        by = {r["precision"]: r for r in runs if r["seed"] == seed}
        if "fp32" in by and "int8" in by and by["fp32"]["reached"] and by["int8"]["reached"]:
            fp32, int8 = (by[p]["reached"]["train_wall_time_s"] for p in ("fp32", "int8"))
            ratios[seed] = round(fp32 / int8, 3)
    result = {"task": a.task, "mode": a.mode, "threshold": a.threshold, "sync_every": a.sync_every,
              "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
              "command": "python bench/actorq_time_to_reward.py " + " ".join(sys.argv[1:]), "runs": runs,
              "speedup_fp32_over_int8_time": ratios}
    print(json.dumps(result, indent=2))
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
