"""
Evaluation: the one place where returns, usage of the large sub-policy and FLOPs are computed.

Deterministic policies (actor means, greedy master), as in the paper's evaluation. FLOPs per
inference follow flops.py: the selected sub-policy's FLOPs at every control step plus the
master's, amortised over n_omega (Table IV's Avg-FLOPs/Inf); the reduction is against L-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asym_control.asym.policy import LARGE, AsymPolicy
from asym_control.training.config import TrainConfig
from asym_control.flops import CONVENTION


@dataclass
class EpisodeRecord:
    ret: float
    steps: int
    large_steps: int
    options: np.ndarray | None = None   # per control step: 0 small, 1 large
    actions: np.ndarray | None = None   # per control step: the action sent
    rewards: np.ndarray | None = None
    observations: np.ndarray | None = None  # per control step: what the policy saw
    final_distance: float | None = None     # reaching tasks: tool to goal at the episode's end


def run_episode(cfg: TrainConfig, policy: AsymPolicy, env, record: bool = False) -> EpisodeRecord:
    obs = env.reset()
    ret, steps, large = 0.0, 0, 0
    option = None
    opts, acts, rews, observations = [], [], [], []
    done = False
    while not done:
        if steps % cfg.n_omega == 0:
            option = policy.select(obs)
        action = policy.act(option, obs)
        if record:
            observations.append(obs)
        obs, reward, terminated, truncated = env.step(action)
        done = terminated or truncated
        ret += reward
        steps += 1
        large += option == LARGE
        if record:
            opts.append(option)
            acts.append(action)
            rews.append(reward)
    final = env.distance() if hasattr(env, "distance") else None
    if record:
        return EpisodeRecord(ret, steps, large, np.array(opts), np.array(acts), np.array(rews),
                             np.array(observations), final)
    return EpisodeRecord(ret, steps, large, final_distance=final)


def evaluate(cfg: TrainConfig, policy: AsymPolicy, episodes: int, seed: int,
             record: bool = False) -> tuple[dict, list[EpisodeRecord]]:
    from threadpoolctl import threadpool_limits

    env = cfg.spec.make_env(seed=seed, episode_steps=cfg.episode_steps)
    with threadpool_limits(1):
        records = [run_episode(cfg, policy, env, record) for _ in range(episodes)]
    returns = np.array([r.ret for r in records])
    total_steps = sum(r.steps for r in records)
    large_fraction = sum(r.large_steps for r in records) / total_steps
    costs = policy.costs
    fpi = costs.per_step_of_mode(cfg.mode, large_fraction)
    result = {
        "task": cfg.task,
        "mode": cfg.mode,
        "episodes": episodes,
        "seed": seed,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "large_fraction": float(large_fraction),
        "flops_per_inference": float(fpi),
        "flops_large_only": costs.large_flops,
        "flops_reduction": float(1.0 - fpi / costs.large_flops),
        "flops_convention": CONVENTION,
        "per_episode": [{"return": float(r.ret), "large_fraction": r.large_steps / r.steps,
                         "steps": r.steps} for r in records],
    }
    if records and records[0].final_distance is not None:
        from asym_control.robot.arm import SUCCESS_RADIUS
        d = np.array([r.final_distance for r in records])
        result["success_rate"] = float(np.mean(d < SUCCESS_RADIUS))
        result["final_distance"] = float(d.mean())
        for e, r in zip(result["per_episode"], records):
            e["final_distance"] = float(r.final_distance)
    return result, records
