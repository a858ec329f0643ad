"""The report of a results folder: its tables' arithmetic, the targets, figures, and bad folders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from asym_control.experiments.grid import Trial, expand
from asym_control.experiments.report import report
from asym_control.experiments.results import RESULT_VERSION, ResultError, finished_names, load, trial_of_run, upgrade


def result(trial: Trial, ret: float, large: float, reduction: float, flops: float = 1000.0) -> dict:
    curve = [{"step": s, "return_mean": ret * s / 300} for s in (100, 200, 300)]
    return {"version": RESULT_VERSION, "name": trial.name, "trial": trial.as_dict(), "steps": trial.steps,
            "train_wall_time_s": 60.0, "machine": "2 cores, x86_64, Python 3.11", "curve": curve,
            "eval": {"return_mean": ret, "return_std": 1.0, "large_fraction": large, "flops_reduction": reduction,
                     "flops_per_inference": flops, "episodes": 50}}


def write(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    for r in results:
        (folder / f"{r['name']}.json").write_text(json.dumps(r))


def test_table_iii_means_ratios_and_targets(tmp_path):
    t = lambda mode, seed, **kw: Trial("walker-stand", mode, seed, 300, **kw)  # noqa: E731
    rs = [result(t("large", s), r, 1.0, 0.0, 12803) for s, r in enumerate((960.0, 970.0, 980.0))]
    rs += [result(t("asym", s), r, lg, red) for s, (r, lg, red) in
           enumerate(((960.0, 0.05, 0.84), (950.0, 0.04, 0.85), (940.0, 0.06, 0.83)))]
    rs += [result(t("asym", 0, train_args=("--cost-free", "10")), 700.0, 0.5, 0.4)]
    rs += [result(t("asym", 0, cost_lambda=lam), 900.0, 0.1, 0.8) for lam in (1e-3, 1e-2)]
    rs += [result(Trial("walker-stand", "asym", 0, 600), 873.0, 0.05, 0.84)]   # no L-only at 600 steps
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "out" / "results.md")
    assert "| L-only | 3 | 970.0 +- 8.2 | 1.00 / 0.99 | 100.0% | 12,803 | 0.0% | 960.0, 970.0, 980.0 |" in text
    # ours: mean 950 = 0.98 x L-only (the paper's walker-stand ratio is 0.99: missed), worst 940 / 970
    assert "| ours | 3 | 950.0 +- 8.2 | 0.98 / 0.97 | 5.0% | 1,000 | 84.0% |" in text
    assert "- ours: mean **missed** (0.979 x L-only, target >= 0.989); worst seed met (0.969, target >= 0.8); " \
           "FLOPs met (84.0% fewer, target >= 82.3%)" in text
    assert "| ours (--cost-free 10) | 1 | 700.0 +- 0.0 | 0.72 / 0.72 |" in text
    assert "| paper, Table III (2.5M steps, 5 seeds) | 5 | 967.2 (L-only 977.7, S-only 330.0) | 0.99 | 5.7% |" in text
    # a budget without its own L-only is compared with the largest smaller one, and says so
    assert "| ours | 1 | 873.0 +- 0.0 | 0.90 / 0.90 |" in text
    assert "against L-only at 300 steps (970.0), there is none at 600." in text
    figures = tmp_path / "out" / "results-figures"
    assert (figures / "walker-stand-300-curves.png").stat().st_size > 1000
    assert (figures / "walker-stand-300-lambda.png").stat().st_size > 1000     # two lambdas: Fig. 2
    assert "results-figures/walker-stand-300-lambda.png" in text


def test_table_iv_sets_ours_beside_the_baselines_at_its_matched_width(tmp_path):
    from asym_control.flops import actor_flops
    t = lambda mode, seed, steps=300, **kw: Trial("walker-stand", mode, seed, steps, **kw)  # noqa: E731
    w22 = actor_flops(24, 6, 22)
    rs = [result(t("large", s), 970.0, 1.0, 0.0, 12803) for s in range(2)]
    rs += [result(t("asym", s), r, 0.05, 0.8, f) for s, (r, f) in enumerate(((950.0, 2400.0), (940.0, 2700.0)))]
    rs += [result(t("large", s, train_args=("--large", "22")), r, 1.0, 0.0, w22)
           for s, r in enumerate((800.0, 830.0))]
    rs += [result(t(m, s, steps=st, train_args=("--width", "22")), r, 0.0, 0.0, w22)
           for m, st, rets in (("bc", 10000, (150.0, 170.0)), ("gail", 300, (500.0, 960.0)),
                               ("a2d", 300, (930.0, 940.0)), ("a2d-actor", 300, (900.0, 910.0)))
           for s, r in enumerate(rets)]
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "out" / "results.md")
    assert "## walker-stand: Table IV, at matched FLOPs" in text
    assert "| ours | 2 | 300 steps | 2,550 +- 150 | 945.0 +- 5.0 | 950.0 |" in text
    assert f"| pi_fit (width 22) | 2 | 300 steps | {w22:,} | 815.0 +- 15.0 | 830.0 |" in text
    assert f"| BC (width 22) | 2 | 10,000 updates | {w22:,} | 160.0 +- 10.0 | 170.0 |" in text
    assert f"| A2D (actor + critic) (width 22) | 2 | 300 steps | {w22:,} | 935.0 +- 5.0 | 940.0 |" in text
    assert f"| A2D (actor only) (width 22) | 2 | 300 steps | {w22:,} | 905.0 +- 5.0 | 910.0 |" in text
    # judged on the means: GAIL's best run is above ours, its mean is not
    assert "- ours: mean 945.0, ahead of every paper baseline's mean; ahead of the A2D students" in text
    assert "ours 2,266, students 2,397 (width 21 here: 2,397) | ours 967.2, pi_fit 819.5, GAIL 596.6, BC 159.1" in text
    # the baselines stay out of Table III's rows (their own FLOPs reduction would read 0%)
    table3 = text.split("## walker-stand: Table IV")[0]
    assert "width 22" not in table3 and "--large 22" not in table3 and "BC" not in table3


def test_tables_v_and_vi_and_the_n_omega_sweep_pair_each_variant_with_its_ablation(tmp_path):
    t = lambda seed, args=(), n=None: Trial("walker-stand", "asym", seed, 300, None, n, args)  # noqa: E731
    cur = ("--schedule", "curriculum")
    rs = [result(t(s, cur), r, lg, 0.8) for s, (r, lg) in enumerate(((950.0, 0.10), (940.0, 0.20)))]
    rs += [result(t(s, cur + ("--no-cost",)), 960.0, 1.0, 0.0) for s in range(2)]
    rs += [result(t(s, ("--separate-buffers",) + cur), r, 0.3, 0.6) for s, r in enumerate((900.0, 920.0))]
    rs += [result(t(0, cur, n), 930.0 + n, 0.1, 0.8) for n in (1, 2, 10)]
    rs += [result(Trial("walker-stand", "large", s, 300), r, 1.0, 0.0) for s, r in enumerate((960.0, 980.0))]
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "results.md")
    assert "## walker-stand: Table V, with and without the cost term" in text
    assert "| ours (--schedule curriculum) | 300 steps | 2 / 2 | 945.0 +- 5.0 | 15.0% +- 5.0% | 960.0 +- 0.0 | " \
           "100.0% +- 0.0% |" in text
    assert "| paper, Table V (2M steps) | | | 943.8 | 19.7% | 961.8 | 100.0% |" in text
    # the flag's place among the others does not matter
    assert "| ours (--schedule curriculum) | 300 steps | 2 / 2 | 945.0 +- 5.0 | 15.0% +- 5.0% | 910.0 +- 10.0 | " \
           "30.0% +- 0.0% |" in text.split("Table VI")[1]
    n_omega = text.split("## walker-stand: n_omega, ours (--schedule curriculum) at 300 steps")[1]
    # the variant without --n-omega is the default's row
    assert [line.split(" | ")[0] for line in n_omega.splitlines()[4:8]] == ["| 1", "| 2", "| 5", "| 10"]
    # each against the L-only of its budget: 931 / 970 = 0.96; the default's worst seed, 940 / 970 = 0.97
    assert n_omega.splitlines()[4].startswith("| 1 | 1 | 931.0 +- 0.0 | 0.96 / 0.96 | 10.0% |")
    assert n_omega.splitlines()[6].startswith("| 5 | 2 | 945.0 +- 5.0 | 0.97 / 0.97 |")
    assert "vs L-only: against L-only at 300 steps (2 seeds, mean 970.0)." in n_omega


def test_bad_results_folders_are_refused_with_the_reason(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultError, match="no result files"):
        load(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{not json")
    with pytest.raises(ResultError, match="x.json is not a result file"):
        load(tmp_path / "bad")
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "report", str(tmp_path / "empty"),
                        "--out", str(tmp_path / "r.md")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no result files" in r.stderr and "Traceback" not in r.stderr


def test_a_run_trained_by_hand_gives_the_trial_a_sweep_would_name_alike(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cmd = ("asym-control train --task finger-spin --mode asym --seed 2 --steps 300000 --out runs/x "
           "--single-process --no-progress --cost-free 100000 --lambda 0.001")
    (run / "invocations.jsonl").write_text(json.dumps({"command": cmd}) + "\n")
    config = {"task": "finger-spin", "mode": "asym", "seed": 2, "steps": 300000, "schedule": "curriculum"}
    (run / "config.json").write_text(json.dumps(config))
    trial = trial_of_run(run)
    # the schedule the run's config records (train's default here) is named, as the grid names it
    swept = expand(["finger-spin"], ["asym"], [2], 300000, lambdas=[0.001], train_args=["--cost-free", "100000"])[0]
    assert trial == Trial("finger-spin", "asym", 2, 300000, 1e-3, None,
                          ("--schedule", "curriculum", "--cost-free", "100000")) == swept
    assert trial.name == swept.name
    # a run made before configs recorded the schedule had the paper's, then the default
    del config["schedule"]
    (run / "config.json").write_text(json.dumps(config))
    assert trial_of_run(run).train_args == ("--schedule", "paper", "--cost-free", "100000")


def test_results_of_version_1_name_the_paper_schedule_they_were_trained_with(tmp_path):
    def old(mode, args=()):
        return dict(result(Trial("walker-stand", mode, 0, 300, None, 5, args), 900.0, 0.1, 0.8), version=1)
    unnamed, named, l_only = old("asym", ("--fit-gate",)), old("asym", ("--schedule", "curriculum")), old("large")
    late = upgrade(old("asym", ("--gamma", "0.95", "--schedule", "curriculum")))     # named first, as a grid does
    assert late["trial"]["train_args"] == ["--schedule", "curriculum", "--gamma", "0.95"]
    assert late["name"] == expand(["walker-stand"], ["asym"], [0], 300, n_omegas=[5], common_args=["--gamma", "0.95"],
                                  train_args=["--schedule", "curriculum"])[0].name
    up = upgrade(unnamed)
    assert up["version"] == RESULT_VERSION and up["trial"]["train_args"] == ["--schedule", "paper", "--fit-gate"]
    assert up["name"] == Trial("walker-stand", "asym", 0, 300, None, 5, ("--schedule", "paper", "--fit-gate")).name
    assert unnamed["trial"]["train_args"] == ["--fit-gate"]          # a copy: the file's contents are left alone
    for r in (named, l_only):                                       # nothing to name: only the version moves
        assert {**upgrade(r), "version": 1} == r
    with pytest.raises(ResultError, match="version 3"):
        upgrade(dict(unnamed, version=3))
    write(tmp_path / "res", [unnamed, named, l_only])
    assert sorted(r["name"] for r in load(tmp_path / "res")) == sorted([up["name"], named["name"], l_only["name"]])
    # a sweep finds the old file under either name, so it neither redoes it nor takes it for the default's
    assert finished_names(tmp_path / "res") == {unnamed["name"], up["name"], named["name"], l_only["name"]}
    text = report(tmp_path / "res", tmp_path / "results.md")
    assert "| ours (n_omega 5, --schedule paper --fit-gate) | 1 |" in text


def test_fetch_is_scored_by_its_success_rate(tmp_path):
    t = lambda mode, seed: Trial("FetchPickAndPlace-v4", mode, seed, 300)  # noqa: E731
    rs = []
    for mode, success, large in (("large", (0.9, 1.0), 1.0), ("asym", (0.8, 0.9), 0.4)):
        for s, x in enumerate(success):
            r = result(t(mode, s), -20.0, large, 0.5)
            r["eval"].update(task="FetchPickAndPlace-v4", success_rate=x)
            rs.append(r)
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "results.md")
    assert "## FetchPickAndPlace-v4, 300 control steps (score: success rate" in text
    assert "| L-only | 2 | 0.950 +- 0.050 |" in text and "| ours | 2 | 0.850 +- 0.050 | 0.89 / 0.84 |" in text
    assert "- ours: success **missed** (0.850, target >= the paper's 0.935); mean **missed** (0.895 x L-only, " \
           "target >= 0.954); worst seed met (0.842, target >= 0.8); FLOPs met (50.0% fewer" in text


def test_a_row_is_measured_against_the_l_only_trained_with_its_own_flags(tmp_path):
    t = lambda mode, seed, args=(): Trial("walker-stand", mode, seed, 300, train_args=args)  # noqa: E731
    zoo = ("--gamma", "0.95", "--random-actions", "0.3")
    rs = [result(t("large", 0), 900.0, 1.0, 0.0, 12803), result(t("large", 0, zoo), 600.0, 1.0, 0.0, 12803)]
    rs += [result(t("asym", 0), 450.0, 0.1, 0.8), result(t("asym", 0, ("--schedule", "curriculum") + zoo), 540.0,
                                                         0.1, 0.8),
           result(t("asym", 0, ("--schedule", "curriculum")), 810.0, 0.1, 0.8)]
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "out" / "results.md")
    assert "| L-only (--gamma 0.95 --random-actions 0.3) | 1 | 600.0 +- 0.0 | 1.00 / 1.00 |" in text
    assert "| ours | 1 | 450.0 +- 0.0 | 0.50 / 0.50 |" in text                        # the plain L-only's
    assert "| ours (--schedule curriculum) | 1 | 810.0 +- 0.0 | 0.90 / 0.90 |" in text
    assert "| ours (--schedule curriculum --gamma 0.95 --random-actions 0.3) | 1 | 540.0 +- 0.0 | 0.90 / 0.90 |" \
        in text                                                                        # its own flags' L-only


def test_a_success_rate_near_zero_gives_no_ratio_and_only_the_flops_target(tmp_path):
    t = lambda mode, steps: Trial("FetchPickAndPlace-v4", mode, 0, steps)  # noqa: E731
    rs = [result(t("large", 100), 0.02, 1.0, 0.0, 42755), result(t("asym", 100), 0.02, 0.9, 0.1, 38000),
          result(t("asym", 200), 0.5, 0.4, 0.5, 20000)]
    write(tmp_path / "res", rs)
    text = report(tmp_path / "res", tmp_path / "out" / "results.md")
    assert "| L-only | 1 | 0.020 +- 0.000 | - | 100.0% |" in text
    assert "| ours | 1 | 0.500 +- 0.000 | - | 40.0% |" in text          # no L-only worth scaling by
    # the success rate is checked against the paper's as it is, with or without an L-only
    assert "- ours: success **missed** (0.500, target >= the paper's 0.935); FLOPs met (50.0% fewer, " \
           "target >= 46.4%)" in text
    assert "- ours: success **missed** (0.020, target >= the paper's 0.935); FLOPs **missed** (10.0% fewer, " \
           "target >= 46.4%)" in text


def test_figures_in_a_folder_beside_the_report_are_linked_relative_to_it(tmp_path):
    t = lambda mode, seed: Trial("walker-stand", mode, seed, 300)  # noqa: E731
    write(tmp_path / "res", [result(t("large", 0), 970.0, 1.0, 0.0, 12803), result(t("asym", 0), 950.0, 0.1, 0.8)])
    text = report(tmp_path / "res", tmp_path / "docs" / "results.md", figures=tmp_path / "figs")
    assert "](../figs/walker-stand-300-curves.png)" in text
    assert (tmp_path / "figs" / "walker-stand-300-curves.png").stat().st_size > 1000
