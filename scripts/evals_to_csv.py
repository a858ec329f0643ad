"""
The learning curves of training runs (their evals.jsonl) as one CSV, with each run's settings.

    python scripts/evals_to_csv.py RUN_DIR [RUN_DIR ...] > curves.csv
    python scripts/evals_to_csv.py --final eval50.json RUN_DIR [RUN_DIR ...] > final.csv

One row per evaluation: run, task, mode, seed, the settings that differ between runs of a
diagnosis (exploration, cost schedule), step, wall time, return, share of steps on large,
FLOPs reduction, each sub-policy alone (asym runs), and a goal task's success rate and final
distance to the goal. With `--final NAME`, one row per run
from RUN_DIR/NAME, the JSON of `asym-control eval RUN_DIR --json` (e.g. 50 episodes, seed 0).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

COLUMNS = ["run", "task", "mode", "seed", "steps", "exploration_steps", "exploration_unit", "cost_free_steps",
           "cost_warmup_steps", "step", "wall_time_s", "return_mean", "large_fraction", "flops_reduction",
           "small_alone_return", "large_alone_return", "success_rate", "final_distance"]


EVAL_COLUMNS = COLUMNS[COLUMNS.index("step"):]


def rows(run_dir: Path):
    cfg = json.loads((run_dir / "config.json").read_text())
    settings = {"run": run_dir.name, "task": cfg["task"], "mode": cfg["mode"], "seed": cfg["seed"],
                "steps": cfg["steps"], "exploration_steps": cfg["dqn"].get("exploration_steps"),
                "exploration_unit": cfg["dqn"].get("exploration_unit", "macro"),
                "cost_free_steps": cfg.get("cost_free_steps", 0), "cost_warmup_steps": cfg.get("cost_warmup_steps", 0)}
    for line in (run_dir / "evals.jsonl").read_text().splitlines():
        e = json.loads(line)
        yield {**settings, **{k: e.get(k) for k in EVAL_COLUMNS}}


FINAL_COLUMNS = COLUMNS[:COLUMNS.index("step")] + [
    "episodes", "return_mean", "return_std", "large_fraction", "flops_reduction", "train_wall_s"]


def final_row(run_dir: Path, name: str) -> dict:
    settings = next(rows(run_dir), None) or {}
    e = json.loads((run_dir / name).read_text())
    summary = json.loads((run_dir / "train_summary.json").read_text())
    return {**{k: settings.get(k) for k in COLUMNS[:COLUMNS.index("step")]},
            **{k: e[k] for k in ("episodes", "return_mean", "return_std", "large_fraction", "flops_reduction")},
            "train_wall_s": summary["wall_time_s"]}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    if argv[0] == "--final":
        w = csv.DictWriter(sys.stdout, FINAL_COLUMNS)
        w.writeheader()
        for d in argv[2:]:
            row = final_row(Path(d), argv[1])
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
        return 0
    w = csv.DictWriter(sys.stdout, COLUMNS, extrasaction="ignore")
    w.writeheader()
    for d in argv:
        for r in rows(Path(d)):
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
