"""A gymnasium.Env over a task's environment: the same MuJoCo task and observation function,
for running peers such as Stable-Baselines3 on exactly what asym_control trains on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .tasks import get_task


class TaskGymEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, task: str, seed: int = 0, episode_steps: int | None = None):
        self.spec_ = get_task(task)
        self._env = self.spec_.make_env(seed=seed, episode_steps=episode_steps)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.spec_.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.spec_.act_dim,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._env.reset(), {}

    def step(self, action):
        obs, reward, terminated, truncated = self._env.step(np.asarray(action))
        return obs, reward, terminated, truncated, {}
