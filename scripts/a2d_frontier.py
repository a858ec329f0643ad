"""
The frontier of return against FLOPs of distilled students, with the teacher's return at A2D's 1.76x fewer FLOPs.

    python scripts/a2d_frontier.py RESULTS_DIR [RESULTS_DIR ...] --task walker-stand --teacher RUN \
        --out docs/results/figures/a2d-frontier-walker-stand [--method a2d]

Reads the result files of `asym-control distill --method a2d|a2d-actor --results` (every width and
seed found), the teacher's 50-episode evaluation (RUN/eval50.json, else evaluated now) and writes
OUT.png and OUT.csv: per width the students' mean return (and each run), their FLOPs, and
whether a student reaches the teacher's return (within 1%) at 1.76x fewer FLOPs or more.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

A2D_RATIO = 1.76   # A2D's lower bound: the searched agents' FLOPs saving at the best baselines' return


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--task", required=True)
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--method", default="a2d")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    from asym_control.flops import actor_flops
    from asym_control.training.checkpoint import load_config

    by_width: dict[int, list[float]] = {}
    steps_of: dict[int, set[int]] = {}
    for folder in a.results:
        for f in sorted(folder.glob(f"{a.task}-{a.method}-*.json")):
            r = json.loads(f.read_text())
            if r["trial"]["mode"] != a.method:
                continue
            args = r["trial"]["train_args"]
            width = int(args[args.index("--width") + 1])
            by_width.setdefault(width, []).append(r["eval"]["return_mean"])
            steps_of.setdefault(width, set()).add(int(r["steps"]))
    if not by_width:
        raise SystemExit(f"no {a.method} students of {a.task} in {', '.join(map(str, a.results))}")
    cfg = load_config(a.teacher)
    ev_file = a.teacher / "eval50.json"
    if ev_file.is_file():
        teacher_return = json.loads(ev_file.read_text())["return_mean"]
    else:
        from asym_control.evaluation.evaluate import evaluate
        from asym_control.training.checkpoint import load_policy
        cfg, policy = load_policy(a.teacher)
        teacher_return = evaluate(cfg, policy, 50, seed=0)[0]["return_mean"]
    spec = cfg.spec
    teacher_flops = actor_flops(spec.obs_dim, spec.act_dim, cfg.large_units)
    rows = []
    for w in sorted(by_width):
        f = actor_flops(spec.obs_dim, spec.act_dim, w)
        m = float(np.mean(by_width[w]))
        rows.append({"width": w, "flops": f, "flops_ratio": round(teacher_flops / f, 2), "runs": len(by_width[w]),
                     "steps": " ".join(str(x) for x in sorted(steps_of[w])),
                     "return_mean": round(m, 1), "returns": " ".join(f"{x:.1f}" for x in by_width[w]),
                     "teacher_return_at_1.76x": bool(teacher_flops / f >= A2D_RATIO and m >= 0.99 * teacher_return)})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter([r["flops"]] * r["runs"], [float(x) for x in r["returns"].split()], color="tab:blue",
                   alpha=0.4, s=12)
    ax.plot([r["flops"] for r in rows], [r["return_mean"] for r in rows], "o-", color="tab:blue",
            label=f"{a.method} students (mean)")
    ax.scatter([teacher_flops], [teacher_return], marker="*", s=150, color="tab:red",
               label=f"teacher (width {cfg.large_units})")
    ax.axvline(teacher_flops / A2D_RATIO, ls="--", color="gray", label=f"{A2D_RATIO}x fewer FLOPs than the teacher")
    ax.axhline(teacher_return, ls=":", color="tab:red")
    for r in rows:
        ax.annotate(str(r["width"]), (r["flops"], r["return_mean"]), textcoords="offset points", xytext=(4, -10))
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per inference")
    ax.set_ylabel("return (50 episodes)")
    ax.set_title(f"{a.task}: distilled students by width")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(a.out.with_suffix(".png"), dpi=120)
    print(json.dumps({"teacher_return": teacher_return, "teacher_flops": teacher_flops, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
