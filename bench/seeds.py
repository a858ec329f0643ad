"""
Many seeds in one run: aggregate training speed of `asym-control train --seeds` beside SB3.

    python bench/seeds.py [--steps 4000] [--task walker-stand] [--seeds 1,3,5]

In one run, interleaved so that machine noise hits all alike: `asym-control train --seeds
0-(S-1) --steps N` for each S (wall time of the whole command, start-up included; aggregate
steps/s = S x N / wall), and Stable-Baselines3 SAC [64, 64] on one seed for N steps; then the
cost per seed of one forward + backward of the twin 64-unit critics at batch 256 when S seeds are
stacked in one batched matmul (the seed axis a vectorised learner would add); then one seed's
training timed piece by piece, and the ceiling it sets for any number of seeds on this machine's
cores (`components`). Prints one JSON object; the ratios are what to compare between machines.
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


def components(task: str, steps: int, warmup: int = 1000) -> dict[str, float]:
    """
    Milliseconds per control step of each part of one seed's training, in one process.

    The training loop of asym_control.training.train on one seed (single process, after `warmup`
    steps of learning), timed piece by piece: the large and the small sub-policy's SAC update,
    the master's DQN update, and the rest (the master's choice, the actor, the environment step,
    storing). The ceiling of many seeds on C cores, whatever is batched across seeds, is C /
    (large update + environment step): the large update's matrices are arithmetic-bound at these
    sizes (stacking S seeds saves a few percent, `stacked_critics_ms`), and dm_control steps one
    environment at a time.
    """
    from threadpoolctl import threadpool_limits

    from asym_control.asym.agent import LARGE, SMALL, AsymAgent
    from asym_control.learning.buffers import MacroStep
    from asym_control.training.config import TrainConfig

    cfg = TrainConfig(task=task, mode="asym", seed=0, steps=warmup + steps, parallel=False, learning_starts=100)
    agent = AsymAgent(cfg)
    env = cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps)
    t = {"large_update": 0.0, "small_update": 0.0, "master_update": 0.0, "env_step": 0.0, "act_and_store": 0.0}
    clock = time.perf_counter
    with threadpool_limits(1):
        obs, macro, step = env.reset(), None, 0
        agent.begin_episode(0)
        while step < warmup + steps:
            timed = step >= warmup
            t0 = clock()
            if macro is None:
                macro = MacroStep(obs, agent.select(obs, step), start=step)
            action = agent.act(macro.option, obs, step)
            t1 = clock()
            next_obs, reward, terminated, truncated = env.step(action)
            t2 = clock()
            agent.store(macro.option, obs, action, reward, next_obs, terminated)
            macro.add(reward)
            if macro.length == cfg.n_omega or terminated or truncated:
                agent.store_macro(macro, next_obs, terminated)
                macro = None
            obs, step = next_obs, step + 1
            t3 = clock()
            if step > cfg.learning_starts:
                agent._update_sub(SMALL)
                t4 = clock()
                agent._update_sub(LARGE)
                t5 = clock()
                if agent.macro_buffer.size >= cfg.dqn.batch_size:
                    agent.master.update(agent.master_batch(step))
                t6 = clock()
                if timed:
                    t["small_update"] += t4 - t3
                    t["large_update"] += t5 - t4
                    t["master_update"] += t6 - t5
            if timed:
                t["act_and_store"] += (t1 - t0) + (t3 - t2)
                t["env_step"] += t2 - t1
            if terminated or truncated:
                obs, macro = env.reset(), None
                agent.begin_episode(step)
    ms = {k: round(1e3 * v / steps, 3) for k, v in t.items()}
    ms["total"] = round(sum(ms.values()), 3)
    return ms


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
    parts = components(a.task, a.steps)
    cores = len(os.sched_getaffinity(0))
    ceiling = cores * 1e3 / (parts["large_update"] + parts["env_step"])
    # one seed's two processes at best overlap fully: the longer of the large update and the rest
    overlapped = 1e3 / max(parts["large_update"], parts["total"] - parts["large_update"])
    out.update({
        "one_seed_ms_per_step": parts,
        "ceiling_aggregate_steps_per_s": round(ceiling, 1),
        "ceiling_ratio_vs_one_seed": round(ceiling / one, 2),
        "one_seed_overlapped_steps_per_s": round(overlapped, 1),
        "ceiling_ratio_vs_overlapped_one_seed": round(ceiling / overlapped, 2),
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
