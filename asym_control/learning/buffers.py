"""
Replay buffers: ordinary transitions for the sub-policies, macro transitions for the master.

Arrays are float32 from the moment they are stored (no float64 leaks into the networks).
"""

from __future__ import annotations

import numpy as np

from asym_control.learning.nets import DTYPE, shared_array


class ReplayBuffer:
    """
    Ring buffer of (s, a, r, s', terminated).

    One instance is shared by both sub-policies.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, obs_dim), DTYPE)
        self.action = np.zeros((self.capacity, act_dim), DTYPE)
        self.reward = np.zeros(self.capacity, DTYPE)
        self.next_obs = np.zeros((self.capacity, obs_dim), DTYPE)
        self.terminated = np.zeros(self.capacity, DTYPE)
        self.pos = 0
        self.size = 0

    _FIELDS = ("obs", "action", "reward", "next_obs", "terminated")

    def share(self) -> None:
        """
        Move the storage into shared memory, before forking a learner process that samples it.

        Only the filled rows are copied, so an empty 1M-row buffer costs no memory yet.
        """
        for f in self._FIELDS:
            old = getattr(self, f)
            new = shared_array(old, copy=False)
            new[:self.size] = old[:self.size]
            setattr(self, f, new)

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.pos
        self.obs[i] = obs
        self.action[i] = action
        self.reward[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator):
        idx = rng.integers(0, self.size, size=batch_size)
        return tuple(getattr(self, f)[idx] for f in self._FIELDS)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        n = self.size  # only the filled part is saved
        t = {f"{prefix}.{f}": getattr(self, f)[:n] for f in self._FIELDS}
        t[f"{prefix}.pos_size"] = np.array([self.pos, self.size], dtype=np.int64)
        return t

    def load_state(self, t: dict[str, np.ndarray], prefix: str) -> None:
        self.pos, self.size = (int(v) for v in t[f"{prefix}.pos_size"])
        for f in self._FIELDS:
            getattr(self, f)[:self.size] = t[f"{prefix}.{f}"]


class HerReplayBuffer(ReplayBuffer):
    """
    The shared buffer of a goal-conditioned task, relabelled by hindsight (HER, Andrychowicz et al. 2017).

    The "future" strategy with k sampled goals: a drawn transition of a finished episode has its
    desired goal replaced, with probability k / (k + 1), by the goal achieved at a uniformly drawn
    later step of the same episode (this one's next state included), in the observation and the
    next observation, and its reward recomputed by the task's (vectorised) reward function.
    Transitions of the episode in progress keep their goal (their future is not known yet). The
    achieved goal is read from the next observation (`her.achieved`), so nothing extra is stored by
    the caller; `end_episode()` closes an episode.
    """

    _FIELDS = ReplayBuffer._FIELDS + ("achieved", "to_end")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, her, n_sampled_goal: int = 4):
        super().__init__(capacity, obs_dim, act_dim)
        self.her = her
        self.n_sampled_goal = int(n_sampled_goal)
        goal_dim = len(range(obs_dim)[her.desired])
        self.achieved = np.zeros((self.capacity, goal_dim), DTYPE)
        self.to_end = np.full(self.capacity, -1, np.int64)   # transitions after this one in its episode
        self.episode_start, self.episode_length = 0, 0

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.pos
        if self.episode_length == 0:
            self.episode_start = i
        self.achieved[i] = np.asarray(next_obs)[self.her.achieved]
        self.to_end[i] = -1
        super().add(obs, action, reward, next_obs, terminated)
        self.episode_length += 1

    def end_episode(self) -> None:
        n = min(self.episode_length, self.capacity)
        idx = (self.episode_start + np.arange(self.episode_length - n, self.episode_length)) % self.capacity
        self.to_end[idx] = np.arange(n - 1, -1, -1)
        self.episode_length = 0

    def sample(self, batch_size: int, rng: np.random.Generator):
        idx = rng.integers(0, self.size, size=batch_size)
        relabel_draw, future_draw = rng.random(batch_size), rng.random(batch_size)
        obs, action, reward, next_obs, terminated = (getattr(self, f)[idx] for f in ReplayBuffer._FIELDS)
        to_end = self.to_end[idx]
        relabel = (relabel_draw < self.n_sampled_goal / (self.n_sampled_goal + 1.0)) & (to_end >= 0)
        future = (idx + np.floor(future_draw * (to_end + 1)).astype(np.int64)) % self.capacity
        goals = self.achieved[future[relabel]]
        d = self.her.desired
        obs[relabel, d] = goals
        next_obs[relabel, d] = goals
        reward[relabel] = self.her.reward(self.achieved[idx[relabel]], goals)
        return obs, action, reward, next_obs, terminated

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        t = super().state(prefix)
        t[f"{prefix}.episode"] = np.array([self.episode_start, self.episode_length], dtype=np.int64)
        return t

    def load_state(self, t: dict[str, np.ndarray], prefix: str) -> None:
        super().load_state(t, prefix)
        self.episode_start, self.episode_length = (int(v) for v in t[f"{prefix}.episode"])


class MacroBuffer(ReplayBuffer):
    """Ring buffer of the master's macro transitions (s_t, omega, r_Omega, s_{t+k}, terminated, k)."""

    _FIELDS = ("obs", "option", "reward", "next_obs", "terminated", "length")

    def __init__(self, capacity: int, obs_dim: int):
        super().__init__(capacity, obs_dim, 1)
        del self.action
        self.option = np.zeros(self.capacity, np.int64)
        self.length = np.zeros(self.capacity, np.int64)

    def add(self, obs, option, reward, next_obs, terminated, length) -> None:  # type: ignore[override]
        self.length[self.pos] = length
        self.option[self.pos] = option
        i = self.pos
        self.obs[i] = obs
        self.reward[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)


class MacroStep:
    """
    Accumulates one macro step of the master: r_Omega = sum r_i - lambda * k * c_omega.

    k is the number of control steps the selected sub-policy actually ran: n_omega, or fewer
    when the episode ends inside the macro step (then terminated/truncated decide bootstrapping).
    """

    def __init__(self, obs: np.ndarray, option: int, start: int = 0):
        self.obs = obs
        self.start = start      # the control step (of training) at which it began
        self.option = option
        self.reward_sum = 0.0
        self.length = 0

    def add(self, reward: float) -> None:
        self.reward_sum += reward
        self.length += 1

    def master_reward(self, cost_lambda: float, cost: float) -> float:
        return self.reward_sum - cost_lambda * self.length * cost
