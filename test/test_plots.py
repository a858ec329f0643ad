"""The paper's figures: written as PNG and SVG, readable, from real evaluations; bad input refused."""

import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from asym_control.evaluation import plots

CLI = [sys.executable, "-m", "asym_control.cli"]


def test_sweep_with_lambda_zero_on_the_axis(tmp_path):
    points = [dict(cost_lambda=lam, return_mean=r, return_std=10.0, large_fraction=f)
              for lam, r, f in ((0.0, 800.0, 0.9), (1e-3, 900.0, 0.3), (1e-2, 950.0, 0.05), (1e-1, 400.0, 0.0))]
    written = plots.sweep(points, "sweep", tmp_path / "sweep")
    assert sorted(p.suffix for p in written) == [".png", ".svg"]
    img = matplotlib.image.imread(written[0] if written[0].suffix == ".png" else written[1])
    assert img.shape[0] > 300 and img.shape[1] > 500 and img.std() > 0.05   # a drawing, not a blank page


def test_timeline_of_both_sub_policies(tmp_path):
    options = np.array([1] * 20 + [0] * 80)
    actions = np.random.default_rng(0).uniform(-1, 1, (100, 6))
    written = plots.timeline(options, actions, 0.025, "timeline", tmp_path / "t",
                             unselected=actions[::-1], actuator_names=[f"j{i}" for i in range(6)])
    assert all(p.stat().st_size > 10_000 for p in written)


def test_sweep_refuses_runs_of_different_tasks(tmp_path):
    runs = []
    for task in ("walker-stand", "MountainCarContinuous-v0"):
        out = tmp_path / task
        r = subprocess.run(CLI + ["train", "--task", task, "--mode", "asym", "--steps", "60", "--out", str(out),
                                  "--learning-starts", "20", "--episode-steps", "20", "--eval-every", "0",
                                  "--no-progress"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(str(out))
    r = subprocess.run(CLI + ["plot", "sweep", *runs, "--episodes", "1", "--out", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "one task" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["timeline", "scatter"])
def test_figures_need_a_checkpoint(kind, tmp_path):
    r = subprocess.run(CLI + ["plot", kind, str(tmp_path / "none"), "--out", str(tmp_path / "f")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
