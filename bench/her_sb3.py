"""
Our SAC + HER beside Stable-Baselines3's SAC with HerReplayBuffer, at equal steps.

    python bench/her_sb3.py [--task FetchReach-v4] [--steps 10000] [--every 2000] [--seed 0] [--gamma 0.99]

Both: Table I's SAC (lr 3e-4, batch 256, gamma 0.99 unless --gamma, tau 0.005, one update per step, automatic
entropy coefficient), actor and critics [128, 128] (the paper's large width for Fetch), HER's future
strategy with 4 sampled goals, 1,000 random steps first; ours is `asym-control train --mode large`,
SB3's runs on the same gymnasium-robotics environment (asym_control/tasks/fetch.py's class, so that
it builds with MuJoCo 3.17), cut at 50 steps. Each is evaluated deterministically every `--every`
steps on 20 episodes (success: the goal reached at the episode's end) and at the end on 50. Prints
one JSON object: the two learning curves, final success rates and wall times (one core each, run
one after the other).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def ours(task: str, steps: int, every: int, seed: int, gamma: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "asym_control.cli", "train", "--task", task, "--mode", "large",
                        "--seed", str(seed), "--steps", str(steps), "--gamma", repr(gamma),
                        "--eval-every", str(every), "--eval-episodes", "20",
                        "--single-process", "--no-progress", "--out", str(run)], check=True, capture_output=True)
        wall = time.perf_counter() - t
        final = json.loads(subprocess.run([sys.executable, "-m", "asym_control.cli", "eval", str(run), "--episodes",
                                           "50", "--seed", "1", "--json"], check=True, capture_output=True,
                                          text=True).stdout)
        evals = [json.loads(x) for x in (run / "evals.jsonl").read_text().splitlines()]
        curve = [(e["step"], e["success_rate"]) for e in evals]
    return {"curve": curve, "final_success": final["success_rate"], "train_wall_s": round(wall, 1)}


def sb3(task: str, steps: int, every: int, seed: int, gamma: float) -> dict:
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer

    from asym_control.tasks.fetch import _fetch_class

    torch.set_num_threads(1)

    def make():
        return gym.wrappers.TimeLimit(_fetch_class(task)(reward_type="sparse"), 50)

    model = SAC("MultiInputPolicy", make(), replay_buffer_class=HerReplayBuffer,
                replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
                policy_kwargs=dict(net_arch=[128, 128]), learning_rate=3e-4, batch_size=256, gamma=gamma, tau=0.005,
                learning_starts=1000, train_freq=1, gradient_steps=1, buffer_size=1_000_000, seed=seed, device="cpu")

    def success(episodes: int, eval_seed: int) -> float:
        env = make()
        wins = []
        for e in range(episodes):
            obs, _ = env.reset(seed=eval_seed + e)
            done = False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            wins.append(float(info["is_success"]))
        return float(np.mean(wins))
    curve, wall, done = [], 0.0, 0
    while done < steps:
        chunk = min(every, steps - done)
        t = time.perf_counter()
        model.learn(total_timesteps=chunk, reset_num_timesteps=done == 0)
        wall += time.perf_counter() - t
        done += chunk
        curve.append((done, success(20, 10_000 + done)))
    return {"curve": curve, "final_success": success(50, 1), "train_wall_s": round(wall, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--task", default="FetchReach-v4")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gamma", type=float, default=0.99, help="both learners' discount (Table I: 0.99)")
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from asym_control.experiments.results import machine
    out = {"task": a.task, "steps": a.steps, "seed": a.seed, "gamma": a.gamma, "machine": machine(),
           "ours": ours(a.task, a.steps, a.every, a.seed, a.gamma),
           "sb3": sb3(a.task, a.steps, a.every, a.seed, a.gamma)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
