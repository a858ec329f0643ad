"""
Run a grid of trials on Ray: local by default (this machine's cores), a cluster with an address.

Each trial is a Ray task of one CPU that runs `asym-control train` and then `asym-control eval`
as child processes (the commands a user would type, so a result's provenance is exactly them),
in a run folder under `work_dir` on the node that runs it, and returns a small result: the
evaluation JSON, the learning curve, the commands, the commit, wall times and the node. The
driver writes each result as it arrives to `results_dir/<trial name>.json`, so an interrupted
grid run again does only the trials without a result; a trial whose run folder holds a
checkpoint resumes from it. Ray core tasks rather than Ray Tune: every trial is a fixed command
to run to its end (no search, no early stopping), and a task per trial is all it takes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from asym_control.children import cli_command
from asym_control.experiments.grid import Trial
from asym_control.experiments.results import collect, finished_names


class TrialFailed(RuntimeError):
    """A trial's training or evaluation exited with an error; the message ends with its log."""


def _cli(argv: list[str], log: Path) -> str:
    # the child dies with the Ray worker that started it, so a cancelled or killed trial leaves
    # no training process behind to write into its run folder
    cmd = cli_command(argv)
    with open(log, "a") as f:
        f.write(f"$ asym-control {' '.join(argv)}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True)
    if r.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-8:])
        raise TrialFailed(f"`asym-control {argv[0]}` exited with status {r.returncode}:\n{tail}")
    return r.stdout


def run_trial(trial: Trial, work_dir: str, eval_episodes: int, eval_seed: int) -> dict:
    """Train and evaluate one trial in this process's node (the body of a Ray task)."""
    run_dir = Path(work_dir) / trial.name
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = Path(work_dir) / f"{trial.name}.log"
    t0 = time.perf_counter()
    if not (run_dir / "train_summary.json").is_file():
        argv = ["train", *trial.train_argv(run_dir)]
        if (run_dir / "resume" / "latest").is_file():
            argv.append("--resume")   # an interrupted trial continues from its last checkpoint
        elif run_dir.exists():
            shutil.rmtree(run_dir)    # interrupted before its first checkpoint: start it again
        _cli(argv, log)
    t1 = time.perf_counter()
    eval_argv = ["eval", str(run_dir), "--episodes", str(eval_episodes), "--seed", str(eval_seed), "--json"]
    evaluation = json.loads(_cli(eval_argv, log))
    t2 = time.perf_counter()
    try:
        import ray
        node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (run_trial called directly)
        node_id = None
    result = collect(run_dir, trial, evaluation, "asym-control " + " ".join(eval_argv), node_id,
                     round(t2 - t1, 1))
    result["this_attempt_s"] = round(t2 - t0, 1)
    return result


def result_path(results_dir: Path, trial: Trial) -> Path:
    return Path(results_dir) / f"{trial.name}.json"


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)     # a result file is whole or absent


def sweep(trials: list[Trial], results_dir: Path, work_dir: Path, address: str | None = None,
          num_cpus: int | None = None, eval_episodes: int = 50, eval_seed: int = 0,
          say: Callable[[str], None] = print) -> dict:
    """
    Run the trials that have no result in `results_dir` yet, as Ray tasks of one CPU each.

    Returns {"done": names finished now, "skipped": names already done, "failed": {name: error}}.
    """
    import ray

    results_dir, work_dir = Path(results_dir), Path(work_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    finished = finished_names(results_dir)
    todo = [t for t in trials if t.name not in finished]
    skipped = [t.name for t in trials if t not in todo]
    outcome = {"done": [], "skipped": skipped, "failed": {}}
    if not todo:
        say(f"all {len(trials)} trials already have results in {results_dir}")
        return outcome
    from asym_control.raynodes import start
    start(address, num_cpus)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        say(f"{len(trials)} trials: {len(skipped)} already done, running {len(todo)} on {cpus} CPUs "
            f"({len(nodes)} node{'s' if len(nodes) != 1 else ''}); results in {results_dir}")
        task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        pending = {task.remote(t, str(work_dir), eval_episodes, eval_seed): t for t in todo}
        t0 = time.perf_counter()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(ready[0])
            n = len(outcome["done"]) + len(outcome["failed"]) + 1
            try:
                result = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - a trial's failure is reported, the grid goes on
                cause = getattr(e, "cause", None) or e
                outcome["failed"][trial.name] = str(cause)
                (results_dir / f"{trial.name}.failed.txt").write_text(str(cause) + "\n")
                say(f"[{n}/{len(todo)}] {trial.name}: FAILED ({str(cause).splitlines()[0]})")
                continue
            _write(result_path(results_dir, trial), result)
            (results_dir / f"{trial.name}.failed.txt").unlink(missing_ok=True)
            outcome["done"].append(trial.name)
            ev = result["eval"]
            say(f"[{n}/{len(todo)}] {trial.name}: return {ev['return_mean']:.1f} +- {ev['return_std']:.1f}, "
                f"{100 * ev['large_fraction']:.1f}% on large, {100 * ev['flops_reduction']:.1f}% fewer FLOPs "
                f"({result['train_wall_time_s']:.0f} s training; {time.perf_counter() - t0:.0f} s into the grid)")
    finally:
        ray.shutdown()
    return outcome
