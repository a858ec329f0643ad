"""
Tasks for everyone.

Every task passes Gymnasium's own env checker, is registered with gymnasium under the package's
namespace, and a user adds a task of their own without touching the package (a dm_control task
outside the paper, trained for a few hundred steps).
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import asym_control.tasks.gym_env as adapter
from asym_control.training.config import TrainConfig
from asym_control.tasks.registry import TASKS, RobotState, TaskSpec, get_task, register_task
from asym_control.training.train import train

gym.register_envs(adapter)
# our observation spaces are unbounded, as gymnasium's own MuJoCo tasks' are
pytestmark = pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value is")


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_passes_gymnasiums_env_checker(task):
    env = gym.make(adapter.gym_id(task))
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    np.testing.assert_array_equal(obs, again)            # reset(seed) reseeds the task
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32


def test_gymnasium_ids():
    assert adapter.gym_id("walker-stand") == "asym_control/walker-stand-v0"
    assert adapter.gym_id("Swimmer-v5") == "asym_control/Swimmer-v5"
    assert {adapter.gym_id(t) for t in TASKS} <= set(gym.registry)


def cartpole_observation(state: RobotState) -> np.ndarray:
    """dm_control cartpole: cart position, cos and sin of the pole angle (3), velocities (2)."""
    x, angle = state.position
    return np.array([x, np.cos(angle), np.sin(angle), *state.velocity], dtype=np.float32)


def test_a_task_added_from_outside_the_package_trains_and_is_a_gymnasium_env(tmp_path):
    spec = TaskSpec("cartpole-balance", "dm_control", "cartpole/balance", 5, 1, ("slider", "hinge_1"), (),
                    cartpole_observation, small_units=8, large_units=64, cost_lambda=1e-2, control_dt=0.01,
                    episode_steps=1000, paper={}, actuator_names=("slider",))
    register_task(spec)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_task(spec)
        # its observation function is the simulator's own observation
        env = get_task("cartpole-balance").make_env(seed=1, episode_steps=50)
        env.reset()
        for _ in range(30):
            obs, *_ = env.step(np.random.default_rng(0).uniform(-1, 1, 1))
            np.testing.assert_allclose(obs, env.native_observation(), rtol=1e-5, atol=1e-6)
        # training takes it like the paper's tasks
        cfg = TrainConfig(task="cartpole-balance", mode="asym", seed=0, steps=400, learning_starts=100,
                          episode_steps=100, eval_every=0, buffer_size=10_000, parallel=False)
        summary = train(cfg, tmp_path / "run", progress=False)
        assert summary["steps"] == 400 and summary["episodes"] == 4
        assert (tmp_path / "run" / "policy.safetensors").is_file()
        # and any RL library can make it
        env = gym.make("asym_control/cartpole-balance-v0")
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        TASKS.pop("cartpole-balance", None)
        gym.registry.pop("asym_control/cartpole-balance-v0", None)


def test_register_task_refuses_what_is_not_a_task():
    with pytest.raises(TypeError):
        register_task({"name": "x"})
    bad = dataclasses.replace(get_task("walker-stand"), name="walker-x", suite="bullet")
    with pytest.raises(ValueError, match="suite must be"):
        register_task(bad)
