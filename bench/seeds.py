"""
Many seeds in one run: aggregate training speed of `asym-control train --seeds` beside SB3.

    python bench/seeds.py [--steps 4000] [--task walker-stand] [--seeds 1,3,5]

In one run, interleaved so that machine noise hits all alike: `asym-control train --seeds
0-(S-1) --steps N` for each S (wall time of the whole command, start-up included; aggregate
steps/s = S x N / wall), and Stable-Baselines3 SAC [64, 64] on one seed for N steps; then the
cost per seed of one forward + backward of the twin 64-unit critics at batch 256 when S seeds are
stacked in one batched matmul (the seed axis a vectorised learner would add). Prints one JSON
object; the ratios are what to compare between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def ours(task: str, seeds: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "asym_control.cli", "train", "--task", task, "--mode", "asym",
               "--seeds", f"0-{seeds - 1}", "--steps", str(steps), "--learning-starts", "100",
               "--eval-every", "0", "--out", str(Path(d) / "run")]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return seeds * steps / (time.perf_counter() - t)


def sb3(task: str, steps: int) -> float:
    from stable_baselines3 import SAC

    from asym_control.tasks.gym_env import TaskGymEnv

    env = TaskGymEnv(task, seed=0)
    model = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), batch_size=256, learning_starts=100,
                train_freq=1, gradient_steps=1, seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - t)


def stacked_critics_ms(seeds: int, obs_dim: int = 24, act_dim: int = 6, units: int = 64, batch: int = 256,
                       repeats: int = 300) -> float:
    """Milliseconds per seed of a forward + backward of S x 2 stacked critics."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from asym_control.learning.nets import MLP
    rng = np.random.default_rng(0)
    net = MLP([obs_dim + act_dim, units, units, 1], ensemble=2 * seeds, rng=rng)
    x = rng.standard_normal((2 * seeds, batch, obs_dim + act_dim)).astype(np.float32)
    dout = np.ones((2 * seeds, batch, 1), dtype=np.float32)
    with threadpool_limits(1):
        for _ in range(20):
            _, cache = net.forward(x, keep=True)
            net.backward(cache, dout)
        t = time.perf_counter()
        for _ in range(repeats):
            _, cache = net.forward(x, keep=True)
            net.backward(cache, dout)
        return 1e3 * (time.perf_counter() - t) / repeats / seeds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--task", default="walker-stand")
    p.add_argument("--seeds", default="1,3,5")
    p.add_argument("--repeats", type=int, default=1)
    a = p.parse_args()
    counts = [int(s) for s in a.seeds.split(",")]
    sps = {s: [] for s in counts}
    sb = []
    for _ in range(a.repeats):
        for s in counts:
            sps[s].append(ours(a.task, s, a.steps))
        sb.append(sb3(a.task, a.steps))
    best = {s: max(v) for s, v in sps.items()}
    sb3_sps = max(sb)
    one = best[counts[0]]
    out = {
        "task": a.task, "steps_per_seed": a.steps, "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "aggregate_steps_per_s": {str(s): round(v, 1) for s, v in best.items()},
        "sb3_sac_64x64_one_seed_steps_per_s": round(sb3_sps, 1),
        "ratio_vs_one_seed": {str(s): round(v / one, 2) for s, v in best.items()},
        "ratio_vs_sb3": {str(s): round(v / sb3_sps, 2) for s, v in best.items()},
        "stacked_twin_critics_ms_per_seed": {str(s): round(stacked_critics_ms(s), 3) for s in (1, 3, 5)},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
