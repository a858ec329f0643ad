"""
Training speed: asym_control's asym mode vs Stable-Baselines3 SAC [64, 64], side by side.

Both train on the same walker-stand environment (dm_control via asym_control's task), from
scratch, for the same number of control steps with the same learning settings (batch 256, one
gradient step per control step, 100 random warm-up steps). asym mode does three gradient steps
per control step (small SAC, large SAC, master DQN); SB3 does one (its single SAC). Runs are
interleaved (ours, SB3, ours, SB3, ...) so that machine noise hits both alike; the ratio is of
the medians.

    python bench/train_speed.py --steps 3000 [--repeats 2] [--mode asym]

prints one JSON object with ours_sps, sb3_sps and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def ours(task: str, mode: str, steps: int, parallel: bool) -> float:
    from asym_control.training.config import TrainConfig
    from asym_control.training.train import train

    cfg = TrainConfig(task=task, mode=mode, seed=0, steps=steps, learning_starts=100, eval_every=0,
                      parallel=parallel)
    t = time.perf_counter()
    train(cfg, None, progress=False)
    return steps / (time.perf_counter() - t)


def sb3(task: str, steps: int, units: int) -> float:
    from stable_baselines3 import SAC

    from asym_control.tasks.gym_env import TaskGymEnv

    env = TaskGymEnv(task, seed=0)
    model = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[units, units]), batch_size=256,
                learning_starts=100, train_freq=1, gradient_steps=1, seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--task", default="walker-stand")
    p.add_argument("--mode", default="asym", choices=["asym", "large", "small"])
    p.add_argument("--sb3-units", type=int, default=64)
    p.add_argument("--single-process", action="store_true")
    a = p.parse_args()
    import torch

    ours_runs, sb3_runs = [], []
    for _ in range(a.repeats):
        ours_runs.append(ours(a.task, a.mode, a.steps, not a.single_process))
        sb3_runs.append(sb3(a.task, a.steps, a.sb3_units))
    o, s = statistics.median(ours_runs), statistics.median(sb3_runs)
    print(json.dumps({
        "task": a.task, "steps": a.steps, "mode": a.mode, "parallel": not a.single_process,
        "sb3_net_arch": [a.sb3_units, a.sb3_units],
        "ours_sps": round(o, 1), "sb3_sps": round(s, 1), "ratio": round(o / s, 2),
        "ours_runs": [round(x, 1) for x in ours_runs], "sb3_runs": [round(x, 1) for x in sb3_runs],
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "machine": platform.machine(),
    }))


if __name__ == "__main__":
    main()
