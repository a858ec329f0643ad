"""Many seeds in one run: each seed equals its single-seed run, bit for bit; bad seeds are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from asym_control.training.seeds import seed_argv

TINY = ["--task", "walker-stand", "--steps", "240", "--episode-steps", "40", "--learning-starts", "40",
        "--eval-every", "100", "--eval-episodes", "1", "--checkpoint-every", "100"]


def _weights(path):
    from safetensors.numpy import load_file
    return load_file(str(path))


def _train(*args):
    return subprocess.run([sys.executable, "-m", "asym_control.cli", "train", *args], capture_output=True,
                          text=True, timeout=600)


def test_each_seed_of_a_many_seed_run_is_its_single_seed_run(tmp_path):
    r = _train(*TINY, "--seeds", "0,2", "--out", str(tmp_path / "many"))
    assert r.returncode == 0, r.stdout + r.stderr
    outcome = json.loads(r.stdout.strip().splitlines()[-1])
    assert sorted(outcome["seeds"]) == ["0", "2"] and outcome["failed"] == {}
    for seed in (0, 2):
        one = tmp_path / f"one{seed}"
        r1 = _train(*TINY, "--seed", str(seed), "--out", str(one), "--no-progress")
        assert r1.returncode == 0, r1.stderr
        many = tmp_path / "many" / f"seed{seed}"
        a, b = _weights(many / "policy.safetensors"), _weights(one / "policy.safetensors")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)   # bit for bit
        drop = lambda rows: [{k: v for k, v in json.loads(x).items() if k != "wall_time_s"}  # noqa: E731
                             for x in rows.read_text().splitlines()]
        assert drop(many / "evals.jsonl") == drop(one / "evals.jsonl")
        assert json.loads((many / "config.json").read_text())["seed"] == seed
        inv = json.loads((many / "invocations.jsonl").read_text().splitlines()[0])["command"]
        assert f"--seed {seed} --out {many}" in inv and "--seeds" not in inv


def test_seeds_that_finish_no_episode_are_reported_as_such(tmp_path):
    r = _train("--task", "walker-stand", "--steps", "30", "--learning-starts", "10", "--eval-every", "0",
               "--seeds", "0-1", "--out", str(tmp_path / "short"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert r.stdout.count("no episode finished") == 2
    assert sorted(json.loads(r.stdout.strip().splitlines()[-1])["seeds"]) == ["0", "1"]


def test_bad_seeds_are_refused_before_anything_starts(tmp_path):
    r = _train(*TINY, "--seeds", "2-0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "seeds are integers" in r.stderr and "Traceback" not in r.stderr
    r = _train(*TINY, "--seeds", "0,1", "--lambda", "-1", "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and "lambda must be" in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_the_single_seed_command_of_each_seed():
    argv = ["--task", "walker-stand", "--seeds=0-2", "--seed", "7", "--out", "runs/many", "--steps", "10"]
    assert seed_argv(argv, 1, Path("runs/many/seed1"), single_process=True) == [
        "train", "--task", "walker-stand", "--steps", "10", "--seed", "1", "--out", "runs/many/seed1",
        "--no-progress", "--single-process"]


def test_split_flags_takes_values_in_both_spellings_and_keeps_the_rest_in_order():
    from asym_control.children import split_flags
    found, rest = split_flags(["--task", "x", "--seed=3", "--no-cost", "--out", "d", "--single-process", "--n", "2"],
                              {"--seed": 1, "--out": 1, "--single-process": 0})
    assert found == {"--seed": "3", "--out": "d", "--single-process": None}
    assert rest == ["--task", "x", "--no-cost", "--n", "2"]
