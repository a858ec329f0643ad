"""The baselines of Table IV: matched widths, the teacher's demonstrations, BC and GAIL learning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asym_control.baselines.imitation import (BCConfig, Demonstrations, Discriminator, GAILConfig, ImitationError,
                                              bc_loss_and_grad, collect_demonstrations, train_bc, train_gail)
from asym_control.baselines.matched import MatchError, average_flops, matched_width
from asym_control.flops import actor_flops
from asym_control.learning.nets import DTYPE
from asym_control.learning.policies import SquashedGaussianActor
from asym_control.learning.sac import SAC, SACConfig

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "trials"


def test_the_matched_width_is_the_one_whose_flops_are_nearest():
    for obs_dim, act_dim in ((24, 6), (9, 2), (2, 1), (105, 8)):
        for w in range(1, 300):
            f = actor_flops(obs_dim, act_dim, w)
            assert matched_width(obs_dim, act_dim, f) == w
            # anywhere between two widths: the nearer of the two
            g = actor_flops(obs_dim, act_dim, w + 1)
            assert matched_width(obs_dim, act_dim, f + 0.4 * (g - f)) == w
            assert matched_width(obs_dim, act_dim, f + 0.6 * (g - f)) == w + 1
    assert matched_width(24, 6, 1.0) == 1
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(MatchError, match="positive"):
            matched_width(24, 6, bad)


def test_the_average_flops_come_from_the_agents_evaluations():
    evals = [{"mode": "asym", "flops_per_inference": 2000.0}, {"mode": "asym", "flops_per_inference": 3000.0},
             {"mode": "large", "flops_per_inference": 9000.0}]
    assert average_flops(evals) == (2500.0, [2000.0, 3000.0])
    with pytest.raises(MatchError, match="asymmetric"):
        average_flops(evals[2:])


def _directional_check(loss_fn, net, rng, eps=1e-3):
    """Compare the analytic gradient with central differences along three random directions."""
    loss_fn()
    g = net.grad.copy()
    theta0 = net.theta.copy()
    for _ in range(3):
        d = rng.standard_normal(theta0.shape).astype(DTYPE)
        d /= np.linalg.norm(d)
        net.theta[...] = theta0 + eps * d
        up = loss_fn()
        net.theta[...] = theta0 - eps * d
        down = loss_fn()
        net.theta[...] = theta0
        numeric = (up - down) / (2 * eps)
        assert abs(numeric - float(g @ d)) < 2e-2 * max(1e-3, abs(numeric)) + 1e-4, (numeric, float(g @ d))


def test_bc_and_discriminator_gradients_are_right():
    rng = np.random.default_rng(0)
    actor = SquashedGaussianActor(5, 3, 16, "relu", rng)
    obs = rng.standard_normal((64, 5)).astype(DTYPE)
    target = np.tanh(rng.standard_normal((64, 3))).astype(DTYPE)
    _directional_check(lambda: bc_loss_and_grad(actor, obs, target), actor.net, rng)
    disc = Discriminator(5, 3, 16, 1e-3, rng)
    a2 = np.tanh(rng.standard_normal((64, 3))).astype(DTYPE)
    _directional_check(lambda: disc.loss_and_grad(obs, target, obs, a2), disc.net, rng)


def test_behaviour_cloning_copies_a_teacher():
    rng = np.random.default_rng(1)
    teacher = SquashedGaussianActor(4, 2, 16, "relu", rng)
    obs = rng.uniform(-1, 1, (1250, 4)).astype(DTYPE)          # 25 x 50 pairs, the paper's protocol
    demos = Demonstrations(obs, teacher.act(obs, deterministic=True), 25, 50, [0.0] * 25)
    student = SquashedGaussianActor(4, 2, 16, "relu", np.random.default_rng(2))
    held_out = rng.uniform(-1, 1, (500, 4)).astype(DTYPE)

    def error():
        return float(np.mean((student.act(held_out, True) - teacher.act(held_out, True)) ** 2))
    before = error()
    losses = train_bc(demos, student, BCConfig(updates=3000), np.random.default_rng(3))
    assert losses[-1] < 0.1 * losses[0]
    assert error() < 0.1 * before and error() < 5e-3


def test_the_discriminator_learns_to_tell_the_teacher_from_the_student():
    rng = np.random.default_rng(4)
    disc = Discriminator(2, 1, 32, 1e-3, rng)
    for _ in range(1500):
        o = rng.uniform(-1, 1, (128, 2)).astype(DTYPE)
        teacher_a = (0.5 * o[:, :1]).astype(DTYPE)
        student_a = rng.uniform(-1, 1, (128, 1)).astype(DTYPE)
        disc.update(o, teacher_a, o, student_a)
    o = rng.uniform(-1, 1, (1000, 2)).astype(DTYPE)
    far = np.clip(0.5 * o[:, :1] + np.where(o[:, :1] > 0, -0.8, 0.8), -1, 1).astype(DTYPE)
    # the teacher's pairs earn the generator a higher reward than pairs far from them
    assert np.mean(disc.reward(o, 0.5 * o[:, :1]) > disc.reward(o, far)) > 0.9


class _Bandit:
    """One-step episodes: x ~ U(-1, 1), the teacher answers -0.8 x; the task reward is never used."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.x = self.rng.uniform(-1, 1, 1).astype(DTYPE)
        return self.x

    def step(self, action):
        return self.x, -float(abs(action[0] + 0.8 * self.x[0])), True, False


def test_gail_learns_the_teachers_behaviour_from_its_pairs_alone():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1250, 1)).astype(DTYPE)
    demos = Demonstrations(x, (-0.8 * x).astype(DTYPE), 25, 50, [0.0] * 25)
    sac = SAC(1, 1, SACConfig(units=16, batch_size=64), np.random.default_rng(6))
    disc = Discriminator(1, 1, 32, 3e-4, np.random.default_rng(7))
    grid = np.linspace(-0.9, 0.9, 19, dtype=DTYPE)[:, None]

    def error():
        return float(np.mean(np.abs(sac.actor.act(grid, True)[:, 0] + 0.8 * grid[:, 0])))
    errors = []
    before = error()
    config = GAILConfig(steps=8000, learning_starts=200, disc_batch=64, disc_every=1)   # a one-step task
    stats = train_gail(_Bandit(8), demos, sac, disc, config, np.random.default_rng(9),
                       on_step=lambda s: s % 1000 or errors.append(error()))
    # adversarial training oscillates once the generator matches (the discriminator is then
    # confused, and SAC's entropy term pushes the action around): judged over its second half
    assert before > 0.3 and min(errors[4:]) < 0.03 and np.mean(errors[4:]) < 0.1, (before, errors)
    # the task's return (never learned from) follows, exploration noise included: from random
    # actions' (about -0.55) towards the teacher's 0
    r = stats["episode_returns"]
    assert np.mean(r[:200]) < -0.4 and np.mean(r[-4000:]) > -0.25


def test_demonstrations_are_windows_of_the_teachers_own_steps():
    from asym_control.training.checkpoint import load_policy
    cfg, policy = load_policy(ROOT / "checkpoints" / "walker-stand" / "large")
    demos = collect_demonstrations(cfg, policy, trajectories=2, length=50, seed=3)
    assert demos.obs.shape == (100, cfg.spec.obs_dim) and demos.action.shape == (100, cfg.spec.act_dim)
    # every pair is the teacher's deterministic answer to that observation
    np.testing.assert_allclose(demos.action, policy.act(policy.select(demos.obs[0]), demos.obs), atol=1e-6)
    assert len(demos.teacher_returns) == 2 and min(demos.teacher_returns) > 500
    with pytest.raises(ImitationError, match="fewer than the window"):
        collect_demonstrations(cfg, policy, trajectories=1, length=2000, seed=3)


def _cli(*args):
    from clirun import asym_cli
    return asym_cli(*args)


def test_distill_makes_a_run_folder_that_evaluates_as_any_other(tmp_path):
    import json
    teacher = str(ROOT / "checkpoints" / "walker-stand" / "large")
    r = _cli("distill", "--teacher", teacher, "--method", "gail", "--width", "12", "--steps", "1200",
             "--eval-every", "1200", "--eval-episodes", "2", "--trajectories", "2", "--out", str(tmp_path / "g"),
             "--results", str(tmp_path / "results"), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["method"] == "gail" and summary["width"] == 12
    assert summary["flops_per_inference"] == actor_flops(24, 6, 12)
    assert summary["demonstrations"] == {"trajectories": 2, "length": 50, "pairs": 100, "seed": 10_000}
    assert [json.loads(x)["step"] for x in (tmp_path / "g" / "evals.jsonl").read_text().splitlines()] == [1200]
    # the student is an L-only policy of its width: the evaluator takes it, and agrees
    e = _cli("eval", str(tmp_path / "g"), "--episodes", "2", "--seed", "0", "--json")
    assert e.returncode == 0, e.stderr
    ev = json.loads(e.stdout)
    assert ev["mode"] == "large" and ev["flops_per_inference"] == actor_flops(24, 6, 12)
    assert ev["return_mean"] == pytest.approx(summary["eval"]["return_mean"])
    # and its result file joins a results folder as a trial of mode gail, width 12
    from asym_control.experiments.results import load
    [res] = load(tmp_path / "results")
    assert res["trial"] == {"task": "walker-stand", "mode": "gail", "seed": 0, "steps": 1200, "cost_lambda": None,
                            "n_omega": None, "train_args": ["--width", "12"]}
    assert res["eval"]["return_mean"] == summary["eval"]["return_mean"] and len(res["curve"]) == 1


@pytest.mark.parametrize("args, message", [
    ([], "give the student's width"),
    (["--width", "8", "--match", str(RESULTS)], "give the student's width"),
    (["--match", str(RESULTS)], "choose one with --match-args"),
    (["--match", str(RESULTS), "--match-args=--no-such-flag"], "no results of the asymmetric agent"),
    (["--width", "8", "--length", "5000"], "fewer than the window"),
])
def test_distill_refuses_what_it_cannot_do_with_the_reason(args, message, tmp_path):
    r = _cli("distill", "--teacher", str(ROOT / "checkpoints" / "walker-stand" / "large"), "--method", "bc",
             "--out", str(tmp_path / "s"), "--trajectories", "1", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_missing_teacher_is_refused_with_the_reason(tmp_path):
    r = _cli("distill", "--teacher", str(tmp_path / "none"), "--method", "bc", "--width", "8",
             "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_flops_names_the_width_matched_to_the_agents_results():
    import json
    args = "--schedule paper --cost-free 100000 --cost-warmup 100000 --exploration-steps 200000 --exploration-hold 10"
    r = _cli("flops", "--task", "walker-stand", "--match", str(RESULTS), f"--match-args={args}",
             "--match-steps", "300000")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["matched"]
    files = [json.loads(p.read_text()) for p in RESULTS.glob("walker-stand-asym-*.json")]
    want = sorted(f["eval"]["flops_per_inference"] for f in files
                  if f["trial"]["steps"] == 300000 and " ".join(f["trial"]["train_args"]) == args)
    assert len(want) == 3 and sorted(m["per_seed"]) == pytest.approx(want)
    assert m["width"] == matched_width(24, 6, float(np.mean(want)))
    assert m["width_flops"] == actor_flops(24, 6, m["width"])


def test_the_match_takes_n_omega_and_lambda_from_the_flags_and_the_defaults_without_them():
    import json
    files = [json.loads(p.read_text()) for p in RESULTS.glob("walker-stand-asym-*.json")]
    # flags that name no schedule mean train's default, as a sweep names its trials
    for args, n_omega in (("--schedule curriculum", None), ("", None), ("--schedule curriculum --n-omega 10", 10),
                          ("--n-omega 10", 10)):
        want = sorted(f["eval"]["flops_per_inference"] for f in files if f["trial"]["steps"] == 300000
                      and f["trial"]["train_args"] == ["--schedule", "curriculum"] and f["trial"]["n_omega"] == n_omega
                      and f["trial"]["cost_lambda"] is None)
        r = _cli("flops", "--task", "walker-stand", "--match", str(RESULTS), f"--match-args={args}",
                 "--match-steps", "300000")
        assert r.returncode == 0, r.stderr
        assert len(want) >= 1 and sorted(json.loads(r.stdout)["matched"]["per_seed"]) == pytest.approx(want), args
