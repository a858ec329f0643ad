"""
Every task as a gymnasium.Env.

The same MuJoCo task and observation function, for any RL library (Stable-Baselines3 among them) to
run on exactly what asym_control trains on.

Importing this module registers each task with gymnasium under the package's namespace:

    import gymnasium as gym
    import asym_control.tasks.gym_env
    gym.register_envs(asym_control.tasks.gym_env)
    env = gym.make("asym_control/walker-stand-v0")      # or gym_id(task) for any task

A task added with asym_control.tasks.registry.register_task is registered here too.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from asym_control.tasks.registry import TASKS, get_task

NAMESPACE = "asym_control"


class TaskGymEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, task: str, seed: int = 0, episode_steps: int | None = None):
        self.spec_ = get_task(task)
        self._env = self.spec_.make_env(seed=seed, episode_steps=episode_steps)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.spec_.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.spec_.act_dim,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.reseed(seed)          # the Gymnasium API: reset(seed) reseeds the task
        return self._env.reset(), {}

    def step(self, action):
        obs, reward, terminated, truncated = self._env.step(np.asarray(action))
        return obs, reward, terminated, truncated, {}


def gym_id(task: str) -> str:
    """Return the gymnasium id of a task: asym_control/<task>, with -v0 unless it has a version."""
    versioned = "-v" in task and task.rsplit("-v", 1)[1].isdigit()
    return f"{NAMESPACE}/{task}" if versioned else f"{NAMESPACE}/{task}-v0"


def register_with_gymnasium(task: str) -> str:
    """Register one task with gymnasium (max_episode_steps: None, the task cuts its episodes)."""
    env_id = gym_id(task)
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=TaskGymEnv, kwargs={"task": task}, disable_env_checker=True)
    return env_id


for _task in list(TASKS):
    register_with_gymnasium(_task)
