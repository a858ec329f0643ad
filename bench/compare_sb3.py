"""
Learning check: Stable-Baselines3 SAC vs asym_control's own SAC (L-only) at equal steps.

Trains SB3 SAC with net_arch [64, 64] (ReLU, as ours) on the same walker-stand task and the
same settings (batch 256, lr 3e-4, one gradient step per step, 1000 random warm-up steps) and
evaluates it every --eval-every steps exactly like `asym-control train` does (5 deterministic
episodes on the evaluation seed 10000 + seed). Then prints both learning curves side by side,
ours read from a run directory's evals.jsonl.

    python bench/compare_sb3.py --steps 150000 --seed 0 --ours runs/walker-stand/large \
        --out runs/sb3-walker-stand-s0.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def sb3_curve(task, steps, seed, eval_every, episodes, out: Path):
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from asym_control.tasks.gym_env import TaskGymEnv
    from asym_control.tasks.registry import get_task

    spec = get_task(task)
    env = TaskGymEnv(task, seed=seed)
    model = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), batch_size=256,
                learning_starts=1000, train_freq=1, gradient_steps=1, seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()

    class Eval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                eval_env = spec.make_env(seed=10_000 + seed)
                rets = []
                for _ in range(episodes):
                    obs, done, ret = eval_env.reset(), False, 0.0
                    while not done:
                        action, _ = model.predict(obs, deterministic=True)
                        obs, r, term, trunc = eval_env.step(action)
                        ret += r
                        done = term or trunc
                    rets.append(ret)
                row = {"step": self.num_timesteps, "return_mean": float(np.mean(rets)),
                       "return_std": float(np.std(rets)), "wall_time_s": round(time.perf_counter() - t0, 1)}
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
            return True

    model.learn(total_timesteps=steps, callback=Eval())


def main():
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--task", default="walker-stand")
    p.add_argument("--steps", type=int, default=150_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--ours", type=Path, help="run directory of `asym-control train --mode large`")
    p.add_argument("--out", type=Path, required=True, help="JSONL file for SB3's curve")
    p.add_argument("--table-only", action="store_true", help="print the table from existing files")
    a = p.parse_args()
    if not a.table_only:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text("")
        sb3_curve(a.task, a.steps, a.seed, a.eval_every, a.episodes, a.out)
    sb3 = {r["step"]: r for r in map(json.loads, a.out.read_text().splitlines())}
    ours = {}
    if a.ours:
        ours = {r["step"]: r for r in map(json.loads, (a.ours / "evals.jsonl").read_text().splitlines())}
    print("| steps | SB3 SAC [64,64] return | SB3 wall s | asym_control L-only return | ours wall s |")
    print("|---|---|---|---|---|")
    for step in sorted(sb3):
        o = min(ours.values(), key=lambda r: abs(r["step"] - step), default=None)
        o_txt = (f"{o['return_mean']:.1f} +- {o['return_std']:.1f} (at {o['step']}) | {o['wall_time_s']}"
                 if o else "- | -")
        print(f"| {step} | {sb3[step]['return_mean']:.1f} +- {sb3[step]['return_std']:.1f} | "
              f"{sb3[step]['wall_time_s']} | {o_txt} |")


if __name__ == "__main__":
    main()
