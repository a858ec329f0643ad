"""
The sub-policies' actor network, shared by SAC's training (sac.py) and deployment (asym/policy.py).

Pi(a|s) = tanh(N(mu(s), sigma(s))), both heads in one output layer.
"""

from __future__ import annotations

import numpy as np

from asym_control.learning.nets import DTYPE, MLP

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
TANH_EPS = 1e-6          # SB3's epsilon inside log(1 - tanh(u)^2 + eps)
HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def head_actions(out: np.ndarray, act_dim: int, deterministic: bool, noise: np.ndarray | None) -> np.ndarray:
    """Actions from the last layer's (B, 2A) output: tanh(mean), or tanh(mean + std * noise)."""
    mean = out[:, :act_dim]
    if deterministic:
        u = mean
    else:
        log_std = np.clip(out[:, act_dim:], LOG_STD_MIN, LOG_STD_MAX)
        u = mean + np.exp(log_std) * noise.reshape(mean.shape)
    return np.tanh(u)


class SquashedGaussianActor:
    """pi(a|s) = tanh(N(mu(s), sigma(s))): inference and the reparameterised sample."""

    def __init__(self, obs_dim: int, act_dim: int, units: int, activation: str,
                 rng: np.random.Generator | None = None):
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.net = MLP([obs_dim, units, units, 2 * act_dim], activation, rng=rng)
        self.norm = None   # learning.normalizer.ObsNormalizer: act() standardises obs first (training)

    def act(self, obs: np.ndarray, deterministic: bool, noise: np.ndarray | None = None) -> np.ndarray:
        """Return the action in [-1, 1]^A for obs (A batch of (B, obs_dim) or a single (obs_dim,))."""
        single = obs.ndim == 1
        x = np.asarray(obs, dtype=DTYPE).reshape(-1, self.obs_dim)
        if self.norm is not None:
            x = self.norm.apply(x)
        a = head_actions(self.net.forward(x)[0], self.act_dim, deterministic, noise)
        return a[0] if single else a

    def sample(self, obs: np.ndarray, noise: np.ndarray):
        """
        Reparameterised sample a = tanh(mu + sigma * noise) with log pi(a|s) and what backward needs.

        `obs` is the network's input: already standardised when the actor has a normaliser.
        """
        out, cache = self.net.forward(obs, keep=True)
        out = out[0]
        A = self.act_dim
        mean = out[:, :A]
        raw_log_std = out[:, A:]
        log_std = np.clip(raw_log_std, LOG_STD_MIN, LOG_STD_MAX)
        std = np.exp(log_std)
        u = mean + std * noise
        a = np.tanh(u)
        one_minus_a2 = 1.0 - a * a
        log_prob = (-0.5 * noise * noise - log_std - HALF_LOG_2PI).sum(1) \
            - np.log(one_minus_a2 + TANH_EPS).sum(1)
        aux = (cache, noise, std, a, one_minus_a2, raw_log_std)
        return a, log_prob.astype(DTYPE), aux

    def backward(self, aux, d_action: np.ndarray, d_log_prob: np.ndarray) -> None:
        """Parameter gradients (into net.grad) of a loss with dL/da and dL/dlogpi given."""
        cache, noise, std, a, one_minus_a2, raw_log_std = aux
        # d log pi / du from the tanh correction; the Gaussian term is constant in u given noise
        g_corr = 2.0 * a * one_minus_a2 / (one_minus_a2 + TANH_EPS)
        d_u = d_action * one_minus_a2 + d_log_prob[:, None] * g_corr
        d_log_std = d_u * std * noise - d_log_prob[:, None]
        d_log_std *= (raw_log_std >= LOG_STD_MIN) & (raw_log_std <= LOG_STD_MAX)  # clamp's gradient
        dout = np.concatenate([d_u, d_log_std], axis=1)[None]
        self.net.backward(cache, dout)
