"""
Copy a finished training run's deployment weights into checkpoints/ with a provenance file.

    python scripts/ship_checkpoint.py runs/walker-stand/asym checkpoints/walker-stand/asym \
        --episodes 50 --seed 0

Provenance: the train command(s) and the commit each ran at (from invocations.jsonl), seed,
steps, wall time (train_summary.json), the machine, and the evaluation JSON of
`asym-control eval` on the shipped files, with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    summary_file = a.run_dir / "train_summary.json"
    if not summary_file.is_file():
        sys.exit(f"{a.run_dir} has no train_summary.json: the run has not finished")
    summary = json.loads(summary_file.read_text())
    invocations = [json.loads(line) for line in (a.run_dir / "invocations.jsonl").read_text().splitlines()]
    a.dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "policy.safetensors"):
        shutil.copy2(a.run_dir / name, a.dest / name)
    evals = []
    if (a.run_dir / "evals.jsonl").is_file():
        evals = [json.loads(line) for line in (a.run_dir / "evals.jsonl").read_text().splitlines()]
    eval_cmd = ["asym-control", "eval", str(a.dest), "--episodes", str(a.episodes), "--seed", str(a.seed), "--json"]
    out = subprocess.run([sys.executable, "-m", "asym_control.cli"] + eval_cmd[1:], capture_output=True,
                         text=True, check=True).stdout
    result = json.loads(out)
    provenance = {
        "train_commands": invocations,
        "seed": summary["seed"],
        "steps": summary["steps"],
        "train_wall_time_s": summary["wall_time_s"],
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_version()}",
        "eval_command": " ".join(eval_cmd),
        "eval": {k: v for k, v in result.items() if k != "per_episode"},
        "training_curve": [{k: e[k] for k in ("step", "return_mean", "large_fraction", "wall_time_s")}
                           for e in evals],
    }
    (a.dest / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance["eval"]))


if __name__ == "__main__":
    main()
