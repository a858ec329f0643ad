"""
One SAC update's CPU time for each sub-policy of the paper's tasks (the training loop's largest cost).

    python bench/sac_update.py [--updates 200] [--repeats 5] [--tasks walker-stand,finger-spin,FetchPickAndPlace-v4]

Each task's small and large sub-policy at its Table II width, batch 256, one BLAS thread (as
training runs them), on random batches: CPU time of this process per update (time.process_time,
which other processes on the machine disturb less than the wall clock), the best of `repeats`
blocks of `updates`. Prints one JSON object. To compare two versions of the code, run it at each
of them in turn, alternating, on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def update_ms(obs_dim: int, act_dim: int, units: int, critic_units: int | None, updates: int, repeats: int) -> float:
    from threadpoolctl import threadpool_limits

    from asym_control.learning.sac import SAC, SACConfig

    rng = np.random.default_rng(0)
    sac = SAC(obs_dim, act_dim, SACConfig(units=units, critic_units=critic_units), rng)
    B = sac.config.batch_size
    batch = (rng.standard_normal((B, obs_dim), dtype=np.float32), rng.uniform(-1, 1, (B, act_dim)).astype(np.float32),
             rng.standard_normal(B).astype(np.float32), rng.standard_normal((B, obs_dim), dtype=np.float32),
             np.zeros(B, dtype=np.float32))
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(20):
            sac.update(batch, rng)
        for _ in range(repeats):
            t = time.process_time()
            for _ in range(updates):
                sac.update(batch, rng)
            best = min(best, (time.process_time() - t) / updates)
    return 1e3 * best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tasks", default="walker-stand,finger-spin,FetchPickAndPlace-v4")
    args = p.parse_args()
    from asym_control.tasks import get_task

    out = {"machine": f"{platform.machine()}, Python {platform.python_version()}", "ms_per_update": {}}
    for name in args.tasks.split(","):
        spec = get_task(name)
        for role, units in (("small", spec.small_units), ("large", spec.large_units)):
            out["ms_per_update"][f"{name} {role} ({units})"] = round(
                update_ms(spec.obs_dim, spec.act_dim, units, spec.critic_units, args.updates, args.repeats), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
