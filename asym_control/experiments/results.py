"""
Results of trials: one small JSON each, made from a finished run folder, read back and grouped.

`collect` turns a run folder (config.json, invocations.jsonl, train_summary.json, evals.jsonl)
and its evaluation JSON into the result a sweep writes; `trial_of_run` recovers the trial (and so
the name a sweep would give it) from the run's own command line, so runs trained by hand can join
a results folder. `load` reads a folder; `variants` groups results by what was trained (task,
mode, lambda, n_omega, extra flags), seeds together.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from asym_control.children import split_flags
from asym_control.experiments.grid import Trial, with_schedule

RESULT_VERSION = 2
"""2: an asym trial's flags name its schedule (`--schedule`); version 1 left the paper's, then
train's default, unnamed, and `upgrade` names it"""
CURVE_KEYS = ("step", "return_mean", "return_std", "large_fraction", "flops_reduction",
              "small_alone_return", "large_alone_return", "wall_time_s")
# flags of `asym-control train` that are the trial's axes or say nothing about what is trained
# (evaluations and checkpoints during training leave its random streams and its result alone)
_AXES = {"--task": 1, "--mode": 1, "--seed": 1, "--steps": 1, "--out": 1, "--lambda": 1, "--n-omega": 1,
         "--single-process": 0, "--no-progress": 0, "--resume": 0, "--eval-every": 1, "--eval-episodes": 1,
         "--checkpoint-every": 1}


def machine() -> str:
    """Describe this machine as every result file and benchmark records it."""
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def _provenance(node_id: str | None = None) -> dict:
    """Return where and when a result was made: the Ray node, the host, the machine, the time."""
    return {"node": {"id": node_id, "hostname": socket.gethostname()}, "machine": machine(),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


class ResultError(ValueError):
    """A run folder or result file that cannot be used, with the reason."""


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


def trial_of_run(run_dir: Path) -> Trial:
    """Return the trial of a run folder, from the first command line in its invocations.jsonl."""
    inv = _jsonl(Path(run_dir) / "invocations.jsonl")
    if not inv:
        raise ResultError(f"{run_dir} has no invocations.jsonl: not a run folder of asym-control train")
    argv = shlex.split(inv[0]["command"])
    if argv[:2] != ["asym-control", "train"]:
        raise ResultError(f"{run_dir}: the first command is not asym-control train: {inv[0]['command']}")
    axes, rest = split_flags(argv[2:], _AXES)
    cfg = json.loads((Path(run_dir) / "config.json").read_text())
    if cfg["mode"] == "asym":
        # named first, as the grid names it: the schedule the run was made with, which its config
        # records (a run made before it did had the paper's, then the default)
        rest = with_schedule(rest, default=cfg.get("schedule", "paper"))
    return Trial(cfg["task"], cfg["mode"], int(cfg["seed"]), int(cfg["steps"]),
                 float(axes["--lambda"]) if "--lambda" in axes else None,
                 int(axes["--n-omega"]) if "--n-omega" in axes else None, tuple(rest))


def upgrade(result: dict) -> dict:
    """
    Return a result file's contents at RESULT_VERSION (a copy; the commands it records are kept as run).

    Version 1 to 2: an asym trial whose flags name no schedule was trained with the paper's, train's
    default then; its flags and name get `--schedule paper`, and a schedule named elsewhere in
    them comes first (`with_schedule`).
    """
    result = json.loads(json.dumps(result))
    version = result.get("version", 1)
    if version > RESULT_VERSION:
        raise ResultError(f"result {result.get('name')!r} is of version {version}; this asym-control reads "
                          f"up to {RESULT_VERSION}")
    if version == 1:
        t = result["trial"]
        if t["mode"] == "asym":
            t["train_args"] = list(with_schedule(t["train_args"], default="paper"))
            result["name"] = Trial(t["task"], t["mode"], int(t["seed"]), int(t["steps"]), t["cost_lambda"],
                                   t["n_omega"], tuple(t["train_args"])).name
        result["version"] = RESULT_VERSION
    return result


def collect(run_dir: Path, trial: Trial, evaluation: dict, eval_command: str, node_id: str | None = None,
            eval_wall_time_s: float | None = None) -> dict:
    """Return the result of a finished run folder and its evaluation JSON (`asym-control eval --json`)."""
    run_dir = Path(run_dir)
    summary_file = run_dir / "train_summary.json"
    if not summary_file.is_file():
        raise ResultError(f"{run_dir} has no train_summary.json: its training has not finished")
    summary = json.loads(summary_file.read_text())
    return {
        "version": RESULT_VERSION,
        "name": trial.name,
        "trial": trial.as_dict(),
        "train_commands": _jsonl(run_dir / "invocations.jsonl"),
        "eval_command": eval_command,
        "steps": summary["steps"],
        "train_wall_time_s": summary["wall_time_s"],
        "eval_wall_time_s": eval_wall_time_s,
        **_provenance(node_id),
        "eval": {k: v for k, v in evaluation.items() if k != "per_episode"},
        "per_episode_return": [e["return"] for e in evaluation.get("per_episode", [])],
        "curve": [{k: e[k] for k in CURVE_KEYS if k in e} for e in _jsonl(run_dir / "evals.jsonl")],
    }


def collect_distilled(run_dir: Path) -> dict:
    """
    Return the result of a student made by `asym-control distill` (its distill.json), as a trial's.

    Its mode is the method (bc, gail, a2d, a2d-actor), its flags the width; its steps are BC's gradient steps or
    GAIL's environment steps; the teacher and the demonstrations are kept beside.
    """
    path = Path(run_dir) / "distill.json"
    if not path.is_file():
        raise ResultError(f"{run_dir} has no distill.json: not a student made by asym-control distill")
    d = json.loads(path.read_text())
    trial = Trial(d["task"], d["method"], int(d["seed"]), int(d["steps"]), None, None, ("--width", str(d["width"])))
    return {
        "version": RESULT_VERSION,
        "name": trial.name,
        "trial": trial.as_dict(),
        "train_commands": [{"command": d["command"]}],
        "eval_command": None,
        "steps": d["steps"],
        "train_wall_time_s": d.get("demo_wall_time_s", 0.0) + d["train_wall_time_s"],
        "eval_wall_time_s": None,
        **_provenance(),
        "eval": d["eval"],
        "per_episode_return": [],
        "curve": _jsonl(Path(run_dir) / "evals.jsonl"),
        "teacher": d["teacher"],
        **{k: d[k] for k in ("demonstrations", "distillation") if k in d},
    }


def load(results_dir: Path) -> list[dict]:
    """Read every result file of a folder, each upgraded to RESULT_VERSION (a damaged one is an error that names it)."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            r = json.loads(path.read_text())
            r["trial"]["task"], r["eval"]["return_mean"]
            r = upgrade(r)
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ResultError(f"{path} is not a result file ({e})") from None
        out.append(r)
    if not out:
        raise ResultError(f"no result files in {results_dir}")
    return out


def finished_names(results_dir: Path) -> set[str]:
    """Return the names of the trials that have a result in a folder, by file and as upgraded (old files)."""
    names = set()
    for path in Path(results_dir).glob("*.json"):
        names.add(path.stem)
        try:
            names.add(upgrade(json.loads(path.read_text()))["name"])
        except (json.JSONDecodeError, KeyError, TypeError, ResultError):
            pass        # not a result this version reads: its file name alone counts, as before
    return names


@dataclass
class Variant:
    """One thing trained (task, mode, master settings, flags) and its results, one per seed."""

    task: str
    mode: str
    cost_lambda: float | None
    n_omega: int | None
    train_args: tuple[str, ...]
    results: list[dict]

    @property
    def label(self) -> str:
        name = {"asym": "ours", "large": "L-only", "small": "S-only", "bc": "BC", "gail": "GAIL"}[self.mode]
        extra = []
        if self.cost_lambda is not None:
            extra.append(f"lambda {self.cost_lambda:g}")
        if self.n_omega is not None:
            extra.append(f"n_omega {self.n_omega}")
        if self.train_args:
            extra.append(" ".join(self.train_args))
        return name + (f" ({', '.join(extra)})" if extra else "")

    @property
    def seeds(self) -> list[int]:
        return [r["trial"]["seed"] for r in self.results]


def variants(results: list[dict]) -> list[Variant]:
    """Group results by task, mode, lambda, n_omega and flags; seeds sorted; steps must agree."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        t = r["trial"]
        key = (t["task"], t["mode"], t["cost_lambda"], t["n_omega"], tuple(t["train_args"]), t["steps"])
        groups.setdefault(key, []).append(r)
    out = [Variant(k[0], k[1], k[2], k[3], k[4], sorted(v, key=lambda r: r["trial"]["seed"]))
           for k, v in groups.items()]
    order = {"small": 0, "large": 1, "asym": 2, "bc": 3, "gail": 4, "a2d-actor": 5, "a2d": 6}
    return sorted(out, key=lambda v: (v.task, order[v.mode], v.cost_lambda or 0, v.n_omega or 0, v.train_args))
