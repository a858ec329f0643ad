"""
How well the gate fit can learn its branch labels: the loss and the width, on one set of labels.

    python scripts/gate_fit_probe.py RUN [--labels 8000] [--widths 32,128] [--updates 20000] [--json]

Labels `--labels` decisions of RUN's own master with the gate fit's paired branches
(asym_control.asym.gate_fit.BranchLabeller, its default horizon and critic tail; episodes from
seed 20,000, as the fit's first round), keeps a fifth of them out, and fits the rest with each
loss (huber, mse) and each hidden width (two layers; the first width listed should be the
master's own). For each fit, on the held-out labels:

- agreement: the share of decisions on which the fit makes the labels' choice (A > cost gap);
- regret per decision: what its choices lose against the labels' own, in the master's reward
  units, |A - cost gap| wherever it chooses the other option (0 for the labels' own gate);
- the share on large.

Beside them the regret of always large and of always small. A width far above the master's that
learns the labels no better says the limit is in the labels, not in the network; a loss with less
regret at the same width is the better fit. An analysis tool: about a minute of labelling per
4,000 decisions on finger-spin, on one core.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("run")
    p.add_argument("--labels", type=int, default=8000)
    p.add_argument("--widths", default="32,128", help="comma-separated hidden widths (two layers each)")
    p.add_argument("--updates", type=int, default=None, help="Adam steps per fit (default: the fit's, 20000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args()

    from threadpoolctl import threadpool_limits

    from asym_control.asym.gate_fit import (LOSSES, TRAIN_FIT, BranchLabeller, GateFitConfig, GateFitError,
                                            cost_gap, fit_master, labelled_episodes, large_critic)
    from asym_control.asym.policy import LARGE, SMALL
    from asym_control.training.checkpoint import CheckpointError, load_policy

    try:
        widths = [int(w) for w in a.widths.split(",")]
        cfg, policy = load_policy(a.run)
        if cfg.mode != "asym":
            raise GateFitError(f"{a.run} is a {cfg.mode} run: no master")
        critic, _ = large_critic(a.run, cfg)
    except (GateFitError, CheckpointError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with threadpool_limits(1):
        env = cfg.spec.make_env(seed=20_000, episode_steps=cfg.episode_steps)
        labeller = BranchLabeller(cfg, policy, env, TRAIN_FIT.horizon, critic)
        xs, ys, _, _ = labelled_episodes(cfg, policy, labeller, env, a.labels)
        x, adv = np.stack(xs), np.array(ys)
        gap = cost_gap(cfg, policy)
        net_worth = adv - gap
        order = np.random.default_rng(5).permutation(len(x))
        held, train = order[:len(x) // 5], order[len(x) // 5:]
        w = net_worth[held]
        out = {"run": a.run, "updates": a.updates or TRAIN_FIT.updates, "labels": int(len(x)),
               "held_out": int(len(held)), "cost_gap": gap,
               "large_pays": float(np.mean(net_worth > 0)),
               "net_worth_quantiles": {q: float(np.percentile(net_worth, q)) for q in (10, 25, 50, 75, 90)},
               "net_worth_mean": float(net_worth.mean()),
               "regret_all_large": float(np.mean(np.maximum(-w, 0))),
               "regret_all_small": float(np.mean(np.maximum(w, 0))), "fits": []}
        for loss in LOSSES:
            fc = GateFitConfig(loss=loss, holdout=0.0, updates=a.updates or TRAIN_FIT.updates)
            for width in widths:
                sizes = [policy.master.sizes[0], width, width, 2]
                net, _ = fit_master(sizes, policy.master.activation, x[train], adv[train], gap,
                                    fc, np.random.default_rng(1))
                q = net.forward(x[held])[0]
                large = q[:, LARGE] > q[:, SMALL]
                out["fits"].append({"loss": loss, "width": width, "agreement": float(np.mean(large == (w > 0))),
                                    "regret": float(np.mean(np.where(large, np.maximum(-w, 0), np.maximum(w, 0)))),
                                    "large_fraction": float(large.mean())})
    if a.json:
        print(json.dumps(out))
        return 0
    print(f"{a.run}: {out['labels']} labels, large pays on {100 * out['large_pays']:.1f}% (cost gap {gap:.3f}); "
          f"regret per decision of always large {out['regret_all_large']:.3f}, always small "
          f"{out['regret_all_small']:.3f}")
    for f in out["fits"]:
        print(f"  {f['loss']:5s} width {f['width']:4d}: agreement {f['agreement']:.3f}, regret {f['regret']:.3f}, "
              f"large {100 * f['large_fraction']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
