"""
Add finished run folders trained by hand (`asym-control train`) to a results folder.

    python scripts/runs_to_results.py RUN [RUN ...] --results DIR [--episodes 50] [--seed 0]

Each run's trial is read from its own command line (invocations.jsonl), so its result file has
the name a sweep of the same settings would give it. A folder made by `asym-control fit-gate RUN
--out OUT` with its default settings is RUN's trial with `--fit-gate` (what `train --fit-gate`
makes; with `--loss mse`, `--fit-gate --fit-gate-loss mse`), its learning curve RUN's and its
evaluation OUT's. Its evaluation is RUN/eval<episodes>.json if that was made by `asym-control
eval RUN --episodes N --seed S --json` with these N and S, else the evaluation is run now (and
kept there).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import subprocess
import sys
import time
from pathlib import Path

from asym_control.asym.gate_fit import RECORD_FILE, TRAIN_FIT
from asym_control.cli import build_parser, train_config
from asym_control.experiments.grid import with_schedule
from asym_control.experiments.results import ResultError, collect, trial_of_run


def without_defaults(trial):
    """Drop the flags of a trial that only restate a default (`--cost-free 0`): the same trial."""
    parser = build_parser()
    base = ["train", "--task", trial.task, "--mode", trial.mode, "--steps", str(trial.steps), "--out", "x"]

    def config(args):
        with contextlib.redirect_stderr(io.StringIO()):   # argparse's complaints about a trial cut
            try:
                return train_config(parser.parse_args(base + args))
            except SystemExit:
                return None
    want = config(list(trial.train_args))
    args = list(trial.train_args)
    i = 0
    while i < len(args):
        for width in (2, 1):
            rest = args[:i] + args[i + width:]
            if args[i].startswith("--") and config(rest) == want:
                args = rest
                break
        else:
            i += 1
    # an asym trial names its schedule even where it is the default (`with_schedule`); a trial
    # without a master has none
    named = with_schedule(args)
    return dataclasses.replace(trial, train_args=named if trial.mode == "asym" else named[2:])


def fitted_source(run: Path):
    """Return (RUN, None) for a run folder, (its source run, gate_fit.json) for a folder of fit-gate."""
    record = run / RECORD_FILE
    if not record.is_file() or (run / "invocations.jsonl").is_file():
        return run, None                  # a run trained with --fit-gate is a run folder like any other
    fit = json.loads(record.read_text())
    defaults = dataclasses.asdict(TRAIN_FIT)
    # records made before the loss and the validation were settings: huber, the last round's fit
    config = {"loss": "huber", "validate": 0, **fit["config"]}
    changed = sorted(k for k in defaults if config.get(k) != defaults[k] and k != "loss")
    if changed:
        raise ResultError(f"{run} was fitted with other settings than train --fit-gate's ({', '.join(changed)}): "
                          "it is not that trial")
    return Path(fit["source_run"]), fit


def fitted_trial(trial, fit: dict):
    """Return what `train --fit-gate [--fit-gate-loss L]` makes: the source run's trial with those flags."""
    loss = fit["config"].get("loss", "huber")
    flags = ("--fit-gate",) + (("--fit-gate-loss", loss) if loss != TRAIN_FIT.loss else ())
    return dataclasses.replace(trial, train_args=trial.train_args + flags)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="write result files that exist again")
    a = p.parse_args()
    a.results.mkdir(parents=True, exist_ok=True)
    bad = 0
    for run in a.runs:
        try:
            source, fit = fitted_source(run)
            trial = without_defaults(trial_of_run(source))
            if fit is not None:
                trial = fitted_trial(trial, fit)
            cached = run / f"eval{a.episodes}.json"
            made = run / (RECORD_FILE if fit is not None else "train_summary.json")
            fresh = cached.is_file() and cached.stat().st_size and cached.stat().st_mtime >= made.stat().st_mtime
            evaluation = json.loads(cached.read_text()) if fresh else None   # not of an earlier budget
            wall = None
            if evaluation is None or evaluation.get("episodes") != a.episodes or evaluation.get("seed") != a.seed:
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-m", "asym_control.cli", "eval", str(run), "--episodes",
                                      str(a.episodes), "--seed", str(a.seed), "--json"],
                                     capture_output=True, text=True, check=True).stdout
                wall = round(time.perf_counter() - t0, 1)
                evaluation = json.loads(out)
                cached.write_text(out)
            result = collect(source, trial, evaluation,
                             f"asym-control eval {run} --episodes {a.episodes} --seed {a.seed} --json",
                             eval_wall_time_s=wall)
            if fit is not None:
                result["train_commands"].append({"command": fit["command"]})
                result["gate_fit"] = fit
            elif (run / RECORD_FILE).is_file():               # train --fit-gate: its rounds too
                result["gate_fit"] = json.loads((run / RECORD_FILE).read_text())
        except (ResultError, subprocess.CalledProcessError, OSError) as e:
            bad += 1
            print(f"{run}: skipped: {getattr(e, 'stderr', None) or e}", file=sys.stderr)
            continue
        target = a.results / f"{trial.name}.json"
        if target.is_file() and not a.force:
            print(f"{run}: {target} is there already (--force to write it again)")
            continue
        target.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{run} -> {a.results / (trial.name + '.json')}: {evaluation['return_mean']:.1f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
