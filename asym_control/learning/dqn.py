"""
The master policy pi_Omega: a double DQN choosing a sub-policy every n_omega control steps.

Learns from macro transitions (s_t, omega, r_Omega, s_{t+k}, terminated, k): the target is
r_Omega + gamma^k * (1 - terminated) * Q'(s_{t+k}, argmax_o Q(s_{t+k}, o)) -- the semi-MDP
discount gamma^k (the authors' code discounted by gamma once). Huber loss, gradient norm clipped
at 10 (Stable-Baselines' DQN defaults). Hyperparameters are the paper's Table I.
"""

from __future__ import annotations

import numpy as np

from asym_control.flops import N_OPTIONS
from asym_control.learning.nets import DTYPE, MLP, Adam
from asym_control.learning.settings import DQNConfig  # noqa: F401 - re-exported for its users


class DQN:
    def __init__(self, obs_dim: int, config: DQNConfig, rng: np.random.Generator):
        self.config = config
        self.obs_dim = obs_dim
        sizes = [obs_dim, config.units, config.units, N_OPTIONS]
        self.q = MLP(sizes, config.activation, rng=rng)
        self.q_target = MLP(sizes, config.activation)
        self.q_target.copy_from(self.q)
        self.opt = Adam(self.q.theta, config.lr)
        self.updates = 0

    def greedy(self, obs: np.ndarray) -> int:
        q = self.q.forward(np.asarray(obs, dtype=DTYPE).reshape(1, -1))[0, 0]
        return int(np.argmax(q))

    def targets(self, reward, next_obs, terminated, length) -> np.ndarray:
        """r_Omega + gamma^k (1 - terminated) Q'(s', argmax_o Q(s', o)) for a batch."""
        rows = np.arange(next_obs.shape[0])
        # double Q: the online network picks the next option, the target network values it
        best = np.argmax(self.q.forward(next_obs)[0], axis=1)
        next_value = self.q_target.forward(next_obs)[0][rows, best]
        discount = self.config.gamma ** length.astype(DTYPE)    # gamma^k: the semi-MDP discount
        return reward + discount * (1.0 - terminated) * next_value

    def update(self, batch) -> dict[str, float]:
        obs, option, reward, next_obs, terminated, length = batch
        cfg = self.config
        B = obs.shape[0]
        rows = np.arange(B)
        target = self.targets(reward, next_obs, terminated, length)

        q, cache = self.q.forward(obs, keep=True)
        q_taken = q[0, rows, option]
        err = q_taken - target
        loss = float(np.where(np.abs(err) < 1.0, 0.5 * err * err, np.abs(err) - 0.5).mean())
        dout = np.zeros_like(q)
        dout[0, rows, option] = np.clip(err, -1.0, 1.0) / B       # Huber (smooth L1) gradient
        self.q.backward(cache, dout)
        norm = float(np.sqrt(np.dot(self.q.grad, self.q.grad)))
        if norm > cfg.max_grad_norm:
            self.q.grad *= cfg.max_grad_norm / (norm + 1e-6)
        self.opt.step(self.q.grad)
        self.updates += 1
        if self.updates % cfg.target_update_interval == 0:
            self.q_target.copy_from(self.q)
        return {"master_loss": loss}

    def state(self, prefix: str, with_training: bool = True) -> dict[str, np.ndarray]:
        t = self.q.state(f"{prefix}.q")
        if with_training:
            t.update(self.q_target.state(f"{prefix}.q_target"))
            t.update(self.opt.state(f"{prefix}.opt"))
            t[f"{prefix}.updates"] = np.array([self.updates], dtype=np.int64)
        return t

    def load_state(self, t: dict[str, np.ndarray], prefix: str, with_training: bool = True) -> None:
        self.q.load_state(t, f"{prefix}.q")
        if with_training:
            self.q_target.load_state(t, f"{prefix}.q_target")
            self.opt.load_state(t, f"{prefix}.opt")
            self.updates = int(t[f"{prefix}.updates"][0])
