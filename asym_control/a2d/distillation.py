"""
Actor and critic distillation (A2D, seed 002): a teacher's Gaussians and Q-values as extra terms of a student SAC.

Actor: KL(teacher || student) of the two diagonal Gaussians before the tanh squash, in closed
form (exact, no sampling: both are Gaussians of the same pre-squash variable, and the squash is
the same bijection for both, so this is also the KL of the squashed policies):
    KL = sum_j [ log s_j - log t_j + (t_j^2 + (m_j - n_j)^2) / (2 s_j^2) - 1/2 ]
with the teacher's mean m and std t, the student's mean n and std s, on the states of the
student's replay batch.
Critic: (Q_student_k(s, a) - Q_teacher(s, a))^2 / 2 for both student critics k, on the batch's
state-action pairs, Q_teacher the minimum of the teacher's twin critics (its value as SAC uses it).
Each is added, times its coefficient, to the student's own SAC losses (`SAC.distill`): with both
coefficients 0 the student is plain SAC.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asym_control.learning.nets import DTYPE, MLP
from asym_control.learning.normalizer import raw_input_critic
from asym_control.learning.policies import LOG_STD_MAX, LOG_STD_MIN, SquashedGaussianActor


def gaussian_kl(m, log_t, n, log_s):
    """KL(N(m, t^2) || N(n, s^2)) per row, summed over the action dimensions; inputs (B, A)."""
    t2, s2 = np.exp(2.0 * log_t), np.exp(2.0 * log_s)
    return (log_s - log_t + (t2 + (m - n) ** 2) / (2.0 * s2) - 0.5).sum(axis=1)


def gaussian_kl_grad(m, log_t, n, log_s):
    """Return d KL / d n and d KL / d log s (the student's mean and log std), each (B, A)."""
    s2 = np.exp(2.0 * log_s)
    d_n = (n - m) / s2
    d_log_s = 1.0 - (np.exp(2.0 * log_t) + (m - n) ** 2) / s2
    return d_n, d_log_s


def gaussian_heads(out: np.ndarray, act_dim: int):
    """Return the mean, the clipped log std and the raw log std of an actor's (B, 2A) last layer."""
    raw = out[:, act_dim:]
    return out[:, :act_dim], np.clip(raw, LOG_STD_MIN, LOG_STD_MAX), raw


def head_kl(teacher_heads, out: np.ndarray, act_dim: int):
    """Return KL(teacher || the Gaussians of `out`, a (B, 2A) last layer) per row, and d KL / d out."""
    m, log_t = teacher_heads
    n, log_s, raw = gaussian_heads(out, act_dim)
    d_n, d_log_s = gaussian_kl_grad(m, log_t, n, log_s)
    d_log_s = d_log_s * ((raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX))   # the clamp's gradient
    return gaussian_kl(m, log_t, n, log_s), np.concatenate([d_n, d_log_s], axis=1)


class Teacher:
    """A trained SAC's actor and twin critics, for distillation (inference only)."""

    def __init__(self, actor: SquashedGaussianActor, critic: MLP | None):
        self.actor, self.critic = actor, critic
        self.act_dim = actor.act_dim

    def gaussians(self, obs: np.ndarray):
        mean, log_std, _ = gaussian_heads(self.actor.net.forward(obs)[0], self.act_dim)
        return mean, log_std

    def q(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        return self.critic.forward(np.concatenate([obs, act], axis=1))[:, :, 0].min(axis=0)


def load_teacher(run_dir: Path, need_critic: bool) -> tuple:
    """
    Return the teacher of a run folder: (its TrainConfig, Teacher).

    Its large sub-policy (an L-only run, or an asym run's large one); the critics come from its
    training checkpoint (resume/), which `asym-control train` writes; without one only the actor
    can be distilled.
    """
    from asym_control.asym.policy import LARGE
    from asym_control.training.checkpoint import CheckpointError, load_policy, load_training

    cfg, policy = load_policy(run_dir)
    if LARGE not in policy.actors:
        raise CheckpointError(f"{run_dir} ({cfg.mode}) has no large sub-policy to distil")
    critic = None
    if need_critic:
        tensors, _ = load_training(run_dir)
        critic = raw_input_critic(cfg, tensors, "large", cfg.sac.critic_units or cfg.large_units)
    return cfg, Teacher(policy.actors[LARGE], critic)


@dataclass(frozen=True)
class DistillConfig:
    actor_coef: float = 1.0
    """weight of the actor's KL term (0: none)"""
    critic_coef: float = 1.0
    """weight of the critics' MSE to the teacher's Q (0: actor-only distillation)"""


class Distillation:
    """The terms SAC.update adds to its gradients when a student has a teacher (SAC.distill)."""

    def __init__(self, teacher: Teacher, config: DistillConfig):
        if config.critic_coef and teacher.critic is None:
            raise ValueError("critic distillation needs the teacher's critics (its training checkpoint)")
        self.teacher, self.config = teacher, config
        self.last: dict[str, float] = {}

    def actor_loss_and_grad(self, actor: SquashedGaussianActor, obs: np.ndarray) -> float:
        """Add coef * d mean(KL) / d theta to actor.net.grad; return mean KL."""
        coef = DTYPE(self.config.actor_coef)
        out, cache = actor.net.forward(obs, keep=True)
        kl, d_out = head_kl(self.teacher.gaussians(obs), out[0], actor.act_dim)
        dout = (d_out * (coef / obs.shape[0])).astype(DTYPE)[None]
        actor.net.backward(cache, dout, accumulate=True)
        self.last["distill_kl"] = float(kl.mean())
        return float(kl.mean())

    def critic_loss_and_grad(self, critic: MLP, obs: np.ndarray, act: np.ndarray) -> float:
        """
        Add coef * d L / d theta to critic.grad; return L.

        L = sum_k mean_b (Q_k - Q_teacher)^2 / 2 = the mean over both critics and the batch of the
        squared error.
        """
        coef = DTYPE(self.config.critic_coef)
        target = self.teacher.q(obs, act)
        q, cache = critic.forward(np.concatenate([obs, act], axis=1), keep=True)
        err = q[:, :, 0] - target[None]
        critic.backward(cache, (err * (coef / obs.shape[0])).astype(DTYPE)[:, :, None], accumulate=True)
        mse = float((err * err).mean())
        self.last["distill_q_mse"] = mse
        return mse


def distilled_student(obs_dim: int, act_dim: int, sac_config, teacher: Teacher, config: DistillConfig,
                      rng: np.random.Generator):
    """Return a student SAC of `sac_config` learning with the teacher's terms added."""
    from asym_control.learning.sac import SAC

    sac = SAC(obs_dim, act_dim, sac_config, rng)
    sac.distill = Distillation(teacher, config)
    return sac


def config_dict(config: DistillConfig) -> dict:
    return dataclasses.asdict(config)
