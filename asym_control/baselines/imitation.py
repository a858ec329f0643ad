"""
Distillation of a teacher into a small actor: behaviour cloning and GAIL (paper Table IV).

The paper's protocol: 25 trajectories of 50 consecutive state-action pairs from the teacher (the
L-only policy), the student at the matched width, best of 5 runs reported. Here each trajectory
is one window of 50 consecutive steps of one teacher episode (deterministic, as deployed), the
window's start drawn uniformly, so that the demonstrations are not only the episodes' first steps.

- Behaviour cloning: the student's deterministic action tanh(mu(s)) regressed on the teacher's by
  mean squared error (Stable-Baselines' `pretrain`, which the paper's code used).
- GAIL (Ho and Ermon 2016) with our SAC as the generator, off-policy as in Discriminator-Actor-
  Critic (Kostrikov et al. 2019): the discriminator D(s, a) (the probability that a pair is the
  teacher's) learns by binary cross-entropy, teacher pairs against pairs from the student's
  replay; the student's reward -log(1 - D(s, a)) is computed when a batch is drawn, with the
  discriminator of that moment; the task's reward is only logged.

The `imitation` package cannot be installed beside gymnasium 1.x (it pins gymnasium ~0.29 and
stable-baselines3 ~2.2), hence these, written with the package's own networks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from asym_control.learning.buffers import ReplayBuffer
from asym_control.learning.nets import DTYPE, MLP, Adam
from asym_control.learning.policies import SquashedGaussianActor
from asym_control.learning.sac import SAC


class ImitationError(ValueError):
    """Demonstrations that cannot be made or used (a user's error, said in one line)."""


@dataclass(frozen=True)
class Demonstrations:
    """The teacher's state-action pairs, windows of consecutive steps."""

    obs: np.ndarray          # (N, obs_dim)
    action: np.ndarray       # (N, act_dim), in [-1, 1]
    trajectories: int
    length: int
    teacher_returns: list[float]   # the return of each whole episode a window came from


def collect_demonstrations(cfg, policy, trajectories: int = 25, length: int = 50, seed: int = 0) -> Demonstrations:
    """
    Run the teacher (a TrainConfig and its deployed AsymPolicy) for `trajectories` episodes.

    From each episode one window of `length` consecutive (observation, action) pairs is kept.
    """
    from asym_control.evaluation.evaluate import run_episode

    if trajectories <= 0 or length <= 0:
        raise ImitationError(f"trajectories and length must be positive, got {trajectories} and {length}")
    env = cfg.spec.make_env(seed=seed, episode_steps=cfg.episode_steps)
    rng = np.random.default_rng(seed)
    obs, act, returns = [], [], []
    for _ in range(trajectories):
        rec = run_episode(cfg, policy, env, record=True)
        if rec.steps < length:
            raise ImitationError(f"a teacher episode lasted {rec.steps} steps, fewer than the window of {length}")
        start = int(rng.integers(0, rec.steps - length + 1))
        obs.append(rec.observations[start:start + length])
        act.append(rec.actions[start:start + length])
        returns.append(float(rec.ret))
    return Demonstrations(np.concatenate(obs).astype(DTYPE), np.concatenate(act).astype(DTYPE),
                          trajectories, length, returns)


# behaviour cloning ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BCConfig:
    updates: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3


def bc_loss_and_grad(actor: SquashedGaussianActor, obs: np.ndarray, target: np.ndarray) -> float:
    """
    Return mean over the batch of |tanh(mu(s)) - a_teacher|^2, its gradient in actor.net.grad.

    The log-std head gets no gradient: the deployed student is deterministic.
    """
    out, cache = actor.net.forward(obs, keep=True)
    A, B = actor.act_dim, obs.shape[0]
    a = np.tanh(out[0][:, :A])
    diff = a - target
    dout = np.zeros_like(out)
    dout[0, :, :A] = 2.0 * diff * (1.0 - a * a) / B
    actor.net.backward(cache, dout)
    return float((diff * diff).sum(axis=1).mean())


def train_bc(demos: Demonstrations, actor: SquashedGaussianActor, config: BCConfig,
             rng: np.random.Generator) -> list[float]:
    """Fit the actor to the demonstrations with Adam; return the loss of every update."""
    opt = Adam(actor.net.theta, config.lr)
    n = demos.obs.shape[0]
    losses = []
    for _ in range(config.updates):
        idx = rng.integers(0, n, size=min(config.batch_size, n))
        losses.append(bc_loss_and_grad(actor, demos.obs[idx], demos.action[idx]))
        opt.step(actor.net.grad)
    return losses


# GAIL ----------------------------------------------------------------------------------------
class Discriminator:
    """D(s, a) = sigmoid(f(s, a)): the probability that a pair is the teacher's."""

    def __init__(self, obs_dim: int, act_dim: int, units: int, lr: float, rng: np.random.Generator):
        self.net = MLP([obs_dim + act_dim, units, units, 1], "tanh", rng=rng)
        self.opt = Adam(self.net.theta, lr)

    def logits(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        return self.net.forward(np.concatenate([obs, act], axis=1).astype(DTYPE))[0, :, 0]

    def reward(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """-log(1 - D(s, a)) = softplus(f(s, a)): large where the pair looks like the teacher's."""
        return np.logaddexp(0.0, self.logits(obs, act)).astype(DTYPE)

    def loss_and_grad(self, teacher_obs, teacher_act, student_obs, student_act) -> float:
        """Binary cross-entropy, teacher pairs labelled 1 and the student's 0; gradient in net.grad."""
        x = np.concatenate([np.concatenate([teacher_obs, teacher_act], axis=1),
                            np.concatenate([student_obs, student_act], axis=1)]).astype(DTYPE)
        y = np.concatenate([np.ones(len(teacher_obs)), np.zeros(len(student_obs))]).astype(DTYPE)
        out, cache = self.net.forward(x, keep=True)
        f = out[0, :, 0]
        loss = float(np.mean(np.logaddexp(0.0, f) - y * f))   # -y log s(f) - (1 - y) log(1 - s(f))
        sig = 1.0 / (1.0 + np.exp(-f))
        self.net.backward(cache, ((sig - y) / len(y)).astype(DTYPE)[None, :, None])
        return loss

    def update(self, *batches) -> float:
        loss = self.loss_and_grad(*batches)
        self.opt.step(self.net.grad)
        return loss


@dataclass(frozen=True)
class GAILConfig:
    steps: int = 300_000
    """environment steps of the generator"""
    learning_starts: int = 1_000
    """uniformly random actions before any update"""
    disc_units: int = 64
    disc_lr: float = 3e-4
    disc_batch: int = 256
    """pairs of each side per discriminator update"""
    disc_every: int = 50
    """environment steps between discriminator updates: at every step the discriminator separates
    the teacher's 1,250 pairs perfectly within 150k steps (cross-entropy 1e-13 on walker-stand,
    every 10: 2e-7) and the generator's reward vanishes; every 50 it stays 0.01 (docs/baselines.md)"""
    buffer_size: int = 1_000_000


def train_gail(env, demos: Demonstrations, sac: SAC, disc: Discriminator, config: GAILConfig,
               rng: np.random.Generator, on_episode=None, on_step=None) -> dict:
    """
    Train `sac` as GAIL's generator on `env` (reset() -> obs, step(a) -> obs, r, terminated, truncated).

    One SAC update per environment step (Table I), its batch's rewards from the discriminator;
    `on_episode(step, task_return)` after each episode, `on_step(step)` after each step (the
    caller's evaluations). Returns the losses' last values and the episodes' task returns.
    """
    obs_dim, act_dim = demos.obs.shape[1], demos.action.shape[1]
    buf = ReplayBuffer(min(config.buffer_size, config.steps), obs_dim, act_dim)
    n_demo = demos.obs.shape[0]
    obs, ep_ret, returns, stats = env.reset(), 0.0, [], {}
    t0 = time.perf_counter()
    for step in range(config.steps):
        if step < config.learning_starts:
            action = rng.uniform(-1.0, 1.0, act_dim).astype(DTYPE)
        else:
            action = sac.actor.act(np.asarray(obs, dtype=DTYPE), deterministic=False,
                                   noise=rng.standard_normal(act_dim, dtype=DTYPE))
        next_obs, reward, terminated, truncated = env.step(action)
        buf.add(obs, action, reward, next_obs, terminated)   # the task's reward: logged, never learned from
        ep_ret += reward
        obs = next_obs
        if terminated or truncated:
            returns.append(ep_ret)
            if on_episode is not None:
                on_episode(step + 1, ep_ret)
            obs, ep_ret = env.reset(), 0.0
        if step >= config.learning_starts:
            if step % config.disc_every == 0:
                idx = rng.integers(0, n_demo, size=config.disc_batch)
                s_obs, s_act, _, _, _ = buf.sample(config.disc_batch, rng)
                stats["disc_loss"] = disc.update(demos.obs[idx], demos.action[idx], s_obs, s_act)
            b_obs, b_act, _, b_next, b_term = buf.sample(sac.config.batch_size, rng)
            stats.update(sac.update((b_obs, b_act, disc.reward(b_obs, b_act), b_next, b_term), rng))
        if on_step is not None:
            on_step(step + 1)
    stats.update(episode_returns=returns, wall_time_s=time.perf_counter() - t0)
    return stats
