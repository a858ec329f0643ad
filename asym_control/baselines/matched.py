"""
Matched FLOPs (paper Table IV): the width of a plain actor that costs what our agent costs.

The asymmetric agent's average FLOPs per control step (the selected sub-policy plus the master
amortised over n_omega, as `asym-control eval` reports it) is computed from its evaluations over
seeds, never typed in; the baselines then get the two-hidden-layer actor whose FLOPs per inference
are nearest to it (flops.actor_flops, the same convention).
"""

from __future__ import annotations

import math

import numpy as np

from asym_control.flops import actor_flops


class MatchError(ValueError):
    """No width can be matched (no results of the agent, or a FLOPs figure below any actor's)."""


def matched_width(obs_dim: int, act_dim: int, flops: float, layers: int = 2) -> int:
    """
    Return the width >= 1 whose actor FLOPs are nearest to `flops` (the smaller one on a tie).

    actor_flops is 2 (obs w + (layers - 1) w^2 + 2 act w) + 3, increasing in w: the real root of
    that quadratic, then the better of its two integer neighbours.
    """
    if not (math.isfinite(flops) and flops > 0):
        raise MatchError(f"FLOPs to match must be a positive number, got {flops}")
    a, b, c = 2.0 * (layers - 1), 2.0 * (obs_dim + 2 * act_dim), 3.0 - float(flops)
    root = -c / b if a == 0 else (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    return min(sorted(candidates), key=lambda w: abs(actor_flops(obs_dim, act_dim, w, layers) - flops))


def average_flops(evaluations: list[dict]) -> tuple[float, list[float]]:
    """
    Return the mean over seeds of the agent's FLOPs per control step, and each seed's.

    `evaluations`: `asym-control eval --json` objects of the asymmetric agent, one per seed.
    """
    per_seed = [float(e["flops_per_inference"]) for e in evaluations if e.get("mode") == "asym"]
    if not per_seed:
        raise MatchError("no evaluation of the asymmetric agent (mode asym) to match")
    return float(np.mean(per_seed)), per_seed


def matched_to_results(results_dir, task: str, train_args: str | None = None,
                       steps: int | None = None) -> tuple[float, list[float], str]:
    """
    Return the asymmetric agent's average FLOPs over its results for `task`, each seed's, and which.

    `results_dir` is a results folder (`asym-control sweep`); when it holds several variants of
    the agent for the task, `train_args` (its extra flags, as given to the sweep) and `steps`
    choose one.
    """
    import shlex

    from asym_control.experiments.results import ResultError, load, variants

    try:
        found = [v for v in variants(load(results_dir)) if v.task == task and v.mode == "asym"]
    except ResultError as e:
        raise MatchError(str(e)) from None
    if train_args is not None:
        # n_omega and lambda are a trial's own fields, not among its flags: --n-omega / --lambda in
        # the given flags choose them, and without them the agent at the defaults is meant
        from asym_control.children import split_flags
        from asym_control.experiments.grid import with_schedule
        fields, rest = split_flags(shlex.split(train_args), {"--n-omega": 1, "--lambda": 1})
        try:
            n_omega = int(fields["--n-omega"]) if "--n-omega" in fields else None
            lam = float(fields["--lambda"]) if "--lambda" in fields else None
        except (TypeError, ValueError):
            raise MatchError(f"--match-args: not a number in {train_args!r}") from None
        # as a sweep names them: the schedule train's default when the flags name none
        flags = list(with_schedule(rest))
        found = [v for v in found if list(v.train_args) == flags and v.n_omega == n_omega and v.cost_lambda == lam]
    if steps is not None:
        found = [v for v in found if v.results[0]["trial"]["steps"] == steps]

    def name(v):
        return f"{v.label} at {v.results[0]['trial']['steps']} steps"
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise MatchError(f"{results_dir}: {what} results of the asymmetric agent on {task} match"
                         + ("" if not found else ": " + "; ".join(name(v) for v in found)
                            + " (choose one with --match-args and --match-steps)"))
    mean, per_seed = average_flops([r["eval"] for r in found[0].results])
    return mean, per_seed, name(found[0])
