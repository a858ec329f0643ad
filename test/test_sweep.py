"""
The experiment runner: grids, and a sweep on a two-node Ray cluster on loopback, interrupted and resumed.

The cluster is ray.cluster_utils.Cluster: two raylets of one CPU each on 127.0.0.1
(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on loopback), so two trials run at a time, one on
each node. Each trial is a real `asym-control train` and `asym-control eval` of a few hundred
steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from asym_control.experiments.grid import GridError, expand, parse_seeds
from waiting import wait_until   # noqa: I100 - the tests' own helper

TINY = "--episode-steps 40 --learning-starts 40 --eval-every 0 --checkpoint-every 100"


def test_the_grid_multiplies_the_masters_settings_for_asym_trials_only():
    trials = expand(["walker-stand"], ["asym", "large"], [0, 1], 1000, lambdas=[1e-2, 1e-3], n_omegas=[5])
    names = [t.name for t in trials]
    # the asym trials name train's default schedule (54cc08a8: "--schedule curriculum")
    assert names == ["walker-stand-asym-s0-1k-lambda0.01-nomega5-54cc08a8",
                     "walker-stand-asym-s0-1k-lambda0.001-nomega5-54cc08a8",
                     "walker-stand-asym-s1-1k-lambda0.01-nomega5-54cc08a8",
                     "walker-stand-asym-s1-1k-lambda0.001-nomega5-54cc08a8",
                     "walker-stand-large-s0-1k", "walker-stand-large-s1-1k"]
    assert trials[0].train_args == ("--schedule", "curriculum")
    argv = trials[1].train_argv(Path("out"))
    assert argv[argv.index("--lambda") + 1] == "0.001" and argv[argv.index("--n-omega") + 1] == "5"
    # extra flags change the name (a hash of them), so results of other settings are not taken for these
    a = expand(["walker-stand"], ["asym"], [0], 1000, train_args=["--cost-free", "10"])[0]
    b = expand(["walker-stand"], ["asym"], [0], 1000, train_args=["--cost-free", "20"])[0]
    assert a.name != b.name and a.name.startswith("walker-stand-asym-s0-1k-")
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]


def test_an_asym_trial_names_its_schedule_and_the_default_is_trains():
    from asym_control.cli import build_parser
    from asym_control.training.config import DEFAULT_SCHEDULE

    default = build_parser().parse_args(["train", "--task", "walker-stand", "--steps", "1", "--out", "x"]).schedule
    assert default == DEFAULT_SCHEDULE == "curriculum"
    named = expand(["walker-stand"], ["asym"], [0], 1000, train_args=["--schedule", "curriculum"])[0]
    unnamed = expand(["walker-stand"], ["asym"], [0], 1000)[0]
    assert named == unnamed                     # the same trial, so a grid resumes it either way
    # named first wherever it was given, so one trial has one name
    paper = expand(["walker-stand"], ["asym"], [0], 1000, train_args=["--fit-gate", "--schedule", "paper"])[0]
    assert paper.train_args == ("--schedule", "paper", "--fit-gate") and paper.name != unnamed.name
    assert expand(["walker-stand"], ["asym"], [0], 1000, train_args=["--fit-gate", "--schedule=paper"])[0] == paper
    flagged = expand(["walker-stand"], ["asym"], [0], 1000, common_args=["--gamma", "0.95"])[0]
    assert flagged.train_args == ("--schedule", "curriculum", "--gamma", "0.95")
    assert expand(["walker-stand"], ["asym"], [0], 1000, common_args=["--gamma", "0.95"],
                  train_args=["--schedule", "curriculum"])[0] == flagged


def test_ablations_add_a_variant_of_every_asym_trial():
    trials = expand(["walker-stand"], ["asym", "large"], [0], 1000, n_omegas=[5, 10],
                    train_args=["--schedule", "curriculum"], ablations=["no-cost", "separate-buffers"])
    asym = [t.train_args for t in trials if t.mode == "asym"]
    base = ("--schedule", "curriculum")
    assert asym == [base, base, base + ("--no-cost",), base + ("--no-cost",),
                    base + ("--separate-buffers",), base + ("--separate-buffers",)]
    assert [t.n_omega for t in trials if t.mode == "asym"] == [5, 10] * 3
    assert [t.train_args for t in trials if t.mode == "large"] == [()]


@pytest.mark.parametrize("kw, message", [
    (dict(tasks=["walker"]), "unknown task"), (dict(modes=["medium"]), "unknown mode"),
    (dict(seeds=[]), "no seeds"), (dict(steps=0), "steps must be positive"),
    (dict(ablations=["no-master"]), "unknown ablation"),
])
def test_a_bad_grid_is_refused_with_the_reason(kw, message):
    args = dict(tasks=["walker-stand"], modes=["asym"], seeds=[0], steps=100)
    args.update(kw)
    with pytest.raises(GridError, match=message):
        expand(**args)
    with pytest.raises(GridError, match="seeds are integers"):
        parse_seeds("0-x")


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "asym_control.cli", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_the_sweep_cli_refuses_bad_input_in_one_line(tmp_path):
    for args, message in [(["--tasks", "walker"], "unknown task"),
                          (["--tasks", "walker-stand", "--lambdas", "a,b"], "--lambdas: expected"),
                          (["--tasks", "walker-stand", "--asym-args=--no-such-flag"], "not valid"),
                          (["--tasks", "walker-stand", "--seeds", "3-1"], "seeds are integers")]:
        r = _cli("sweep", "--steps", "100", "--results", str(tmp_path / "r"), *args)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "r").exists()


def test_a_sweep_on_two_nodes_interrupted_and_resumed(cluster, tmp_path):
    results, work = tmp_path / "results", tmp_path / "work"
    grid = ["sweep", "--tasks", "walker-stand", "--modes", "asym,large", "--seeds", "0,1", "--steps", "200",
            f"--train-args={TINY}", "--eval-episodes", "1", "--results", str(results), "--work-dir", str(work),
            "--address", cluster.address]
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    driver = subprocess.Popen([sys.executable, "-m", "asym_control.cli", *grid], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_until(lambda: len(list(results.glob("*.json"))) >= 1 or driver.poll() is not None,
                   "the first result", 300, poll_s=0.2)
        driver.send_signal(signal.SIGINT)       # Ctrl-C in the middle of the grid
        out = driver.communicate(timeout=600)[0]   # a loaded machine: the running trials wind down
    finally:
        if driver.poll() is None:
            driver.kill()
    first = {p.name: p.read_text() for p in results.glob("*.json")}
    print(f"interrupted with {len(first)} of 4 results:\n{out}")
    assert first, out
    assert len(first) < 4 or driver.returncode == 0, out
    # the same command again: only the trials without a result run
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", *grid], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    print(r.stdout)
    assert f"{len(first)} already done, running {4 - len(first)}" in r.stdout or len(first) == 4, r.stdout
    files = sorted(results.glob("*.json"))
    assert sorted(p.stem.split("-200-")[0] for p in files) == [
        "walker-stand-asym-s0", "walker-stand-asym-s1", "walker-stand-large-s0", "walker-stand-large-s1"]
    for name, text in first.items():            # finished results were not redone
        assert (results / name).read_text() == text
    got = [json.loads(p.read_text()) for p in files]
    for g in got:
        assert g["steps"] == 200 and g["eval"]["episodes"] == 1 and len(g["per_episode_return"]) == 1
        assert g["train_commands"][0]["command"].startswith("asym-control train --task walker-stand")
        assert g["eval_command"].startswith("asym-control eval ")
    # both nodes ran trials (one CPU each, so two trials at a time are on different nodes)
    ran_on = {g["node"]["id"] for g in got}
    assert ran_on == {n.node_id for n in cluster.list_all_nodes()}, ran_on
