"""
How right is a trained master's choice? Its Q-value gap against Monte Carlo, at its own decisions.

    python scripts/master_gap.py RUN [--episodes 2] [--horizon 300] [--every 4] [--json OUT]

At every `--every`-th decision of the greedy master (deterministic sub-policies, the evaluator's
episode with seed 0), the simulator's state is saved and two branches are rolled out from it:
one macro step of the small sub-policy, or of the large one, then the greedy master. Each
branch's value is its discounted return with the master's own reward (the cost term lambda * k *
c_omega at every macro step), over `--horizon` control steps, then the master's max Q
(a common tail; gamma^300 = 0.05). The difference large - small is the Monte Carlo advantage of
large at that state, set beside the master's Q_large - Q_small.

The tasks must be deterministic given the simulator's state (dm_control's walker and finger,
MountainCarContinuous). An analysis tool: it reads a run directory and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("run")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--horizon", type=int, default=300)
    p.add_argument("--every", type=int, default=4, help="measure every N-th decision")
    p.add_argument("--json", default=None, help="write the per-decision rows and the summary here")
    a = p.parse_args()

    from asym_control.asym.policy import LARGE, SMALL
    from asym_control.tasks.simstate import simulator_state
    from asym_control.training.checkpoint import CheckpointError, load_policy

    try:
        cfg, policy = load_policy(a.run)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cfg.mode != "asym":
        print(f"error: {a.run} is a {cfg.mode} run: no master to check", file=sys.stderr)
        return 2
    env = cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps)
    simulator = simulator_state(env, cfg.task)
    if simulator is None:
        print(f"error: {cfg.task}: its simulator state is not saved by this tool "
              "(dm_control tasks and MountainCarContinuous are)", file=sys.stderr)
        return 2
    save, restore = simulator
    gamma, k, lam = cfg.dqn.gamma, cfg.n_omega, cfg.cost_lambda
    cost = {SMALL: policy.costs.c_small, LARGE: policy.costs.c_large}

    def branch(obs, first):
        value, g, n, option = 0.0, 1.0, 0, first
        while n < a.horizon:
            if n % k == 0:
                if n:
                    option = policy.select(obs)
                value -= g * lam * k * cost[option]
            obs, r, terminated, truncated = env.step(policy.act(option, obs))
            value += g * r
            g *= gamma
            n += 1
            if terminated:
                return value
            if truncated:
                break
        return value + g * float(policy.q_values(obs).max())

    rows = []
    for _ in range(a.episodes):
        obs, t, done, decision = env.reset(), 0, False, 0
        while not done:
            if t % k == 0:
                q = policy.q_values(obs)
                option = int(np.argmax(q))
                if decision % a.every == 0:
                    s = save()
                    mc = {}
                    for o in (SMALL, LARGE):
                        restore(s)
                        mc[o] = branch(obs, o)
                    restore(s)
                    rows.append({"t": t, "greedy": option, "q_gap": float(q[LARGE] - q[SMALL]),
                                 "mc_gap": float(mc[LARGE] - mc[SMALL]), "obs": [float(x) for x in obs]})
                decision += 1
            obs, _, terminated, truncated = env.step(policy.act(option, obs))
            t += 1
            done = terminated or truncated
    q_gap = np.array([r["q_gap"] for r in rows])
    mc_gap = np.array([r["mc_gap"] for r in rows])
    greedy = np.array([r["greedy"] for r in rows])
    agree = (mc_gap > 0) == (greedy == LARGE)
    summary = {
        "run": a.run, "task": cfg.task, "decisions": len(rows),
        "greedy_large": float(greedy.mean()),
        "mc_large_better": float((mc_gap > 0).mean()),
        "agreement": float(agree.mean()),
        "q_gap_median": float(np.median(q_gap)), "mc_gap_median": float(np.median(mc_gap)),
        "q_gap_minus_mc_median": float(np.median(q_gap - mc_gap)),
        # the gate's error against the size of what it estimates: about 1 is a gate at chance
        "abs_error_median": float(np.median(np.abs(q_gap - mc_gap))),
        "abs_mc_gap_median": float(np.median(np.abs(mc_gap))),
        "correlation": float(np.corrcoef(q_gap, mc_gap)[0, 1]) if len(rows) > 2 else float("nan"),
        "cost_gap_per_macro_step": float(lam * k * (cost[LARGE] - cost[SMALL])),
        "command": "python scripts/master_gap.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
