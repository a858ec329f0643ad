"""
The gate that `asym-control fit-gate` imitates, acting on its branch labels themselves.

    python scripts/gate_bound.py RUN [--episodes 10] [--horizon 30] [--no-tail] [--json]
    python scripts/gate_bound.py RUN --margins 0,1,2,4 [--episodes 10]
    python scripts/gate_bound.py RUN --stability 30,100,300 [--episodes 2]

At every decision the simulator's state is saved and the two branches of the gate fit are rolled
out (asym_control.asym.gate_fit.BranchLabeller); the option is large where its advantage exceeds
the cost gap lambda * k * (c_large - c_small). No network can choose better by the fit's own
labels, so this is the ceiling of a fitted gate with RUN's sub-policies, on the evaluator's
episodes (seed 0). An analysis tool, 2 x horizon simulated steps per decision.

`--margins`: RUN's own master, choosing large only where its Q gap exceeds each margin: the
trade-off between return and FLOPs that shifting the TD master's threshold gives.
`--stability`: at every fourth decision of RUN's master, each horizon's label without the
critic, and again after a 1e-5 nudge of every joint velocity (dm_control tasks): where the two
disagree on the choice, branches that long part chaotically and their labels are noise.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("run")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--horizon", type=int, default=30)
    p.add_argument("--no-tail", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--margins", default=None, help="comma-separated margins for RUN's own master")
    p.add_argument("--stability", default=None, help="comma-separated horizons to probe")
    a = p.parse_args()

    from asym_control.asym.gate_fit import BranchLabeller, GateFitError, cost_gap, gate_episodes, large_critic
    from asym_control.asym.policy import LARGE, SMALL
    from asym_control.training.checkpoint import CheckpointError, load_policy

    try:
        cfg, policy = load_policy(a.run)
        if cfg.mode != "asym":
            raise GateFitError(f"{a.run} is a {cfg.mode} run: no master")
        gap = cost_gap(cfg, policy)
        if a.margins:
            return margins(a, cfg, policy, [float(m) for m in a.margins.split(",")])
        env = cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps)
        if a.stability:
            if not hasattr(env, "physics"):
                raise GateFitError(f"--stability nudges MuJoCo's joint velocities: dm_control tasks only, "
                                   f"not {cfg.task}")
            return stability(a, cfg, policy, env, gap, [int(h) for h in a.stability.split(",")])
        # the critic and the labeller only where the labels' own gate needs them
        critic = None if a.no_tail else large_critic(a.run, cfg)[0]
        labeller = BranchLabeller(cfg, policy, env, a.horizon, critic)
    except (CheckpointError, GateFitError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    class LabelGate:                  # large where the branches say it pays its cost
        def select(self, obs):
            return LARGE if labeller.advantage(obs) > gap else SMALL

        def act(self, option, obs):
            return policy.act(option, obs)
    returns, f = gate_episodes(cfg, LabelGate(), env, lambda n: n >= a.episodes)
    costs = policy.costs
    out = {"run": a.run, "task": cfg.task, "episodes": a.episodes, "horizon": a.horizon, "tail": not a.no_tail,
           "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)), "large_fraction": f,
           "flops_reduction": float(1 - costs.per_step_of_mode("asym", f) / costs.large_flops),
           "cost_gap": gap, "command": "python scripts/gate_bound.py " + " ".join(sys.argv[1:])}
    print(json.dumps(out) if a.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def margins(a, cfg, policy, values) -> int:
    from asym_control.asym.policy import LARGE, SMALL
    from asym_control.evaluation.evaluate import evaluate

    class Shifted:
        def __init__(self, m):
            self.m, self.costs = m, policy.costs

        def select(self, obs):
            q = policy.q_values(obs)
            return LARGE if q[LARGE] - q[SMALL] > self.m else SMALL

        def act(self, option, obs):
            return policy.act(option, obs)
    rows = []
    for m in values:
        r, _ = evaluate(cfg, Shifted(m), a.episodes, seed=0)
        rows.append({"margin": m, "return_mean": r["return_mean"], "large_fraction": r["large_fraction"],
                     "flops_reduction": r["flops_reduction"]})
        print(json.dumps(rows[-1]), flush=True)
    return 0


def stability(a, cfg, policy, env, gap, horizons) -> int:
    from asym_control.asym.gate_fit import BranchLabeller

    labellers = {h: BranchLabeller(cfg, policy, env, h, None) for h in horizons}
    pairs = {h: [] for h in horizons}
    for _ in range(a.episodes):
        obs, t, done, decision = env.reset(), 0, False, 0
        while not done:
            if t % cfg.n_omega == 0:
                option = policy.select(obs)
                if decision % 4 == 0:
                    for h, lab in labellers.items():
                        plain = lab.advantage(obs)
                        state = lab.save()
                        env.physics.data.qvel[:] += 1e-5
                        nudged = lab.advantage(obs)
                        lab.restore(state)
                        pairs[h].append((plain, nudged))
                decision += 1
            obs, _, terminated, truncated = env.step(policy.act(option, obs))
            t += 1
            done = terminated or truncated
    for h, rows in pairs.items():
        x = np.array(rows)
        print(json.dumps({"horizon": h, "states": len(x),
                          "choice_agreement": float(np.mean((x[:, 0] > gap) == (x[:, 1] > gap))),
                          "median_abs_change": float(np.median(np.abs(x[:, 0] - x[:, 1]))),
                          "median_abs_label": float(np.median(np.abs(x[:, 0])))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
