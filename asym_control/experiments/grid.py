"""
A grid of trials: tasks x modes x seeds x lambda x n_omega, each one `asym-control train` command.

lambda and n_omega belong to the master, so they multiply the asym trials only; L-only and
S-only trials appear once per (task, seed). Extra training flags (a cost curriculum, say) apply
to the asym trials too; an asym trial names its schedule (`--schedule`, train's default when
none is given). A trial's name says all of it and is the name of its result file, so a
grid run again skips the trials whose results are in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from asym_control.children import split_flags

MODES = ("asym", "large", "small")


class GridError(ValueError):
    """A grid that cannot be run (unknown task or mode, empty axis): the user's mistake."""


@dataclass(frozen=True)
class Trial:
    task: str
    mode: str
    seed: int
    steps: int
    cost_lambda: float | None = None
    n_omega: int | None = None
    train_args: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """Return the trial's name: task, mode, seed, budget, and the master's settings if any."""
        budget = f"{self.steps // 1000}k" if self.steps % 1000 == 0 else str(self.steps)
        parts = [self.task, self.mode, f"s{self.seed}", budget]
        if self.cost_lambda is not None:
            parts.append(f"lambda{self.cost_lambda:g}")
        if self.n_omega is not None:
            parts.append(f"nomega{self.n_omega}")
        if self.train_args:
            parts.append(hashlib.sha1(" ".join(self.train_args).encode()).hexdigest()[:8])
        return "-".join(parts)

    def train_argv(self, out: Path) -> list[str]:
        """Return the arguments of `asym-control train` for this trial, writing into `out`."""
        argv = ["--task", self.task, "--mode", self.mode, "--seed", str(self.seed),
                "--steps", str(self.steps), "--out", str(out), "--single-process", "--no-progress"]
        if self.cost_lambda is not None:
            argv += ["--lambda", repr(self.cost_lambda)]
        if self.n_omega is not None:
            argv += ["--n-omega", str(self.n_omega)]
        return argv + list(self.train_args)

    def as_dict(self) -> dict:
        return {"task": self.task, "mode": self.mode, "seed": self.seed, "steps": self.steps,
                "cost_lambda": self.cost_lambda, "n_omega": self.n_omega, "train_args": list(self.train_args)}


def with_schedule(args, default: str | None = None) -> tuple[str, ...]:
    """
    Return an asym trial's flags with its schedule named first: `--schedule S`, else `default`.

    `default` None is train's default. The schedule is then part of every asym trial's name, so a
    grid resumed after the default changes never takes a result of the old default for one of
    the new; and it comes first wherever it was given (`--train-args` or `--asym-args`, by hand),
    so one trial has one name.
    """
    from asym_control.training.config import DEFAULT_SCHEDULE

    found, rest = split_flags(list(args), {"--schedule": 1})
    return ("--schedule", found.get("--schedule") or default or DEFAULT_SCHEDULE, *rest)


# the paper's ablations (Tables V and VI), each one more variant of every asym trial
ABLATIONS = {"no-cost": ("--no-cost",), "separate-buffers": ("--separate-buffers",)}


def expand(tasks, modes, seeds, steps: int, lambdas=(None,), n_omegas=(None,),
           train_args=(), common_args=(), ablations=()) -> list[Trial]:
    """
    Return the trials of a grid, in a stable order (task, then mode, then seed, then the master's).

    `train_args` are extra flags of the asym trials; `common_args` of every trial; `ablations`
    (names of ABLATIONS) add, for every asym trial, one more with the ablation's flag.
    """
    from asym_control.tasks.registry import TASKS

    tasks, modes, seeds = list(tasks), list(modes), list(seeds)
    lambdas, n_omegas = list(lambdas) or [None], list(n_omegas) or [None]
    for name, axis in (("tasks", tasks), ("modes", modes), ("seeds", seeds)):
        if not axis:
            raise GridError(f"the grid has no {name}")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise GridError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise GridError(f"unknown mode(s) {', '.join(bad)}; modes are {', '.join(MODES)}")
    if steps <= 0:
        raise GridError(f"steps must be positive, got {steps}")
    unknown = [x for x in ablations if x not in ABLATIONS]
    if unknown:
        raise GridError(f"unknown ablation(s) {', '.join(unknown)}; ablations are {', '.join(ABLATIONS)}")
    variants = [()] + [ABLATIONS[x] for x in ablations]
    trials: list[Trial] = []
    for task in tasks:
        for mode in modes:
            for seed in seeds:
                if mode != "asym":
                    trials.append(Trial(task, mode, int(seed), steps, train_args=tuple(common_args)))
                    continue
                for extra in variants:
                    for lam in lambdas:
                        for n in n_omegas:
                            trials.append(Trial(task, mode, int(seed), steps, lam, n, with_schedule(
                                tuple(common_args) + tuple(train_args) + extra)))
    names = [t.name for t in trials]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise GridError(f"the grid lists a trial twice: {', '.join(dup)}")
    return trials


def parse_seeds(text: str) -> list[int]:
    """Parse seeds as `0,1,2`, `0-4` or a mix (`0-2,7`)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo or lo < 0:
                    raise ValueError
                seeds += list(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise GridError(f"seeds are integers >= 0 as 0,1,2 or 0-4, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise GridError(f"seeds must be >= 0, got {text!r}")
    return seeds
