"""Each task's observation function equals its simulator's own observation, on visited states."""

import numpy as np
import pytest

from asym_control.tasks.registry import TASKS, UnknownTask, get_task


@pytest.mark.parametrize("name", list(TASKS))
def test_observation_function_matches_simulator(name):
    spec = TASKS[name]
    env = spec.make_env(seed=3, episode_steps=60)
    rng = np.random.default_rng(0)
    obs = env.reset()
    assert obs.shape == (spec.obs_dim,) and obs.dtype == np.float32
    for _ in range(150):
        obs, reward, terminated, truncated = env.step(rng.uniform(-1, 1, spec.act_dim))
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        np.testing.assert_allclose(obs, env.native_observation(), rtol=1e-5, atol=1e-5)
        # the same function applied to the robot state alone gives the same numbers
        np.testing.assert_array_equal(spec.observation(env.robot_state()), obs)
        if terminated or truncated:
            assert env.t <= 60
            obs = env.reset()


def test_episodes_are_truncated_not_terminated():
    env = get_task("walker-stand").make_env(seed=0, episode_steps=7)
    env.reset()
    flags = [env.step(np.zeros(6))[2:] for _ in range(7)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])


def test_same_seed_same_initial_states_and_rng_state_roundtrip():
    a = get_task("walker-stand").make_env(seed=5)
    b = get_task("walker-stand").make_env(seed=5)
    np.testing.assert_array_equal(a.reset(), b.reset())
    saved = a.rng_state()
    first = a.reset()
    b.set_rng_state(saved)
    np.testing.assert_array_equal(b.reset(), first)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(UnknownTask, match="walker-stand"):
        get_task("walker-run")


@pytest.mark.parametrize("name", ["walker-stand", "arm-reach"])
def test_step_without_observation_moves_the_robot_the_same(name):
    spec = get_task(name)
    a, b = spec.make_env(seed=3, episode_steps=20), spec.make_env(seed=3, episode_steps=20)
    a.reset(), b.reset()
    rng = np.random.default_rng(0)
    for _ in range(10):
        act = rng.uniform(-1, 1, spec.act_dim)
        obs, r1, te1, tr1 = a.step(act)
        none, r2, te2, tr2 = b.step(act, observe=False)
        assert none is None and obs.shape == (spec.obs_dim,)
        assert (r1, te1, tr1) == (r2, te2, tr2)
    np.testing.assert_array_equal(a.robot_state().position, b.robot_state().position)
    np.testing.assert_array_equal(a.observation(), b.observation())
