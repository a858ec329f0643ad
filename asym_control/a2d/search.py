"""
A FLOPs-penalised differentiable width search (A2D's relaxation, on the paper's family of actors).

The family: two hidden layers of one width c (Table II's sub-policies), c from candidate widths
(default 4 to 256). A supernet of the widest candidate holds every candidate's weights (the first
c units of each hidden layer); a Gumbel-softmax sample p over the candidates masks the hidden units,
m_j = sum_k p_k [j < c_k], so the network computes a mixture of the candidates, exactly one of them
at a one-hot p. The loss is

    mean KL(teacher || supernet_p)  +  lambda * F(pi) / F_teacher       (or, with a budget B,
                                                                         lambda * max(0, F(pi) - B) / B)

with pi = softmax(alpha) the architecture distribution and F(pi) the FLOPs of the expected
architecture in the package's convention: for an actor of width c, F(c) = 2 (o c + c^2 + 2 a c) + 3,
so F(pi) = 2 (o E[c] + E[c^2] + 2 a E[c]) + 3, equal to flops.actor_flops at a one-hot pi. The
temperature anneals exponentially from tau_start to tau_end; the weights and alpha learn together
(Adam each) on the states the teacher visits (it acts with its own exploration noise), after a
warm-up in which each update trains one candidate drawn uniformly (so that a wide candidate's
units are trained before the search compares it with a narrow one's). The chosen
width is argmax alpha; each candidate's KL at the end (its one-hot mask, the shared weights) is
the search's frontier of fidelity against FLOPs. The chosen width is then distilled (actor + critic)
by distill.py's `a2d` method.

What differs from A2D, and why: one width for both layers (the deployable family of this package,
whose sub-policies have equal hidden layers) instead of a choice per layer, and no skip candidate.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from asym_control.a2d.distillation import Teacher, gaussian_heads, gaussian_kl, head_kl
from asym_control.flops import ACTOR_CONSTANT, actor_flops
from asym_control.learning.nets import DTYPE, MLP, Adam

DEFAULT_WIDTHS = (4, 8, 16, 32, 64, 128, 256)


class SearchError(ValueError):
    """A search that cannot run as asked (the message says why)."""


def relaxed_flops(pi: np.ndarray, widths, obs_dim: int, act_dim: int) -> float:
    """Return the FLOPs of the expected architecture under pi (two hidden layers of width c ~ pi)."""
    c = np.asarray(widths, dtype=np.float64)
    mean, second = float(pi @ c), float(pi @ (c * c))
    return 2.0 * (obs_dim * mean + second + 2 * act_dim * mean) + ACTOR_CONSTANT


def relaxed_flops_grad(widths, obs_dim: int, act_dim: int) -> np.ndarray:
    """Return d relaxed_flops / d pi (constant: the FLOPs are linear in the moments of pi)."""
    c = np.asarray(widths, dtype=np.float64)
    return 2.0 * (obs_dim * c + c * c + 2 * act_dim * c)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def softmax_backward(p: np.ndarray, d_p: np.ndarray) -> np.ndarray:
    """Return d L / d logits of p = softmax(logits), given d L / d p."""
    return p * (d_p - float(p @ d_p))


class WidthSupernet:
    """An actor of the widest candidate width whose hidden units are masked by a mixture of widths."""

    def __init__(self, obs_dim: int, act_dim: int, widths, rng: np.random.Generator):
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.widths = tuple(int(w) for w in widths)
        top = max(self.widths)
        self.net = MLP([obs_dim, top, top, 2 * act_dim], "relu", rng=rng)
        self.masks = (np.arange(top)[None, :] < np.asarray(self.widths)[:, None]).astype(DTYPE)   # (K, W)

    def forward(self, x: np.ndarray, p: np.ndarray):
        """Return the head (B, 2A) of the mixture p (K,) of widths, and what backward needs."""
        (w1, b1), (w2, b2), (w3, b3) = [(self.net.params[2 * i][0], self.net.params[2 * i + 1][0, 0])
                                        for i in range(3)]
        m = (np.asarray(p, DTYPE) @ self.masks).astype(DTYPE)
        z1 = x @ w1 + b1
        h1 = np.maximum(z1, 0.0)
        g1 = h1 * m
        z2 = g1 @ w2 + b2
        h2 = np.maximum(z2, 0.0)
        g2 = h2 * m
        out = g2 @ w3 + b3
        return out, (x, m, z1, h1, g1, z2, h2, g2)

    def backward(self, cache, d_out: np.ndarray) -> np.ndarray:
        """Write the weights' gradients into net.grad; return d L / d p (K,)."""
        x, m, z1, h1, g1, z2, h2, g2 = cache
        (w1, _), (w2, _), (w3, _) = [(self.net.params[2 * i][0], None) for i in range(3)]
        gr = self.net.grads
        gr[4][0] = g2.T @ d_out
        gr[5][0, 0] = d_out.sum(0)
        d_g2 = d_out @ w3.T
        d_m = (d_g2 * h2).sum(0)
        d_z2 = d_g2 * m * (z2 > 0)
        gr[2][0] = g1.T @ d_z2
        gr[3][0, 0] = d_z2.sum(0)
        d_g1 = d_z2 @ w2.T
        d_m += (d_g1 * h1).sum(0)
        d_z1 = d_g1 * m * (z1 > 0)
        gr[0][0] = x.T @ d_z1
        gr[1][0, 0] = d_z1.sum(0)
        return self.masks @ d_m

    def kl_loss_and_grad(self, teacher_heads, obs: np.ndarray, p: np.ndarray):
        """Mean KL(teacher || mixture p) over obs; the weights' gradient in net.grad; returns (kl, d kl / d p)."""
        out, cache = self.forward(obs, p)
        kl, d_out = head_kl(teacher_heads, out, self.act_dim)
        return float(kl.mean()), self.backward(cache, (d_out / obs.shape[0]).astype(DTYPE))


@dataclass(frozen=True)
class SearchConfig:
    widths: tuple = DEFAULT_WIDTHS
    flops_lambda: float = 1.0
    """weight of the FLOPs term, per teacher's FLOPs (or per budget, with flops_budget)"""
    flops_budget: float | None = None
    """FLOPs per inference: the penalty is only on the expected FLOPs above it (a hinge)"""
    states: int = 20_000
    """states the teacher visits, acting with its exploration noise"""
    updates: int = 6_000
    warmup: int = 2_000
    """first updates with a candidate drawn uniformly for each (its one-hot mask) and the
    architecture fixed: the shared weights learn every width before the architecture is judged"""
    batch_size: int = 256
    lr: float = 1e-3
    arch_lr: float = 0.05
    tau_start: float = 5.0
    tau_end: float = 0.1


def teacher_states(cfg, teacher: Teacher, n: int, seed: int) -> np.ndarray:
    """States of the teacher's own (noisy) episodes on the task, n of them."""
    rng = np.random.default_rng(seed)
    env = cfg.spec.make_env(seed=seed, episode_steps=cfg.episode_steps)
    obs, out = env.reset(), []
    while len(out) < n:
        out.append(obs)
        a = teacher.actor.act(np.asarray(obs, DTYPE), deterministic=False,
                              noise=rng.standard_normal(cfg.spec.act_dim, dtype=DTYPE))
        obs, _, terminated, truncated = env.step(a)
        if terminated or truncated:
            obs = env.reset()
    return np.asarray(out, dtype=DTYPE)


def search(cfg, teacher: Teacher, config: SearchConfig, seed: int = 0, states: np.ndarray | None = None) -> dict:
    """Run the width search for the teacher of `cfg`'s task; return the chosen width and the frontier."""
    spec = cfg.spec
    widths = tuple(sorted(int(w) for w in config.widths))
    if len(widths) < 2 or widths[0] < 1:
        raise SearchError(f"the search needs at least two candidate widths >= 1, got {widths}")
    if config.flops_budget is not None and config.flops_budget < actor_flops(spec.obs_dim, spec.act_dim, widths[0]):
        raise SearchError(f"a budget of {config.flops_budget:g} FLOPs is below the narrowest candidate's "
                          f"{actor_flops(spec.obs_dim, spec.act_dim, widths[0])} (width {widths[0]})")
    rng_init, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    t0 = time.perf_counter()
    if states is None:
        states = teacher_states(cfg, teacher, config.states, seed=20_000 + seed)
    heads = teacher.gaussians(states)
    net = WidthSupernet(spec.obs_dim, spec.act_dim, widths, rng_init)
    opt = Adam(net.net.theta, config.lr)
    alpha = np.zeros(len(widths))
    arch_opt = Adam(alpha, config.arch_lr)
    teacher_flops = actor_flops(spec.obs_dim, spec.act_dim, teacher.actor.net.sizes[1])
    d_flops = relaxed_flops_grad(widths, spec.obs_dim, spec.act_dim)
    history = []
    span = max(1, config.updates - config.warmup)
    for u in range(config.updates):
        idx = rng.integers(0, len(states), config.batch_size)
        batch_heads = (heads[0][idx], heads[1][idx])
        searching = u >= config.warmup
        if searching:
            tau = config.tau_start * (config.tau_end / config.tau_start) ** ((u - config.warmup) / span)
            g = -np.log(-np.log(rng.uniform(1e-12, 1.0, len(widths))))
            p = softmax((alpha + g) / tau)
        else:   # one candidate at a time, uniformly: every width's weights learn before any is judged
            tau, p = config.tau_start, np.eye(len(widths))[rng.integers(len(widths))]
        kl, d_p = net.kl_loss_and_grad(batch_heads, states[idx], p)
        opt.step(net.net.grad)
        pi = softmax(alpha)
        f = relaxed_flops(pi, widths, spec.obs_dim, spec.act_dim)
        if config.flops_budget is None:
            scale, active = teacher_flops, True
        else:
            scale, active = config.flops_budget, f > config.flops_budget
        if searching:
            d_alpha = softmax_backward(p, d_p) / tau
            if active:
                d_alpha = d_alpha + config.flops_lambda / scale * softmax_backward(pi, d_flops)
            arch_opt.step(d_alpha.astype(alpha.dtype))
        if u % 200 == 0 or u == config.updates - 1:
            history.append({"update": u, "kl": round(kl, 5), "tau": round(float(tau), 4),
                            "expected_flops": round(f, 1), "pi": [round(float(x), 4) for x in softmax(alpha)]})
    # the frontier: each candidate alone (one-hot mask) on all the states, with the shared weights
    frontier = []
    for k, w in enumerate(widths):
        onehot = np.eye(len(widths))[k]
        out, _ = net.forward(states, onehot)
        n, log_s, _ = gaussian_heads(out, spec.act_dim)
        frontier.append({"width": w, "flops": actor_flops(spec.obs_dim, spec.act_dim, w),
                         "kl": float(gaussian_kl(heads[0], heads[1], n, log_s).mean())})
    chosen = widths[int(np.argmax(alpha))]
    return {"widths": list(widths), "chosen_width": chosen,
            "chosen_flops": actor_flops(spec.obs_dim, spec.act_dim, chosen), "teacher_flops": teacher_flops,
            "pi": [float(x) for x in softmax(alpha)], "frontier": frontier, "history": history,
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()},
            "states": int(len(states)), "seed": seed, "wall_time_s": round(time.perf_counter() - t0, 1)}
