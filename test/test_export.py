"""
ONNX export: onnxruntime's outputs against the NumPy policy's, and the contract.

The graphs run by onnxruntime give the NumPy policy's outputs on 1,000 observations (actions within
1e-5, Q-values within 1e-5 of their scale, the same selections), the observation graph gives the
task's observation function, and the contract says what a runtime needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from asym_control.training.checkpoint import load_policy
from asym_control.evaluation.evaluate import run_episode
from asym_control.deploy.export import OBSERVATION_GRAPHS, export_onnx, observation_model
from asym_control.tasks.registry import TASKS, RobotState

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = [ROOT / "checkpoints" / "walker-stand" / m for m in ("asym", "large", "small")] + \
              [ROOT / "checkpoints" / "arm-reach" / "asym"]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _robot_states(spec, n, rng):
    J, S = len(spec.joint_names), len(spec.sensor_names)
    return (rng.uniform(-3, 3, (n, J)).astype(np.float32), rng.uniform(-10, 10, (n, J)).astype(np.float32),
            rng.uniform(0, 5, (n, S)).astype(np.float32))


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_onnx_models_match_the_numpy_policy(ckpt, tmp_path):
    contract = export_onnx(ckpt, tmp_path)
    cfg, policy = load_policy(ckpt)
    # 1,000 observations the policy meets: from its own episodes in MuJoCo
    env = cfg.spec.make_env(seed=3, episode_steps=cfg.episode_steps)
    seen = []
    while sum(len(o) for o in seen) < 1000:
        seen.append(run_episode(cfg, policy, env, record=True).observations)
    obs = np.concatenate(seen)[:1000].astype(np.float32)
    for option, actor in policy.actors.items():
        name = {0: "small", 1: "large"}[option]
        got = _session(tmp_path / f"{name}.onnx").run(["action"], {"observation": obs})[0]
        np.testing.assert_allclose(got, actor.act(obs, deterministic=True), atol=1e-5, rtol=0)
    if policy.master is not None:
        qv, option = _session(tmp_path / "master.onnx").run(["q", "option"], {"observation": obs})
        want_q = policy.master.forward(obs)[0]
        # Q-values are sums of terms of size ~|Q| (25 to 40 here; float32 resolves ~3e-6 there):
        # within 1e-5 of their scale
        np.testing.assert_allclose(qv, want_q, rtol=0, atol=1e-5 * max(1.0, float(np.abs(want_q).max())))
        np.testing.assert_array_equal(option, np.argmax(want_q, axis=1))
        assert all(policy.select(o) == int(k) for o, k in zip(obs[:50], option[:50]))
    assert contract["task"] == cfg.task and contract["n_omega"] == cfg.n_omega
    assert contract["joints"] == list(cfg.spec.joint_names) and contract["obs_dim"] == cfg.spec.obs_dim
    assert contract["flops_per_inference"]["large"] == policy.costs.large_flops
    assert json.loads((tmp_path / "contract.json").read_text()) == contract
    assert set(contract["models"].values()) <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("task", sorted(OBSERVATION_GRAPHS))
def test_observation_graph_is_the_tasks_observation_function(task, tmp_path):
    spec = TASKS[task]
    path = tmp_path / "observation.onnx"
    import onnx
    onnx.save(observation_model(spec), str(path))
    q, v, s = _robot_states(spec, 1000, np.random.default_rng(1))
    got = _session(path).run(["observation"], {"position": q, "velocity": v, "sensors": s})[0]
    want = np.stack([spec.observation(RobotState(q[i].astype(np.float64), v[i].astype(np.float64),
                                                 s[i].astype(np.float64))) for i in range(len(q))])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_arm_contract_gives_the_observation_formula_and_the_position_steps(tmp_path):
    c = export_onnx(ROOT / "checkpoints" / "arm-reach" / "asym", tmp_path)
    assert "forward kinematics" in c["observation"]["formula"] and not (tmp_path / "observation.onnx").exists()
    assert c["action_scaling"]["kind"] == "position_step" and len(c["action_scaling"]["velocity_limit"]) == 6


def test_export_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "export", str(ROOT / "checkpoints" / "walker-stand"
                        / "asym"), "--onnx", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "master.onnx" in r.stdout and (tmp_path / "out" / "observation.onnx").is_file()
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "export", str(tmp_path / "nothing"), "--onnx",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error" in r.stderr


def test_every_paper_task_has_an_observation_graph_or_formula():
    from asym_control.deploy.export import OBSERVATION_FORMULAS
    paper = {name for name, spec in TASKS.items() if spec.paper}
    assert paper and not paper - set(OBSERVATION_GRAPHS) - set(OBSERVATION_FORMULAS)


def test_a_fetch_run_with_standardised_inputs_exports_its_actors_as_trained(tmp_path):
    """Fetch's contract (its sensors as the observation, the mocap action), and the folded actor in ONNX."""
    from asym_control.learning.settings import SACConfig
    from asym_control.training.config import TrainConfig
    from asym_control.training.train import train

    cfg = TrainConfig(task="FetchPickAndPlace-v4", mode="large", steps=400, learning_starts=100, eval_every=0,
                      parallel=False, sac=SACConfig(normalize_obs=True))
    train(cfg, tmp_path / "run", progress=False)
    c = export_onnx(tmp_path / "run", tmp_path / "onnx")
    assert "achieved goal" in c["observation"]["formula"] and c["action_scaling"]["kind"] == "fetch_mocap"
    _, policy = load_policy(tmp_path / "run")
    env = cfg.spec.make_env(seed=5)
    obs = np.stack([env.reset() for _ in range(200)])         # the task's own observations, far from 0
    got = _session(tmp_path / "onnx" / "large.onnx").run(None, {"observation": obs})[0]
    np.testing.assert_allclose(got, policy.actors[1].act(obs, deterministic=True), atol=1e-5)
