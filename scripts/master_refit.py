"""
Train a run's master alone, longer, on its own replay, and watch its choice.

Is the gate under-trained, or is it what its data teaches?

    python scripts/master_refit.py RUN GAP_JSON [--updates 40000] [--every 5000] [--save OUT]

Loads RUN's training checkpoint (its master, target network, optimiser and macro replay), then
takes `--updates` more gradient steps of the master on that replay, with the run's final lambda
and nothing else learning or acting. Every `--every` steps it prints, at the states of GAP_JSON
(the rows `scripts/master_gap.py RUN --json` wrote, with their Monte Carlo gaps), the median Q
gap, the share of states where the master would choose large and its agreement with the Monte
Carlo sign. A gate that flips with more steps on the same data was under-trained; one that does
not has learned what its replay says. With `--save OUT`, OUT receives RUN's policy with the refit
master (config and weights, no training state), for `asym-control eval OUT`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("run")
    p.add_argument("gap_json")
    p.add_argument("--updates", type=int, default=40_000)
    p.add_argument("--every", type=int, default=5_000)
    p.add_argument("--save", default=None, metavar="OUT", help="write the policy with the refit master here")
    a = p.parse_args()
    if a.save and Path(a.save).resolve() == Path(a.run).resolve():
        print("error: --save must name another folder than RUN (the trained policy stays as it is)", file=sys.stderr)
        return 2

    from asym_control.asym.agent import AsymAgent
    from asym_control.learning.nets import DTYPE
    from asym_control.training.checkpoint import CheckpointError, load_config, load_training, save_policy

    try:
        cfg = load_config(a.run)
        tensors, _ = load_training(a.run)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = json.loads(open(a.gap_json).read())["rows"]
    if cfg.mode != "asym" or not rows or "obs" not in rows[0]:
        print("error: needs an asym run and the rows of scripts/master_gap.py on it (with their states)",
              file=sys.stderr)
        return 2
    agent = AsymAgent(cfg)
    agent.load_training_tensors(tensors)
    obs = np.array([r["obs"] for r in rows], dtype=DTYPE)
    mc = np.array([r["mc_gap"] for r in rows])
    history = []

    def report(i: int) -> None:
        q = agent.master.q.forward(obs)[0]
        gap = q[:, 1] - q[:, 0]
        row = {"updates": i, "q_gap_median": float(np.median(gap)), "greedy_large": float((gap > 0).mean()),
               "agreement": float(((gap > 0) == (mc > 0)).mean())}
        history.append(row)
        print(json.dumps(row), flush=True)
    report(0)
    for i in range(1, a.updates + 1):
        agent.master.update(agent.master_batch(cfg.steps))
        if i % a.every == 0:
            report(i)
    if a.save:
        save_policy(Path(a.save), cfg, agent.policy_tensors())
    return 0


if __name__ == "__main__":
    sys.exit(main())
