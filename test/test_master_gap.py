"""scripts/master_gap.py: branches from a saved simulator state repeat exactly; the tool runs on a run folder."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asym_control.tasks.registry import get_task
from asym_control.tasks.simstate import simulator_state
from clirun import tiny_run

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("master_gap", ROOT / "scripts" / "master_gap.py")
master_gap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(master_gap)


@pytest.mark.parametrize("task", ["walker-stand", "finger-spin", "MountainCarContinuous-v0", "FetchPickAndPlace-v4"])
def test_a_restored_state_replays_the_same_branch(task):
    env = get_task(task).make_env(seed=3, episode_steps=200)
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(7):
        env.step(rng.uniform(-1, 1, env.spec.act_dim))
    save, restore = simulator_state(env, task)
    snap = save()
    actions = rng.uniform(-1, 1, (30, env.spec.act_dim))
    branches = []
    for _ in range(2):
        restore(snap)
        branches.append([env.step(a) for a in actions])
        # another branch in between: the restore must undo it
        restore(snap)
        env.step(-actions[0])
    for (o1, r1, *_), (o2, r2, *_) in zip(*branches):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    assert env.t == 8


def test_the_tool_on_a_run_and_its_refusals(tmp_path):
    run = tmp_path / "run"
    r = tiny_run(run, "walker-stand", "asym", 300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "gap.json"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "master_gap.py"), str(run), "--episodes", "1",
                        "--every", "2", "--horizon", "20", "--json", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    rows = json.loads(out.read_text())["rows"]
    assert summary["decisions"] == len(rows) == 5          # 10 decisions in 50 steps, every second one
    assert [r["t"] for r in rows] == [0, 10, 20, 30, 40]
    assert summary["cost_gap_per_macro_step"] > 0 and -1 <= summary["correlation"] <= 1
    assert all(len(r["obs"]) == 24 for r in rows)
    q, mc = np.array([r["q_gap"] for r in rows]), np.array([r["mc_gap"] for r in rows])
    assert summary["abs_error_median"] == pytest.approx(float(np.median(np.abs(q - mc))))
    assert summary["abs_mc_gap_median"] == pytest.approx(float(np.median(np.abs(mc))))
    # the refit trains the master alone on its replay and reports at those states
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "master_refit.py"), str(run), str(out),
                        "--updates", "20", "--every", "10", "--save", str(tmp_path / "refit")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    history = [json.loads(x) for x in p.stdout.splitlines()]
    assert [h["updates"] for h in history] == [0, 10, 20]
    assert history[0]["greedy_large"] == np.mean([r["greedy"] for r in rows])   # the trained master's own choice
    assert history[0]["q_gap_median"] != history[-1]["q_gap_median"]            # it learned
    # --save: the run's policy with the refit master, the one of the last line
    from asym_control.training.checkpoint import load_policy
    _, refit = load_policy(tmp_path / "refit")
    _, trained = load_policy(run)
    gaps = [float(np.diff(refit.q_values(np.array(r["obs"], dtype=np.float32)))[0]) for r in rows]
    assert np.median(gaps) == pytest.approx(history[-1]["q_gap_median"], rel=1e-5)
    probe = np.array(rows[0]["obs"], dtype=np.float32)
    assert np.array_equal(refit.act(1, probe), trained.act(1, probe))          # the sub-policies as trained
    assert not np.array_equal(refit.q_values(probe), trained.q_values(probe))
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "master_refit.py"), str(run), str(out),
                        "--updates", "1", "--save", str(run)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "another folder" in p.stderr and "Traceback" not in p.stderr
    large = tiny_run(tmp_path / "large", "walker-stand", "large", 60)
    assert large.returncode == 0, large.stderr
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "master_gap.py"), str(tmp_path / "large")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "no master" in p.stderr and "Traceback" not in p.stderr
