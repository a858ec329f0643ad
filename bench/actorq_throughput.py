"""
Where int8 actors pay in the actor-learner mode: environment steps per second, fp32 against int8 actors, by width.

    python bench/actorq_throughput.py [--task walker-stand] [--widths 64,256,1024,2048] [--steps 4000]
        [--actors 1] [--update-ratio 0.01] [--rounds 2] [--sync-every 1000]

Each run is `asym-control train --mode large --large W --critic-units 64 --actors N --actor-precision P
--update-ratio R --steps S --eval-every 0` (the critics kept narrow and the learner's gradient steps
few, so that the actors, not the learner, set the pace: the regime of ActorQ's GPU learner fed by
CPU actors), fp32 and int8 interleaved over rounds. Prints one JSON object: per width and
precision the environment steps per second of the whole run (training wall time) and the actors'
own time per step (stepping MuJoCo, the actor's inference and the buffers), median over rounds,
and the int8 speedup of each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(task, width, precision, steps, actors, ratio, work, sync_every=1000) -> dict:
    out = Path(work) / f"w{width}-{precision}"
    cmd = [sys.executable, "-m", "asym_control.cli", "train", "--task", task, "--mode", "large", "--large", str(width),
           "--critic-units", "64", "--actors", str(actors), "--actor-precision", precision, "--update-ratio",
           str(ratio), "--steps", str(steps), "--sync-every", str(sync_every), "--eval-every", "0",
           "--learning-starts", "500", "--out", str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=1800)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    s = json.loads(r.stdout.strip().splitlines()[-1])
    subprocess.run(["rm", "-rf", str(out)], check=True)
    al = s["actor_learner"]
    return {"steps_per_s": s["steps"] / s["train_wall_time_s"],
            "actor_us_per_step": 1e6 * al["actor_time_s"] / s["steps"], "weight_load_s": al["actor_weight_load_s"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="walker-stand")
    p.add_argument("--widths", default="64,256,1024,2048")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--actors", type=int, default=1)
    p.add_argument("--update-ratio", type=float, default=0.01)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sync-every", type=int, default=1000)
    a = p.parse_args()
    widths = [int(w) for w in a.widths.split(",")]
    got: dict = {w: {"fp32": [], "int8": []} for w in widths}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(a.rounds):
            for w in widths:
                for precision in ("fp32", "int8"):
                    got[w][precision].append(run(a.task, w, precision, a.steps, a.actors, a.update_ratio, work,
                                                 a.sync_every))
    table = {}
    for w in widths:
        row = {}
        for precision, runs in got[w].items():
            row[precision] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        row["int8_speedup_steps_per_s"] = round(row["int8"]["steps_per_s"] / row["fp32"]["steps_per_s"], 2)
        row["int8_speedup_actor_time"] = round(row["fp32"]["actor_us_per_step"] / row["int8"]["actor_us_per_step"], 2)
        table[w] = row
    machine = f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"
    print(json.dumps({"task": a.task, "steps": a.steps, "actors": a.actors, "update_ratio": a.update_ratio,
                      "sync_every": a.sync_every,
                      "rounds": a.rounds, "machine": machine,
                      "command": "python bench/actorq_throughput.py " + " ".join(sys.argv[1:]), "widths": table},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
