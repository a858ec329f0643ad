"""The learning curves of training runs (their evals.jsonl) as one CSV, with each run's settings.

    python scripts/evals_to_csv.py RUN_DIR [RUN_DIR ...] > curves.csv

One row per evaluation: run, task, mode, seed, the settings that differ between runs of a
diagnosis (exploration, cost schedule), step, wall time, return, share of steps on large,
FLOPs reduction, and each sub-policy alone (asym runs).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

COLUMNS = ["run", "task", "mode", "seed", "steps", "exploration_steps", "exploration_unit", "cost_free_steps",
           "cost_warmup_steps", "step", "wall_time_s", "return_mean", "large_fraction", "flops_reduction",
           "small_alone_return", "large_alone_return"]


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


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    w = csv.DictWriter(sys.stdout, COLUMNS, extrasaction="ignore")
    w.writeheader()
    for d in argv:
        for r in rows(Path(d)):
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
