"""
Soft Actor-Critic (Haarnoja et al. 2018) for one sub-policy, with Stable-Baselines3's update.

One update, in SB3's order: entropy coefficient, then twin critics, then the actor (through the
just-updated critics), then the Polyak target update. Squashed Gaussian actor with log-std
clipped to [-20, 2]; target entropy -dim(A); both heads (mean, log-std) are one output layer.
Hyperparameters are the paper's Table I.
"""

from __future__ import annotations

import numpy as np

from asym_control.learning.nets import DTYPE, MLP, Adam
from asym_control.learning.normalizer import ObsNormalizer
from asym_control.learning.policies import (HALF_LOG_2PI, LOG_STD_MAX, LOG_STD_MIN, TANH_EPS,  # noqa: F401
                                            SquashedGaussianActor)
from asym_control.learning.settings import SACConfig  # noqa: F401 - re-exported for its users


class SAC:
    """One SAC sub-policy: actor, twin critics (one 2-member MLP) and their target, auto entropy."""

    def __init__(self, obs_dim: int, act_dim: int, config: SACConfig, rng: np.random.Generator):
        self.config = config
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.actor = SquashedGaussianActor(obs_dim, act_dim, config.units, config.activation, rng)
        if config.normalize_obs:   # actor and critics see standardised observations (normalizer.py)
            self.actor.norm = ObsNormalizer(obs_dim)
        cu = config.critic_units or config.units
        sizes = [obs_dim + act_dim, cu, cu, 1]
        self.critic = MLP(sizes, config.activation, ensemble=2, rng=rng)
        self.critic_target = MLP(sizes, config.activation, ensemble=2)
        self.critic_target.copy_from(self.critic)
        self.log_alpha = np.zeros(1, dtype=DTYPE)  # entropy coefficient starts at 1 (SB3 "auto")
        self.target_entropy = -float(act_dim)
        self.actor_opt = Adam(self.actor.net.theta, config.lr)
        self.critic_opt = Adam(self.critic.theta, config.lr)
        self.alpha_opt = Adam(self.log_alpha, config.lr)
        self.updates = 0
        self.distill = None   # a2d.distillation.Distillation: a teacher's terms added to the losses

    def share_actor(self) -> None:
        """Put the actor's weights in shared memory (see learner.py); the optimiser follows them."""
        self.actor.net.share()
        self.actor_opt.theta = self.actor.net.theta
        if self.actor.norm is not None:
            self.actor.norm.share()

    @property
    def alpha(self) -> float:
        return float(np.exp(self.log_alpha[0]))

    def update(self, batch, rng: np.random.Generator) -> dict[str, float]:
        """One gradient step on a batch (obs, action, reward, next_obs, terminated)."""
        obs, act, rew, next_obs, terminated = batch
        B, A, cfg = obs.shape[0], self.act_dim, self.config
        norm = self.actor.norm
        if norm is not None:   # the statistics of what is learnt from, then the networks' inputs
            norm.update(obs)
            obs, next_obs = norm.apply(obs), norm.apply(next_obs)
        noise = rng.standard_normal((2, B, A), dtype=DTYPE)

        # entropy coefficient (uses the current actor's log-probabilities)
        a_pi, log_pi, aux = self.actor.sample(obs, noise[0])
        alpha = DTYPE(np.exp(self.log_alpha[0]))
        self.alpha_opt.step(np.array([-(log_pi + self.target_entropy).mean()], dtype=DTYPE))

        # critic target: r + gamma * (1 - terminated) * (min Q' - alpha log pi(a'|s'))
        a_next, log_pi_next, _ = self.actor.sample(next_obs, noise[1])
        q_next = self.critic_target.forward(np.concatenate([next_obs, a_next], axis=1))
        v_next = q_next.min(axis=0)[:, 0] - alpha * log_pi_next
        target = rew + cfg.gamma * (1.0 - terminated) * v_next

        q, cache = self.critic.forward(np.concatenate([obs, act], axis=1), keep=True)
        err = q[:, :, 0] - target[None]                       # (2, B)
        critic_loss = 0.5 * float((err * err).mean(axis=1).sum())
        self.critic.backward(cache, (err / B)[:, :, None])
        if self.distill is not None and self.distill.config.critic_coef:
            self.distill.critic_loss_and_grad(self.critic, obs, act)
        self.critic_opt.step(self.critic.grad)

        # actor: mean(alpha log pi - min_k Q_k(s, a_pi)) through the updated critics
        q_pi, cache_pi = self.critic.forward(np.concatenate([obs, a_pi], axis=1), keep=True)
        q_pi = q_pi[:, :, 0]
        pick = (q_pi[1] < q_pi[0]).astype(DTYPE)               # which critic is the min
        d_q = np.stack([1.0 - pick, pick])[:, :, None] * DTYPE(-1.0 / B)
        d_x = self.critic.input_grad(cache_pi, d_q).sum(axis=0)
        actor_loss = float((alpha * log_pi - np.minimum(q_pi[0], q_pi[1])).mean())
        self.actor.backward(aux, d_x[:, self.obs_dim:], np.full(B, alpha / B, dtype=DTYPE))
        if self.distill is not None and self.distill.config.actor_coef:
            self.distill.actor_loss_and_grad(self.actor, obs)
        self.actor_opt.step(self.actor.net.grad)

        # Polyak update of the target critics, every step (Table I)
        self.critic_target.theta *= 1.0 - cfg.tau
        self.critic_target.theta += cfg.tau * self.critic.theta
        self.updates += 1
        out = {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha": float(alpha)}
        if self.distill is not None:
            out.update(self.distill.last)
        return out

    # checkpointing -------------------------------------------------------------------------
    def state(self, prefix: str, with_training: bool = True) -> dict[str, np.ndarray]:
        """
        Return the tensors of a training checkpoint, or (not `with_training`) of the deployed actor.

        The deployed actor has the observation standardisation folded into its first layer.
        """
        norm = self.actor.norm
        t = self.actor.net.state(f"{prefix}.actor")
        if norm is not None and not with_training:
            t = {f"{prefix}.actor.theta": norm.fold(self.actor.net)}
        if norm is not None and with_training:
            t.update(norm.state(f"{prefix}.obs_norm"))
        if with_training:
            t.update(self.critic.state(f"{prefix}.critic"))
            t.update(self.critic_target.state(f"{prefix}.critic_target"))
            t[f"{prefix}.log_alpha"] = self.log_alpha
            t.update(self.actor_opt.state(f"{prefix}.actor_opt"))
            t.update(self.critic_opt.state(f"{prefix}.critic_opt"))
            t.update(self.alpha_opt.state(f"{prefix}.alpha_opt"))
            t[f"{prefix}.updates"] = np.array([self.updates], dtype=np.int64)
        return t

    def load_state(self, t: dict[str, np.ndarray], prefix: str, with_training: bool = True) -> None:
        if self.actor.norm is not None and not with_training:
            raise ValueError("a deployed actor has its standardisation folded in: load a training checkpoint")
        self.actor.net.load_state(t, f"{prefix}.actor")
        if self.actor.norm is not None:
            self.actor.norm.load_state(t, f"{prefix}.obs_norm")
        if with_training:
            self.critic.load_state(t, f"{prefix}.critic")
            self.critic_target.load_state(t, f"{prefix}.critic_target")
            self.log_alpha[...] = t[f"{prefix}.log_alpha"]
            self.actor_opt.load_state(t, f"{prefix}.actor_opt")
            self.critic_opt.load_state(t, f"{prefix}.critic_opt")
            self.alpha_opt.load_state(t, f"{prefix}.alpha_opt")
            self.updates = int(t[f"{prefix}.updates"][0])
