"""
A2D: the closed-form KL and the Q MSE with their gradients, the relaxed FLOPs, the width supernet, the search.

Gradients are checked against central differences; the search must pick the width a teacher needs
when FLOPs are cheap and the narrowest when they are dear.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asym_control.a2d.distillation import DistillConfig, Distillation, Teacher, gaussian_kl, gaussian_kl_grad
from asym_control.a2d.search import (SearchConfig, WidthSupernet, relaxed_flops, search, softmax, softmax_backward)
from asym_control.flops import actor_flops
from asym_control.learning.nets import DTYPE, MLP
from asym_control.learning.policies import SquashedGaussianActor
from clirun import asym_cli   # noqa: I100 - the tests' own helper

ROOT = Path(__file__).resolve().parent.parent


def test_the_closed_form_kl_is_the_sampled_one_and_its_gradient_is_right():
    rng = np.random.default_rng(0)
    m, n = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    log_t, log_s = rng.normal(scale=0.5, size=(4, 3)), rng.normal(scale=0.5, size=(4, 3))
    kl = gaussian_kl(m, log_t, n, log_s)
    assert np.allclose(gaussian_kl(m, log_t, m, log_t), 0.0) and (kl > 0).all()
    # E_teacher[log p_t(x) - log p_s(x)] by sampling, 400k draws per row
    x = m[:, None] + np.exp(log_t)[:, None] * rng.standard_normal((4, 400_000, 3))

    def logp(x, mu, ls):
        return (-0.5 * ((x - mu[:, None]) / np.exp(ls)[:, None]) ** 2 - ls[:, None]).sum(-1)
    sampled = (logp(x, m, log_t) - logp(x, n, log_s)).mean(1)
    np.testing.assert_allclose(kl, sampled, atol=0.02)
    d_n, d_log_s = gaussian_kl_grad(m, log_t, n, log_s)
    eps = 1e-6
    for arr, grad in ((n, d_n), (log_s, d_log_s)):
        for idx in [(0, 0), (2, 1), (3, 2)]:
            arr[idx] += eps
            up = gaussian_kl(m, log_t, n, log_s)[idx[0]]
            arr[idx] -= 2 * eps
            down = gaussian_kl(m, log_t, n, log_s)[idx[0]]
            arr[idx] += eps
            assert (up - down) / (2 * eps) == pytest.approx(grad[idx], rel=1e-5, abs=1e-8)


def _numeric(f, theta, idx, eps=3e-3):
    theta[idx] += eps
    up = f()
    theta[idx] -= 2 * eps
    down = f()
    theta[idx] += eps
    return (up - down) / (2 * eps)


def test_the_distillation_terms_gradients_are_the_central_differences_of_their_losses():
    rng = np.random.default_rng(1)
    obs_dim, act_dim = 5, 2
    teacher = Teacher(SquashedGaussianActor(obs_dim, act_dim, 16, "relu", rng),
                      MLP([obs_dim + act_dim, 16, 16, 1], "relu", ensemble=2, rng=rng))
    d = Distillation(teacher, DistillConfig(actor_coef=1.0, critic_coef=1.0))
    student = SquashedGaussianActor(obs_dim, act_dim, 8, "relu", rng)
    critic = MLP([obs_dim + act_dim, 8, 8, 1], "relu", ensemble=2, rng=rng)
    obs = rng.normal(size=(64, obs_dim)).astype(DTYPE)
    act = rng.uniform(-1, 1, size=(64, act_dim)).astype(DTYPE)

    def kl():
        return Distillation(teacher, d.config).actor_loss_and_grad(student, obs)

    def q_half_sum():   # sum over the twin critics of mean_b (Q_k - Q_t)^2 / 2 = mean over k and b of (Q_k - Q_t)^2
        return Distillation(teacher, d.config).critic_loss_and_grad(critic, obs, act)
    student.net.grad.fill(0.0)
    d.actor_loss_and_grad(student, obs)
    g_actor = student.net.grad.copy()
    critic.grad.fill(0.0)
    d.critic_loss_and_grad(critic, obs, act)
    g_critic = critic.grad.copy()
    for idx in rng.choice(student.net.theta.size, 12, replace=False):
        num = _numeric(kl, student.net.theta, idx)
        assert num == pytest.approx(g_actor[idx], rel=0.05, abs=2e-3), idx
    for idx in rng.choice(critic.theta.size, 12, replace=False):
        num = _numeric(q_half_sum, critic.theta, idx)
        assert num == pytest.approx(g_critic[idx], rel=0.05, abs=2e-3), idx


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7).filter(lambda x: sum(x) > 1e-3),
       st.integers(1, 40), st.integers(1, 12))
def test_the_relaxed_flops_are_the_expected_flops_and_the_exact_ones_at_a_one_hot(weights, obs_dim, act_dim):
    widths = (4, 8, 16, 32, 64, 128, 256)
    p = np.asarray(weights) / sum(weights)
    expected = sum(pk * actor_flops(obs_dim, act_dim, w) for pk, w in zip(p, widths))
    assert relaxed_flops(p, widths, obs_dim, act_dim) == pytest.approx(expected, rel=1e-12)
    for k, w in enumerate(widths):
        assert relaxed_flops(np.eye(7)[k], widths, obs_dim, act_dim) == actor_flops(obs_dim, act_dim, w)


def test_the_supernet_at_a_one_hot_is_the_actor_of_that_width_and_its_gradients_are_right():
    rng = np.random.default_rng(2)
    widths = (4, 8, 16)
    net = WidthSupernet(6, 2, widths, rng)
    x = rng.normal(size=(10, 6)).astype(DTYPE)
    for k, c in enumerate(widths):
        plain = SquashedGaussianActor(6, 2, c, "relu")
        (w1, b1), (w2, b2), (w3, b3) = [(net.net.params[2 * i][0], net.net.params[2 * i + 1][0, 0]) for i in range(3)]
        for i, (w, b) in enumerate(((w1[:, :c], b1[:c]), (w2[:c, :c], b2[:c]), (w3[:c], b3))):
            plain.net.params[2 * i][0][...] = w
            plain.net.params[2 * i + 1][0, 0][...] = b
        out, _ = net.forward(x, np.eye(3)[k])
        np.testing.assert_allclose(out, plain.net.forward(x)[0], rtol=1e-5, atol=1e-5)
    # d KL / d p and d KL / d theta at a mixture
    teacher = SquashedGaussianActor(6, 2, 16, "relu", rng)
    heads = Teacher(teacher, None).gaussians(x)
    p = np.array([0.2, 0.5, 0.3])
    _, d_p = net.kl_loss_and_grad(heads, x, p)
    g = net.net.grad.copy()
    for k in range(3):
        e = np.zeros(3)
        e[k] = 1e-3
        num = (net.kl_loss_and_grad(heads, x, p + e)[0] - net.kl_loss_and_grad(heads, x, p - e)[0]) / 2e-3
        assert num == pytest.approx(d_p[k], rel=0.02, abs=1e-3)

    def loss():
        return net.kl_loss_and_grad(heads, x, p)[0]
    for idx in rng.choice(net.net.theta.size, 10, replace=False):
        assert _numeric(loss, net.net.theta, idx) == pytest.approx(g[idx], rel=0.05, abs=2e-3)
    # the softmax's backward
    logits = rng.normal(size=3)
    d = rng.normal(size=3)
    num = [(d @ softmax(logits + e) - d @ softmax(logits - e)) / 2e-6 for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(softmax_backward(softmax(logits), d), num, rtol=1e-4, atol=1e-8)


def test_the_search_picks_the_width_a_teacher_needs_when_flops_are_cheap_and_the_narrowest_when_dear():
    from asym_control.training.config import TrainConfig

    rng = np.random.default_rng(3)
    cfg = TrainConfig(task="walker-stand", mode="large")
    teacher_actor = SquashedGaussianActor(24, 6, 64, "relu", rng)
    teacher_actor.net.theta *= 3.0                         # a teacher no narrow actor imitates well
    states = rng.normal(size=(4000, 24)).astype(DTYPE)
    small = SearchConfig(widths=(4, 8, 16, 64), flops_lambda=0.0, updates=2500, warmup=1000)
    cheap = search(cfg, Teacher(teacher_actor, None), small, states=states)
    assert cheap["chosen_width"] == 64, cheap["pi"]
    dear = search(cfg, Teacher(teacher_actor, None), SearchConfig(widths=(4, 8, 16, 64), flops_lambda=1e3,
                                                                  updates=2500, warmup=1000), states=states)
    assert dear["chosen_width"] == 4, dear["pi"]
    assert cheap["frontier"][-1]["kl"] < cheap["frontier"][0]["kl"]   # the wide candidate fits the teacher better


def _cli(*args, timeout=600):
    return asym_cli(*args, timeout=timeout, env={"OMP_NUM_THREADS": "1"})


def test_search_and_a2d_distillation_from_the_command_line(tmp_path):
    teacher = tmp_path / "teacher"
    r = _cli("train", "--task", "walker-stand", "--mode", "large", "--steps", "600", "--learning-starts", "200",
             "--episode-steps", "100", "--eval-every", "0", "--checkpoint-every", "300", "--out", str(teacher),
             "--no-progress")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "search"
    r = _cli("search", "--teacher", str(teacher), "--out", str(out), "--widths", "4,8,16", "--search-updates", "300",
             "--states", "500", "--steps", "400", "--eval-episodes", "1", "--results", str(tmp_path / "results"))
    assert r.returncode == 0, r.stderr
    found = json.loads((out / "search.json").read_text())
    assert found["chosen_width"] in (4, 8, 16) and len(found["frontier"]) == 3
    assert f"width {found['chosen_width']}" in r.stdout and "--small" in r.stdout
    student = json.loads((out / "student" / "distill.json").read_text())
    assert student["method"] == "a2d" and student["width"] == found["chosen_width"]
    assert student["distillation"] == {"actor_coef": 1.0, "critic_coef": 1.0}
    results = list((tmp_path / "results").glob("walker-stand-a2d-*.json"))
    assert len(results) == 1
    r = _cli("eval", str(out / "student"), "--episodes", "1")
    assert r.returncode == 0, r.stderr


def test_a2d_without_the_teachers_critics_and_a_search_with_bad_input_are_refused(tmp_path):
    shipped = ROOT / "checkpoints" / "walker-stand" / "large"       # a policy without its training checkpoint
    r = _cli("distill", "--teacher", str(shipped), "--method", "a2d", "--width", "8", "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "training checkpoint" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _cli("search", "--teacher", str(shipped), "--out", str(tmp_path / "x"))      # a2d after the search
    assert r.returncode == 2 and "training checkpoint" in r.stderr and not (tmp_path / "x").exists(), r.stderr
    r = _cli("search", "--teacher", str(shipped), "--out", str(tmp_path / "x"), "--widths", "8", "--steps", "0")
    assert r.returncode == 2 and "at least two candidate widths" in r.stderr, r.stderr
    r = _cli("search", "--teacher", str(shipped), "--out", str(tmp_path / "x"), "--flops-budget", "10", "--steps", "0")
    assert r.returncode == 2 and "below the narrowest" in r.stderr, r.stderr
    r = _cli("search", "--teacher", str(shipped), "--out", str(tmp_path / "x"), "--widths", "4,a")
    assert r.returncode == 2 and "--widths" in r.stderr, r.stderr
