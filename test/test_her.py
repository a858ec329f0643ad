"""Hindsight experience replay: the relabelling, its resumption, a task it must solve, and FetchPickAndPlace."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asym_control.learning.buffers import HerReplayBuffer
from asym_control.tasks.registry import ENV_FACTORIES, HerSpec, RobotState, TaskEnv, TaskSpec, register_task

RADIUS = 0.15


def _reward(achieved, desired):
    return -(np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1) > RADIUS).astype(np.float32)


# observation: position (2), achieved goal (= position, 2), desired goal (2)
HER = HerSpec(desired=slice(4, 6), achieved=slice(2, 4), reward=_reward)


def _episode(buf, rng, length, goal):
    pos = rng.uniform(-1, 1, 2)
    for _ in range(length):
        nxt = np.clip(pos + rng.uniform(-0.2, 0.2, 2), -1, 1)
        buf.add(np.r_[pos, pos, goal], rng.uniform(-1, 1, 2), _reward(nxt, goal), np.r_[nxt, nxt, goal], 0.0)
        pos = nxt


def test_relabelled_goals_are_achieved_later_in_the_same_episode_and_rewarded_by_the_task():
    rng = np.random.default_rng(0)
    buf = HerReplayBuffer(1000, 6, 2, HER, n_sampled_goal=4)
    for e in range(5):
        _episode(buf, rng, 20, np.full(2, 5.0 + e))   # unreachable goals: every real reward is -1
        buf.end_episode()
    _episode(buf, rng, 7, np.full(2, 9.0))            # in progress: never relabelled
    draw = np.random.default_rng(1)
    relabelled = 0
    for _ in range(50):
        obs, act, rew, nxt, term = buf.sample(256, draw)
        for o, r, n in zip(obs, rew, nxt):
            row = int(np.flatnonzero((buf.obs[:buf.size, :2] == o[:2]).all(1))[0])
            episode, step = divmod(row, 20)
            if np.array_equal(o[4:], buf.obs[row, 4:]):
                assert r == buf.reward[row]                           # untouched
                continue
            relabelled += 1
            assert episode < 5                                        # a finished episode's
            later = buf.achieved[episode * 20 + step:(episode + 1) * 20]
            assert (later == o[4:]).all(1).any()                      # a goal achieved from this step on
            assert np.array_equal(n[4:], o[4:])                       # in both observations
            assert r == _reward(buf.achieved[row], o[4:])             # the task's reward of it
    # k = 4: 4 of 5 draws of finished episodes (100 of the 107 transitions) are relabelled
    assert relabelled / (50 * 256) == pytest.approx(0.8 * 100 / 107, abs=0.02)


def test_a_resumed_buffer_relabels_exactly_as_the_original():
    rng = np.random.default_rng(2)
    a = HerReplayBuffer(100, 6, 2, HER)
    for _ in range(3):
        _episode(a, rng, 15, rng.uniform(-1, 1, 2))
        a.end_episode()
    _episode(a, rng, 4, np.zeros(2))
    b = HerReplayBuffer(100, 6, 2, HER)
    b.load_state({k.replace("x.", "y."): v for k, v in a.state("x").items()}, "y")
    for x, y in zip(a.sample(64, np.random.default_rng(3)), b.sample(64, np.random.default_rng(3))):
        np.testing.assert_array_equal(x, y)
    # wrapped around the ring, the episode's marks land where its transitions are
    _episode(a, rng, 60, np.zeros(2))
    a.end_episode()
    assert a.pos == (15 * 3 + 4 + 60) % 100 and a.to_end[a.pos - 1] == 0 and a.to_end[(a.pos - 60) % 100] == 59


class _Point(TaskEnv):
    """A point in the plane moved by the action, to a goal it must reach: reward -1 until within RADIUS."""

    def __init__(self, spec, seed, episode_steps):
        super().__init__(spec, episode_steps)
        self.rng = np.random.default_rng(seed)

    def robot_state(self):
        return RobotState(self.p.copy(), np.zeros(2), np.r_[self.p, self.g])

    def reset(self):
        self.p, self.g, self.t = self.rng.uniform(-1, 1, 2), self.rng.uniform(-1, 1, 2), 0
        return self.observation()

    def step(self, action, observe=True):
        self.p = np.clip(self.p + 0.2 * np.asarray(action), -1, 1)
        self.t += 1
        return self.observation(), float(_reward(self.p, self.g)), False, self.t >= self.episode_steps

    def distance(self):
        return float(np.linalg.norm(self.p - self.g))

    def rng_state(self):
        return json.dumps(self.rng.bit_generator.state)

    def set_rng_state(self, text):
        self.rng.bit_generator.state = json.loads(text)


def _point_observation(s):
    return np.r_[s.sensors[:2], s.sensors[:2], s.sensors[2:]].astype(np.float32)


def _register_point_task():
    ENV_FACTORIES["test-point"] = _Point
    register_task(TaskSpec("test-point-reach", "test-point", "", 6, 2, ("x", "y"), ("gx", "gy"), _point_observation,
                           8, 64, 1e-2, 0.1, 20, {}, her=HER), replace=True)


def test_a_goal_task_run_resumes_from_its_checkpoint_exactly(tmp_path):
    # the relabelling buffer's open episode is saved beside its rows and must be read back as such
    from asym_control.training.config import TrainConfig
    from asym_control.training.train import train

    _register_point_task()
    cfg = TrainConfig(task="test-point-reach", mode="large", steps=300, her_goals=4, learning_starts=50,
                      eval_every=0, checkpoint_every=100, parallel=False)
    full, part, rest = [], [], []
    train(cfg, tmp_path / "full", progress=False, trace=full)
    train(cfg, tmp_path / "cut", progress=False, trace=part, stop_after=150)
    train(cfg, tmp_path / "cut", resume=True, progress=False, trace=rest)
    assert rest and rest[0][0] == 100 and rest[-1][0] == 299          # from the checkpoint to the end
    assert len(full[100:]) == len(rest)
    for a, b in zip(full[100:], rest):
        assert a[0] == b[0] and np.array_equal(a[2], b[2]) and a[3] == b[3]


def test_her_solves_a_sparse_goal_task_that_sac_alone_does_not(tmp_path):
    from asym_control.evaluation.evaluate import run_episode
    from asym_control.training.checkpoint import load_policy
    from asym_control.training.config import TrainConfig
    from asym_control.training.train import train

    from asym_control.learning.settings import SACConfig

    _register_point_task()
    success = {}
    # k = 4 also with standardised inputs: its saved, folded actors must solve it as well
    for k, norm in ((0, False), (4, False), (4, True)):
        cfg = TrainConfig(task="test-point-reach", mode="large", steps=4000, her_goals=k, learning_starts=200,
                          eval_every=0, parallel=False, sac=SACConfig(normalize_obs=norm))
        train(cfg, tmp_path / f"k{k}{norm}", progress=False)
        cfg, policy = load_policy(tmp_path / f"k{k}{norm}")
        env = cfg.spec.make_env(seed=99)
        success[k, norm] = np.mean([run_episode(cfg, policy, env).final_distance < RADIUS for _ in range(50)])
    assert success[4, False] >= 0.8 and success[4, False] > success[0, False] + 0.3, success
    assert success[4, True] >= 0.8, success


def test_fetch_pick_and_place_is_the_papers_task_with_its_goals_where_her_expects_them():
    from asym_control.flops import cost_table
    from asym_control.tasks import get_task
    from asym_control.tasks.fetch import sparse_reward

    spec = get_task("FetchPickAndPlace-v4")
    costs = cost_table(spec.obs_dim, spec.act_dim, spec.small_units, spec.large_units)
    assert (spec.obs_dim, costs.large_flops, round(costs.c_large, 1)) == (31, 42_755, 9.4)   # Tables IV and II
    env = spec.make_env(seed=3)
    obs = env.reset()
    again = spec.make_env(seed=3)
    np.testing.assert_array_equal(again.reset(), obs)                  # the seed decides the episode
    rng = np.random.default_rng(0)
    for t in range(50):
        raw = env._obs
        np.testing.assert_allclose(obs, np.r_[raw["observation"], raw["achieved_goal"], raw["desired_goal"]],
                                   rtol=1e-6)
        assert np.array_equal(obs[spec.her.achieved], obs[3:6])      # the block's position is the achieved goal
        obs, reward, terminated, truncated = env.step(rng.uniform(-1, 1, 4))
        assert reward == sparse_reward(obs[spec.her.achieved], obs[spec.her.desired])
        assert not terminated and truncated == (t == 49)
    assert env.distance() == pytest.approx(np.linalg.norm(obs[spec.her.achieved] - obs[spec.her.desired]), rel=1e-5)
    # a run resumed at an episode boundary draws the same next episode
    state = env.rng_state()
    nxt = env.reset()
    other = spec.make_env(seed=3)
    other.set_rng_state(state)
    np.testing.assert_array_equal(other.reset(), nxt)
