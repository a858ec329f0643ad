"""
The master policy pi_Omega: a double DQN choosing a sub-policy every n_omega control steps.

Learns from macro transitions (s_t, omega, r_Omega, s_{t+k}, terminated, k): the target is
r_Omega + gamma^k * (1 - terminated) * Q'(s_{t+k}, argmax_o Q(s_{t+k}, o)) -- the semi-MDP
discount gamma^k (the authors' code discounted by gamma once). Huber loss, gradient norm clipped
at 10 (Stable-Baselines' DQN defaults). Hyperparameters are the paper's Table I.

With `dueling` the trained network has three outputs, V(s) and an advantage per option, and
Q(s, o) = V(s) + A(s, o) - mean A(s, .). Its last layer is linear, so Q is exactly a two-output
network of the same trunk (`fold_dueling`): `q`, the network that acts, is always that one, and
the deployed master is the same as without dueling.
"""

from __future__ import annotations

import numpy as np

from asym_control.flops import N_OPTIONS
from asym_control.learning.nets import DTYPE, MLP, Adam
from asym_control.learning.settings import DQNConfig  # noqa: F401 - re-exported for its users


def fold_dueling(dueling: MLP, q: MLP) -> None:
    """
    Write into `q` (outputs Q per option) the function of `dueling` (outputs V, A per option).

    Q_o = V + A_o - mean A: the same combination of the last layer's columns and biases.
    """
    for src, dst in zip(dueling.params[:-2], q.params[:-2]):
        dst[...] = src
    for src, dst in zip(dueling.params[-2:], q.params[-2:]):
        v, a = src[..., :1], src[..., 1:]
        dst[...] = v + a - a.mean(axis=-1, keepdims=True)


class DQN:
    def __init__(self, obs_dim: int, config: DQNConfig, rng: np.random.Generator):
        self.config = config
        self.obs_dim = obs_dim
        sizes = [obs_dim, config.units, config.units, N_OPTIONS]
        if config.dueling:
            # the trained parameters; `q` is their folded two-output form, kept in step
            self.net = MLP(sizes[:-1] + [1 + N_OPTIONS], config.activation, rng=rng)
            self.q = MLP(sizes, config.activation)
            fold_dueling(self.net, self.q)
        else:
            self.q = MLP(sizes, config.activation, rng=rng)
            self.net = self.q
        self.q_target = MLP(sizes, config.activation)
        self.q_target.copy_from(self.q)
        self.opt = Adam(self.net.theta, config.lr)
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

        out, cache = self.net.forward(obs, keep=True)
        if cfg.dueling:
            adv = out[0, :, 1:]
            q_taken = out[0, :, 0] + adv[rows, option] - adv.mean(axis=1)
        else:
            q_taken = out[0, rows, option]
        err = q_taken - target
        loss = float(np.where(np.abs(err) < 1.0, 0.5 * err * err, np.abs(err) - 0.5).mean())
        g = np.clip(err, -1.0, 1.0) / B                              # Huber (smooth L1) gradient
        dout = np.zeros_like(out)
        if cfg.dueling:
            # dQ/dV = 1, dQ/dA_o = [o taken] - 1 / N_OPTIONS
            dout[0, :, 0] = g
            dout[0, :, 1:] = -g[:, None] / N_OPTIONS
            dout[0, rows, 1 + option] += g
        else:
            dout[0, rows, option] = g
        self.net.backward(cache, dout)
        norm = float(np.sqrt(np.dot(self.net.grad, self.net.grad)))
        if norm > cfg.max_grad_norm:
            self.net.grad *= cfg.max_grad_norm / (norm + 1e-6)
        self.opt.step(self.net.grad)
        if cfg.dueling:
            fold_dueling(self.net, self.q)
        self.updates += 1
        if self.updates % cfg.target_update_interval == 0:
            self.q_target.copy_from(self.q)
        return {"master_loss": loss}

    def state(self, prefix: str, with_training: bool = True) -> dict[str, np.ndarray]:
        t = self.q.state(f"{prefix}.q")
        if with_training:
            if self.config.dueling:
                t.update(self.net.state(f"{prefix}.dueling"))
            t.update(self.q_target.state(f"{prefix}.q_target"))
            t.update(self.opt.state(f"{prefix}.opt"))
            t[f"{prefix}.updates"] = np.array([self.updates], dtype=np.int64)
        return t

    def load_state(self, t: dict[str, np.ndarray], prefix: str, with_training: bool = True) -> None:
        self.q.load_state(t, f"{prefix}.q")
        if with_training:
            if self.config.dueling:
                self.net.load_state(t, f"{prefix}.dueling")
                fold_dueling(self.net, self.q)
            self.q_target.load_state(t, f"{prefix}.q_target")
            self.opt.load_state(t, f"{prefix}.opt")
            self.updates = int(t[f"{prefix}.updates"][0])
