"""
Many seeds of one (task, mode) in one run: `asym-control train --seeds 0-4 --out DIR`.

Each seed is the single-seed command (`--seed k --out DIR/seed<k>`, every other flag the same) in
a child process, as many at once as there are cores: a seed's numbers are then its single-seed
run's, bit for bit (test/test_seeds.py). Processes rather than a seed axis in the networks:
stacking S seeds' twin 64-unit critics in one batched matmul saves 4-8% per seed (0.250 -> 0.230
ms per forward + backward at S = 5, bench/seeds.py), while the environment steps and the small
sub-policy's and the master's updates would stay per seed in Python; separate processes use
every core at once, and a seed that fails or is killed does not take the others down.
docs/benchmarks.md has the aggregate speed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Callable

from asym_control.children import split_flags, start

_DROP = {"--seeds": 1, "--seed": 1, "--out": 1}


def seed_argv(argv: list[str], seed: int, out: Path, single_process: bool) -> list[str]:
    """Return the single-seed `train` arguments for `seed` from the many-seed command's."""
    _, rest = split_flags(argv, _DROP)
    extra = ["--single-process"] if single_process and "--single-process" not in rest else []
    return ["train", *rest, "--seed", str(seed), "--out", str(out), "--no-progress", *extra][:]


def train_seeds(argv: list[str], seeds: list[int], out: Path, steps: int, jobs: int | None = None,
                say: Callable[[str], None] = print) -> dict:
    """
    Train every seed as its own child process, at most `jobs` at once (default: the cores).

    A seed's learners take one process each when there are fewer seeds than cores (the large
    sub-policy's update in a second process), one between them otherwise. Returns the summaries.
    """
    cores = len(os.sched_getaffinity(0))
    jobs = jobs or min(len(seeds), cores)
    single = 2 * min(jobs, len(seeds)) > cores     # not enough cores for two processes per seed
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    queue = list(seeds)
    running: dict[int, tuple] = {}
    summaries, failed = {}, {}
    t0 = time.perf_counter()
    say(f"{len(seeds)} seeds, {jobs} at a time on {cores} cores, "
        f"{'one process' if single else 'two processes'} each; run folders {out}/seed<k>")
    try:
        while queue or running:
            while queue and len(running) < jobs:
                seed = queue.pop(0)
                run = out / f"seed{seed}"
                log = open(out / f"seed{seed}.log", "a")
                p = start(seed_argv(argv, seed, run, single), stdout=log, stderr=log)
                running[seed] = (p, log, time.perf_counter())
            time.sleep(0.2)
            for seed, (p, log, t_start) in list(running.items()):
                if p.poll() is None:
                    continue
                log.close()
                del running[seed]
                summary_file = out / f"seed{seed}" / "train_summary.json"
                if p.returncode == 0 and summary_file.is_file():
                    summaries[seed] = json.loads(summary_file.read_text())
                    ret = summaries[seed].get("recent_return")
                    ret = "none (no episode finished)" if ret is None else f"{ret:.1f}"
                    say(f"seed {seed}: done, return {ret} ({time.perf_counter() - t_start:.0f} s)")
                else:
                    tail = (out / f"seed{seed}.log").read_text().strip().splitlines()[-1:] or ["no output"]
                    failed[seed] = f"exit status {p.returncode}: {tail[0]}"
                    say(f"seed {seed}: FAILED ({failed[seed]}; {out}/seed{seed}.log)")
    except KeyboardInterrupt:
        for p, log, _ in running.values():
            p.send_signal(signal.SIGINT)   # each seed stops as a single run does; --resume continues
        for p, log, _ in running.values():
            try:
                p.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a child that will not stop is killed
                p.kill()
            log.close()
        raise
    wall = time.perf_counter() - t0
    return {"seeds": summaries, "failed": failed, "wall_time_s": round(wall, 1),
            "aggregate_steps_per_s": round(steps * len(summaries) / wall, 1) if wall > 0 else None}
