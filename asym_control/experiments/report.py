"""
The report of a results folder: Tables III to VI beside the paper's, curves, sweeps.

Every figure in it is computed from the result files (one per trial: its evaluation, learning
curve and provenance); the paper's numbers come from the task registry (Table III). Markdown for
people, PNG figures beside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from asym_control.experiments.results import Variant, load, variants

# the targets of a master that works (issue 13): mean >= 0.95 x L-only and never below the
# paper's own ratio, no seed below 0.8 x L-only, FLOPs reduction >= the paper's
MEAN_RATIO, WORST_RATIO = 0.95, 0.8


def _score(e: dict) -> float:
    """Return an evaluation's figure of merit: its success rate on tasks the paper scores so, else its return."""
    from asym_control.tasks.registry import TASKS
    spec = TASKS.get(e.get("task"))
    if spec is not None and spec.paper.get("metric") == "success rate" and "success_rate" in e:
        return float(e["success_rate"])
    return float(e["return_mean"])


def _stats(values) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=0)) if len(a) > 1 else 0.0


def _fmt(x: float, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def _link(path: Path, out: Path) -> str:
    """Return the path of a figure as the Markdown file `out` links it: relative, wherever each lies."""
    return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)).as_posix()


def _flag_groups(args: tuple[str, ...]) -> set[str]:
    """Return a trial's flags as 'flag value' strings ('--gamma 0.95', '--no-cost')."""
    groups: list[str] = []
    for a in args:
        if a.startswith("--") or not groups:
            groups.append(a)
        else:
            groups[-1] += " " + a
    return set(groups)


def _l_only_of(v: Variant, variants: list[Variant], steps: int) -> Variant | None:
    """Return the L-only a row is measured against: most of its flags shared, then the largest budget <= steps."""
    mine = _flag_groups(v.train_args)
    pool = [u for u in variants if u.mode == "large" and u.results[0]["steps"] <= steps
            and _flag_groups(u.train_args) <= mine]
    return max(pool, key=lambda u: (len(_flag_groups(u.train_args)), u.results[0]["steps"]), default=None)


def _mean_of(v: Variant | None) -> float | None:
    return _stats([_score(r["eval"]) for r in v.results])[0] if v is not None else None


def _row(v: Variant, l_only_mean: float | None) -> dict:
    ev = [r["eval"] for r in v.results]
    ret = [_score(e) for e in ev]
    m, s = _stats(ret)
    large = 100 * np.mean([e["large_fraction"] for e in ev])
    red = 100 * np.mean([e["flops_reduction"] for e in ev])
    flops = np.mean([e["flops_per_inference"] for e in ev])
    ratio = m / l_only_mean if l_only_mean else None
    worst = min(ret) / l_only_mean if l_only_mean else None
    return dict(label=v.label, mode=v.mode, seeds=len(ret), mean=m, std=s, ratio=ratio, worst=worst,
                large=large, flops=flops, reduction=red, per_seed=ret,
                per_seed_large=[100 * e["large_fraction"] for e in ev],
                per_seed_reduction=[100 * e["flops_reduction"] for e in ev],
                steps=v.results[0]["steps"], episodes=ev[0]["episodes"],
                wall=sum(r["train_wall_time_s"] for r in v.results))


def _width(v: Variant) -> int | None:
    """Return the width of a matched-FLOPs baseline: pi_fit (L-only with --large W), BC or GAIL (--width W)."""
    args = list(v.train_args)
    flag = "--large" if v.mode == "large" else "--width" if v.mode in STUDENTS else None
    if flag in args and args.index(flag) + 1 < len(args) and (v.mode != "large" or len(args) == 2):
        return int(args[args.index(flag) + 1])
    return None


def _is_baseline(v: Variant) -> bool:
    return v.mode in STUDENTS or (v.mode == "large" and _width(v) is not None)


A2D_STUDENTS = {"a2d": "A2D (actor + critic)", "a2d-actor": "A2D (actor only)"}
STUDENTS = {"bc": "BC", "gail": "GAIL", **A2D_STUDENTS}


def _table_iv(task: str, spec, groups: list[Variant]) -> list[str]:
    """Table IV of a task: ours beside pi_fit, GAIL and BC at the width matched to ours' FLOPs."""
    from asym_control.baselines.matched import matched_width
    from asym_control.flops import actor_flops

    base = [v for v in groups if v.task == task and _is_baseline(v)]
    if not base:
        return []
    widths = sorted({_width(v) for v in base})
    ours = []
    for v in groups:
        if v.task == task and v.mode == "asym":
            flops = [r["eval"]["flops_per_inference"] for r in v.results]
            if matched_width(spec.obs_dim, spec.act_dim, float(np.mean(flops))) in widths:
                ours.append(v)
    l_only = [v for v in groups if v.task == task and v.mode == "large" and not v.train_args]
    lines = [f"## {task}: Table IV, at matched FLOPs", "",
             "Ours' average FLOPs per control step (master included) over its seeds decides the width of "
             "the baselines (`asym-control flops --match`): pi_fit is SAC from scratch at that width, BC and "
             "GAIL distil the L-only teacher's 25 x 50 state-action pairs into it, A2D trains SAC at it with "
             "the teacher's KL (and Q) added (`asym-control distill`). "
             "Return: mean +- std over runs (seeds), and the best run, as the paper reports.", "",
             "| | runs | budget | FLOPs / step | return | best run |", "|---|---|---|---|---|---|"]
    best_base, a2d = {}, set()      # the baselines' best means by name; the names of A2D's students
    for v in l_only + ours + base:
        ret = [_score(r["eval"]) for r in v.results]
        flops = [r["eval"]["flops_per_inference"] for r in v.results]
        m, sd = _stats(ret)
        fm, fs = _stats(flops)
        width = _width(v)
        if width is None:                                   # L-only, or ours
            name = v.label
        else:
            name = {"large": "pi_fit", **STUDENTS}[v.mode] + f" (width {width})"
        steps = v.results[0]["steps"]
        budget = f"{steps:,} updates" if v.mode == "bc" else f"{steps:,} steps"
        lines.append(f"| {name} | {len(ret)} | {budget} | {fm:,.0f}" + (f" +- {fs:,.0f}" if fs else "")
                     + f" | {_fmt(m)} +- {_fmt(sd)} | {_fmt(max(ret))} |")
        if _is_baseline(v):
            best_base[name] = max(best_base.get(name, -math.inf), m)
            if v.mode in A2D_STUDENTS:
                a2d.add(name)
    t4 = spec.paper.get("table4")
    if t4:
        w = matched_width(spec.obs_dim, spec.act_dim, t4["student_flops"])
        here = actor_flops(spec.obs_dim, spec.act_dim, w)
        lines.append(f"| paper, Table IV (best of 5 runs; 2M steps, MountainCar 100k) | 5 | | ours "
                     f"{t4['avg_flops']:,}, students {t4['student_flops']:,} (width {w} here: {here:,}) "
                     f"| ours {spec.paper['ours']}, pi_fit {t4['pi_fit']}, GAIL {t4['gail']}, BC {t4['bc']} | |")
    lines.append("")
    for v in ours:
        m = _stats([_score(r["eval"]) for r in v.results])[0]
        paper_base = {k: b for k, b in best_base.items() if k not in a2d}
        behind = [f"{k} ({b:.1f})" for k, b in paper_base.items() if b >= m]
        verdict = "ahead of every baseline's mean" if not behind else "**not ahead** of " + ", ".join(behind)
        if a2d:
            verdict = verdict.replace("every baseline's", "every paper baseline's")
            distilled = [f"{k} ({b:.1f})" for k, b in best_base.items() if k in a2d and b >= m]
            verdict += "; " + (", ".join(distilled) + " ahead of it" if distilled else "ahead of the A2D students")
        lines.append(f"- {v.label}: mean {m:.1f}, {verdict}")
    return lines + [""]


ABLATION_TABLES = (("--no-cost", "V", "table5", "the cost term", "with the cost term", "without it"),
                   ("--separate-buffers", "VI", "table6", "a shared replay buffer", "shared", "separate"))


def _ablation_tables(task: str, spec, groups: list[Variant]) -> list[str]:
    """Tables V and VI of a task: each asym variant beside the same with the ablation's flag."""
    lines = []
    asym = [v for v in groups if v.task == task and v.mode == "asym"]

    def key(v, drop=None):
        args = tuple(sorted(a for a in v.train_args if a != drop))
        return v.cost_lambda, v.n_omega, v.results[0]["steps"], args

    def cell(v):
        ret = [_score(r["eval"]) for r in v.results]
        large = [100 * r["eval"]["large_fraction"] for r in v.results]
        m, sd = _stats(ret)
        lm, ls = _stats(large)
        return f"{_fmt(m)} +- {_fmt(sd)} | {lm:.1f}% +- {ls:.1f}%", len(ret)
    for flag, number, paper_key, what, with_name, without_name in ABLATION_TABLES:
        pairs = [(b, v) for v in asym if flag in v.train_args for b in asym
                 if flag not in b.train_args and key(b) == key(v, drop=flag)]
        if not pairs:
            continue
        lines += [f"## {task}: Table {number}, with and without {what}", "",
                  f"| ours | budget | seeds | {with_name}: return | % on large | {without_name}: return | % on large |",
                  "|---|---|---|---|---|---|---|"]
        for b, v in pairs:
            (cb, nb), (cv, nv) = cell(b), cell(v)
            lines.append(f"| {b.label} | {b.results[0]['steps']:,} steps | {nb} / {nv} | {cb} | {cv} |")
        t = spec.paper.get(paper_key)
        if t:
            lines.append(f"| paper, Table {number} (2M steps) | | | {t['with']} | {t['with_large_pct']}% | "
                         f"{t['without']} | {t['without_large_pct']}% |")
        lines.append("")
    # n_omega: the same variant at several n_omega (a variant without one is at the default)
    from asym_control.training.config import TrainConfig
    default = TrainConfig.__dataclass_fields__["n_omega"].default
    by_rest: dict[tuple, list[Variant]] = {}
    for v in asym:
        by_rest.setdefault((v.cost_lambda, v.train_args, v.results[0]["steps"]), []).append(v)
    for (_, args, steps), vs in by_rest.items():
        if len(vs) < 2 or all(v.n_omega is None for v in vs):
            continue
        label = "ours" + (f" ({' '.join(args)})" if args else "")
        ref = _l_only_of(vs[0], [u for u in groups if u.task == task], steps)
        ref_mean = _mean_of(ref)
        lines += [f"## {task}: n_omega, {label} at {steps:,} steps", "",
                  "| n_omega | seeds | return | vs L-only (mean / worst) | % on large | FLOPs / step | "
                  "FLOPs reduction |", "|---|---|---|---|---|---|---|"]
        for v in sorted(vs, key=lambda v: v.n_omega or default):
            r = _row(v, ref_mean)
            vs_l = f"{r['ratio']:.2f} / {r['worst']:.2f}" if r["ratio"] is not None else "-"
            lines.append(f"| {v.n_omega or default} | {r['seeds']} | {_fmt(r['mean'])} +- {_fmt(r['std'])} | "
                         f"{vs_l} | {_fmt(r['large'])}% | {_fmt(r['flops'], 0)} | {_fmt(r['reduction'])}% |")
        if ref is not None:
            lines.append(f"\nvs L-only: against {ref.label} at {ref.results[0]['steps']:,} steps ({len(ref.results)} "
                         f"seeds, mean {ref_mean:.1f}). FLOPs / step: the master's cost is amortised over "
                         f"n_omega control steps, so at n_omega 1 it is paid at every step.")
        lines.append("")
    return lines


def _curves_png(task: str, vs: list[Variant], out: Path) -> Path:
    from asym_control.evaluation.plots import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for v in vs:
        curves = [r["curve"] for r in v.results if r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        steps = np.array([c[i]["step"] for i in range(n) for c in curves[:1]])
        y = np.array([[c[i]["return_mean"] for i in range(n)] for c in curves])
        ax.plot(steps, y.mean(0), label=f"{v.label} ({len(curves)} seeds)")
        if len(curves) > 1:
            ax.fill_between(steps, y.min(0), y.max(0), alpha=0.15)
    ax.set_xlabel("control steps")
    ax.set_ylabel("return (training evaluations)")
    ax.set_title(f"{task}: learning curves, mean and range over seeds", fontsize=10)
    ax.legend(fontsize=6, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def report(results_dir: Path, out: Path, figures: Path | None = None) -> str:
    """Write the Markdown report of `results_dir` to `out` (figures beside it); return its text."""
    from asym_control.flops import cost_table
    from asym_control.tasks.registry import get_task

    results = load(results_dir)
    out = Path(out)
    command = f"asym-control report {results_dir} --out {out}" + (f" --figures {figures}" if figures else "")
    figures = Path(figures) if figures is not None else out.parent / (out.stem + "-figures")
    groups = variants(results)
    tasks = sorted({v.task for v in groups}, key=lambda t: list(_task_order()).index(t)
                   if t in _task_order() else 99)
    machines = sorted({r["machine"] for r in results})
    wall = sum(r["train_wall_time_s"] for r in results)
    lines = ["# Results", "",
             f"Generated by `{command}` from {len(results)} result files "
             f"(one per trial: `asym-control train` + `asym-control eval`; their commands and commits are in "
             f"each file). Machines: {'; '.join(machines)}. Training time over all trials: {wall / 3600:.1f} h "
             f"(one CPU each).", "",
             "Return: mean +- std over seeds of each seed's evaluation (its episodes, seed 0 of the evaluator). "
             "vs L-only: the mean over the L-only seeds of the same budget; worst: the lowest seed. FLOPs: per "
             "control step, the master amortised over n_omega (the paper's convention, `asym-control flops`).",
             ""]
    for task in tasks:
        spec = get_task(task)
        tv = [v for v in groups if v.task == task and not _is_baseline(v)]
        budgets = sorted({v.results[0]["steps"] for v in tv})
        for steps in budgets:
            vs = [v for v in tv if v.results[0]["steps"] == steps]
            # each row's L-only: of this budget, else of the largest smaller one (a baseline that has
            # stopped improving, said so under the table), trained with as many of the row's own
            # flags as there is one for (the sub-policies' settings: --gamma, --random-actions ...)
            p = spec.paper
            success = p.get("metric") == "success rate"
            refs = {}                           # id(row's variant): (its L-only, that L-only's mean)
            for v in vs:
                ref = _l_only_of(v, tv, steps)
                mean = _mean_of(ref)
                if success and mean is not None and mean < 0.1:
                    ref, mean = None, None      # a success rate near 0 is no scale: no ratio, no targets
                refs[id(v)] = (ref, mean)
            rows = [_row(v, refs[id(v)][1]) for v in vs]
            l_only = list({id(ref): (ref, mean) for ref, mean in refs.values() if ref is not None}.values())
            table = cost_table(spec.obs_dim, spec.act_dim, spec.small_units, spec.large_units)
            metric = " (score: success rate, the block within 5 cm of the goal at the episode's end)" \
                if success else ""
            lines += [f"## {task}, {steps:,} control steps{metric}", "",
                      "| | seeds | return | vs L-only (mean / worst) | % on large | FLOPs / step | FLOPs reduction "
                      "| per seed: return (% on large) |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in rows:
                dg = 3 if metric else 1      # success rates in [0, 1]
                per = ", ".join(f"{x:.{dg}f}" + (f" ({lg:.0f}%)" if r["mode"] == "asym" else "")
                                for x, lg in zip(r["per_seed"], r["per_seed_large"]))
                vs_l = f"{r['ratio']:.2f} / {r['worst']:.2f}" if r["ratio"] is not None else "-"
                score = f"{_fmt(r['mean'], dg)} +- {_fmt(r['std'], dg)}"
                lines.append(f"| {r['label']} | {r['seeds']} | {score} | {vs_l} | "
                             f"{_fmt(r['large'])}% | {_fmt(r['flops'], 0)} | {_fmt(r['reduction'])}% | {per} |")
            in_paper = "ours" in p        # a task of the paper's Table III (not arm-reach, FetchReach)
            if in_paper:
                paper_flops = table.per_step(p["large_pct"] / 100)
                lines.append(f"| paper, Table III (2.5M steps, 5 seeds) | 5 | {p['ours']} (L-only {p['l_only']}, "
                             f"S-only {p['s_only']}) | {p['ours'] / p['l_only']:.2f} | {p['large_pct']}% | "
                             f"{paper_flops:,.0f} | {p['flops_reduction_pct']}% | |")
            for ref, mean in l_only:
                if ref.results[0]["steps"] != steps:
                    lines.append(f"vs L-only: against {ref.label} at {ref.results[0]['steps']:,} steps "
                                 f"({mean:.1f}), there is none at {steps:,}.")
            if spec.note:
                lines.append(f"Note: {spec.note}.")
            lines.append("")
            if in_paper and any(r["mode"] == "asym" for r in rows):
                for v, r in zip(vs, rows):
                    if r["mode"] != "asym":
                        continue
                    l_mean = refs[id(v)][1]
                    need = max(MEAN_RATIO, p["ours"] / p["l_only"]) if p["l_only"] else MEAN_RATIO
                    if p["l_only"] and p["l_only"] < 0:
                        need = MEAN_RATIO
                    checks = [("FLOPs", r["reduction"] >= p["flops_reduction_pct"],
                               f"{r['reduction']:.1f}% fewer, target >= {p['flops_reduction_pct']}%")]
                    if l_mean is not None and l_mean > 0:   # else no L-only to scale by, or no scale
                        checks[:0] = [("mean", r["ratio"] >= need, f"{r['ratio']:.3f} x L-only, target >= {need:.3f}"),
                                      ("worst seed", r["worst"] >= WORST_RATIO,
                                       f"{r['worst']:.3f}, target >= {WORST_RATIO}")]
                    if success:                  # a success rate is a scale of its own: the paper's, as is
                        checks[:0] = [("success", r["mean"] >= p["ours"],
                                       f"{r['mean']:.3f}, target >= the paper's {p['ours']}")]
                    lines.append(f"- {r['label']}: " + "; ".join(
                        f"{name} {'met' if ok else '**missed**'} ({text})" for name, ok, text in checks))
                lines.append("")
            fig = _curves_png(f"{task} ({steps:,} steps)", vs, figures / f"{task}-{steps}-curves.png")
            lines += [f"![{task} learning curves]({_link(fig, out)})", ""]
            walls = ", ".join(f"{r['label']} {r['wall'] / 60:.0f} min" for r in rows)
            lines.append(f"Training wall time (all seeds, one CPU each): {walls}.")
            lines.append("")
        lines += _table_iv(task, spec, groups)
        lines += _ablation_tables(task, spec, groups)
        # Fig. 2: return and % on large against lambda, where a grid varied lambda alone
        by_rest: dict[tuple, list[Variant]] = {}
        for v in tv:
            if v.mode == "asym" and v.cost_lambda is not None:
                by_rest.setdefault((v.n_omega, v.train_args, v.results[0]["steps"]), []).append(v)
        for (n_omega, args, steps), vs in by_rest.items():
            if len(vs) < 2:
                continue
            from asym_control.evaluation.plots import sweep as sweep_plot
            points = []
            for v in vs:
                m, sd = _stats([_score(r["eval"]) for r in v.results])
                points.append(dict(cost_lambda=v.cost_lambda, return_mean=m, return_std=sd,
                                   large_fraction=float(np.mean([r["eval"]["large_fraction"] for r in v.results]))))
            png = sweep_plot(points, f"{task}: return and share on large vs lambda ({steps:,} steps)",
                             figures / f"{task}-{steps}-lambda")[0]
            lines += [f"![{task} lambda sweep]({_link(png, out)})", ""]
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def _task_order():
    from asym_control.tasks.registry import TASKS
    return tuple(TASKS)
