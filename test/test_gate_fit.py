"""The gate fitted from paired simulator branches (asym_control.asym.gate_fit, `asym-control fit-gate`)."""

import json

import numpy as np
import pytest

from asym_control.asym.gate_fit import (BranchLabeller, GateFitConfig, GateFitError, choose_gate, cost_gap,
                                        fit_gate, fit_master)
from asym_control.asym.policy import LARGE, SMALL, AsymPolicy
from asym_control.learning.nets import DTYPE, MLP
from asym_control.training.checkpoint import load_policy
from asym_control.training.config import ConfigError, TrainConfig
from clirun import asym_cli as cli
from clirun import tiny_run


def _policy(cfg: TrainConfig, seed: int = 0) -> AsymPolicy:
    rng = np.random.default_rng(seed)
    policy = AsymPolicy(cfg)
    for actor in policy.actors.values():
        actor.net.init(rng)
    policy.master.init(rng)
    return policy


def test_the_fit_learns_where_large_pays():
    """A known rule: large is worth 5 where x0 > 0 and -3 elsewhere, at a cost gap of 1."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2000, 3)).astype(DTYPE)
    adv = np.where(x[:, 0] > 0, 5.0, -3.0)
    fc = GateFitConfig(updates=3000)
    net, stats = fit_master([3, 32, 32, 2], "relu", x, adv, 1.0, fc, np.random.default_rng(1))
    assert stats["held_out"] == 200 and stats["held_out_choice_agreement"] > 0.95
    probe = rng.uniform(-1, 1, (500, 3)).astype(DTYPE)
    q = net.forward(probe)[0]
    choice = q[:, LARGE] > q[:, SMALL]
    assert np.mean(choice == (probe[:, 0] > 0)) > 0.95
    # output small -> 0 and output large -> A - gap: the outputs read as large's net worth
    assert np.median(np.abs(q[:, SMALL])) < 0.3
    assert np.median(q[probe[:, 0] > 0.2, LARGE]) == pytest.approx(4.0, abs=0.5)


def test_mse_fits_the_labels_mean_where_huber_follows_their_median():
    """
    Where x0 > 0, large is worth 10 on a quarter of the states and -1 on the rest: mean 1.75, median -1.

    At a cost gap of 1 large pays there on average (the expected return decides), which the
    squared error's fit sees and the Huber fit, leaning to the median, does not.
    """
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4000, 3)).astype(DTYPE)
    lucky = rng.random(len(x)) < 0.25
    adv = np.where(x[:, 0] > 0, np.where(lucky, 10.0, -1.0), -3.0)
    probe = rng.uniform(-1, 1, (500, 3)).astype(DTYPE)
    right = probe[:, 0] > 0.1
    chosen = {}
    for loss in ("mse", "huber"):
        net, _ = fit_master([3, 32, 32, 2], "relu", x, adv, 1.0, GateFitConfig(updates=3000, loss=loss),
                            np.random.default_rng(1))
        q = net.forward(probe)[0]
        chosen[loss] = q[:, LARGE] > q[:, SMALL]
    assert np.mean(chosen["mse"][right]) > 0.9 and np.mean(chosen["mse"][probe[:, 0] < -0.1]) < 0.1
    assert np.mean(chosen["huber"][right]) < 0.1
    with pytest.raises(GateFitError, match="loss must be one of"):
        GateFitConfig(loss="l1")


def test_a_branch_pair_leaves_the_episode_as_it_was():
    cfg = TrainConfig(task="finger-spin", mode="asym", episode_steps=200)
    policy = _policy(cfg)
    env = cfg.spec.make_env(seed=3, episode_steps=cfg.episode_steps)
    twin = cfg.spec.make_env(seed=3, episode_steps=cfg.episode_steps)
    labeller = BranchLabeller(cfg, policy, env, horizon=40, critic=None)
    obs, obs_twin = env.reset(), twin.reset()
    for t in range(60):
        if t % 5 == 0:
            a = labeller.advantage(obs)
            assert np.isfinite(a)
        action = policy.act(LARGE, obs)
        obs, r, *_ = env.step(action)
        obs_twin, r_twin, *_ = twin.step(action)
        np.testing.assert_array_equal(obs, obs_twin)
        assert r == r_twin


def test_identical_sub_policies_give_no_advantage_and_the_fit_keeps_small():
    """The large actor computes the small one's function (its extra units zero): A(s) = 0, large never pays."""
    cfg = TrainConfig(task="MountainCarContinuous-v0", mode="asym", small_units=4, large_units=8,
                      episode_steps=100, cost_lambda=0.1)
    policy = _policy(cfg)
    small, large = policy.actors[SMALL].net, policy.actors[LARGE].net
    for s, w in zip(small.params, large.params):
        w[...] = 0.0
        w[tuple(slice(0, n) for n in s.shape)] = s
    probe = np.random.default_rng(3).uniform(-1, 1, (50, cfg.spec.obs_dim)).astype(DTYPE)
    for o in probe:
        np.testing.assert_allclose(policy.act(SMALL, o), policy.act(LARGE, o), atol=1e-6)
    policy.master.params[-1][...] = np.array([[[-1.0, 1.0]]], dtype=DTYPE)   # the trained master: always large
    assert policy.select(np.zeros(cfg.spec.obs_dim, dtype=DTYPE)) == LARGE
    units = cfg.large_units
    critic = MLP([cfg.spec.obs_dim + cfg.spec.act_dim, units, units, 1], "relu", ensemble=2,
                 rng=np.random.default_rng(2))
    fc = GateFitConfig(rounds=2, labels=20, horizon=10, updates=300)
    fitted, history, choice = fit_gate(cfg, policy, critic, fc)
    assert choice is None                               # without validation: the last round's fit
    assert [h["round"] for h in history] == [0, 1]
    assert history[0]["large_fraction"] == 1.0          # labelled under the trained master's choice
    assert history[0]["labels_large_pays"] == 0.0
    assert history[1]["large_fraction"] == 0.0          # the second round ran the first fit: small
    assert history[1]["labels"] == 2 * history[0]["labels"] == 40
    assert all(fitted.select(o) == SMALL for o in probe)
    assert cost_gap(cfg, policy) == pytest.approx(cfg.cost_lambda * 5 * (policy.costs.c_large - policy.costs.c_small))
    # validated: the fits return what the trained master does for less, so a fit is kept, not the master
    _, _, choice = fit_gate(cfg, policy, critic, GateFitConfig(rounds=2, labels=20, horizon=10, updates=300,
                                                               validate=100))
    names = [c["candidate"] for c in choice["candidates"]]
    assert names == ["trained master", "fit of round 0", "fit of round 1"]
    assert choice["chosen"] != "trained master"
    master, fit0 = choice["candidates"][:2]
    assert master["large_fraction"] == 1.0 and fit0["large_fraction"] == 0.0
    assert master["return_mean"] == pytest.approx(fit0["return_mean"], abs=1e-4)
    assert fit0["objective"] > master["objective"]


def test_the_validation_keeps_the_best_objective_over_the_same_episodes():
    """
    MountainCarContinuous, 100-step episodes: small pushes at almost full power, large does nothing.

    Small's return is -0.1 a^2 per step (the car stays in the valley), large's 0; lambda decides
    whether large's FLOPs are worth the difference. Two gates that act alike score alike, to
    the bit, since every candidate runs the same episodes; a tie goes to the later one.
    """
    a = float(np.tanh(3.0))
    for lam, want in ((1e-6, "always large"), (1.0, "twin of always small")):
        cfg = TrainConfig(task="MountainCarContinuous-v0", mode="asym", small_units=4, large_units=8,
                          episode_steps=100, cost_lambda=lam)
        policy = _policy(cfg)
        for option in (SMALL, LARGE):
            for w in policy.actors[option].net.params:
                w[...] = 0.0
        policy.actors[SMALL].net.params[-1][..., 0] = 3.0           # the mean action's bias: tanh(3)
        candidates = [("always small", policy.forced(SMALL)), ("always large", policy.forced(LARGE)),
                      ("twin of always small", policy.forced(SMALL))]
        chosen, choice = choose_gate(cfg, candidates, GateFitConfig(validate=250))
        small, large, twin = choice["candidates"]
        assert small["episodes"] == large["episodes"] == 3            # 250 steps of 100-step episodes
        assert small["return_mean"] == pytest.approx(-0.1 * a * a * 100, rel=1e-3)
        assert large["return_mean"] == 0.0 and large["large_fraction"] == 1.0
        c = policy.costs
        assert large["cost_per_episode"] == pytest.approx(lam * 100 * c.c_large)
        assert small["objective"] == pytest.approx(small["return_mean"] - lam * 100 * c.c_small)
        assert {k: v for k, v in twin.items() if k != "candidate"} == \
            {k: v for k, v in small.items() if k != "candidate"}
        assert choice["chosen"] == want and chosen is dict(candidates)[want]
    with pytest.raises(GateFitError, match="validate"):
        GateFitConfig(validate=-1)


def test_fit_gate_on_a_run_and_its_refusals(tmp_path):
    run = tmp_path / "run"
    r = tiny_run(run, "finger-spin", "asym", 300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "fitted"
    r = cli("fit-gate", str(run), "--out", str(out), "--rounds", "2", "--labels", "10", "--horizon", "8",
            "--updates", "50", "--loss", "mse")
    assert r.returncode == 0, r.stderr
    assert "round 1:" in r.stdout and f"asym-control eval {out}" in r.stdout
    record = json.loads((out / "gate_fit.json").read_text())
    assert record["critic_checkpoint_step"] == 300 and record["config"]["horizon"] == 8
    assert record["config"]["loss"] == "mse" and load_policy(out)[0].fit_gate_loss == "mse"
    assert [h["labels"] for h in record["rounds"]] == [10, 20]      # 10 decisions per 50-step episode
    assert record["command"].startswith("asym-control fit-gate") and record["wall_time_s"] > 0
    _, fitted = load_policy(out)
    _, trained = load_policy(run)
    probe = np.zeros(9, dtype=DTYPE)
    for option in (SMALL, LARGE):
        assert np.array_equal(fitted.act(option, probe), trained.act(option, probe))   # the sub-policies as trained
    assert not np.array_equal(fitted.q_values(probe), trained.q_values(probe))
    ev = cli("eval", str(out), "--episodes", "1", "--json")
    assert ev.returncode == 0, ev.stderr
    assert 0.0 <= json.loads(ev.stdout)["large_fraction"] <= 1.0

    def refused(*args, says):
        p = cli("fit-gate", *args)
        assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, p.stderr

    refused(str(run), "--out", str(run), says="another folder")
    refused(str(run), "--out", str(out), says="already holds a policy")
    refused(str(run), "--out", str(tmp_path / "x"), "--horizon", "0", says="--horizon")
    refused(str(run), "--out", str(tmp_path / "x"), "--loss", "l1", says="--loss")
    large = tmp_path / "large"
    r = tiny_run(large, "finger-spin", "large", 60)
    assert r.returncode == 0, r.stderr
    refused(str(large), "--out", str(tmp_path / "y"), "--no-tail", says="no master")
    # without its training checkpoint there is no critic to close the branches with
    import shutil
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "policy.safetensors"):
        shutil.copy(run / f, bare / f)
    refused(str(bare), "--out", str(tmp_path / "z"), says="--no-tail")
    r = cli("fit-gate", str(bare), "--out", str(tmp_path / "z"), "--no-tail", "--rounds", "1", "--labels", "10",
            "--horizon", "5", "--updates", "10", "--validate", "60")
    assert r.returncode == 0, r.stderr
    choice = json.loads((tmp_path / "z" / "gate_fit.json").read_text())["validation"]
    assert [c["candidate"] for c in choice["candidates"]] == ["trained master", "fit of round 0"]
    assert all(c["episodes"] == 2 for c in choice["candidates"])     # 60 steps of 50-step episodes
    assert f"kept: the {choice['chosen']}" in r.stdout
    kept_master = np.array_equal(load_policy(tmp_path / "z")[1].q_values(probe), trained.q_values(probe))
    assert kept_master == (choice["chosen"] == "trained master")
    refused(str(bare), "--out", str(tmp_path / "w"), "--no-tail", "--validate", "-1", says="--validate")
    assert json.loads((tmp_path / "z" / "gate_fit.json").read_text())["critic_checkpoint_step"] is None


def test_a_task_without_a_restorable_simulator_is_refused():
    cfg = TrainConfig(task="Swimmer-v5", mode="asym", episode_steps=20)
    policy = _policy(cfg)
    with pytest.raises(GateFitError, match="cannot be saved and restored"):
        fit_gate(cfg, policy, None, GateFitConfig(tail=False, rounds=1, labels=1, updates=1))


def test_train_with_fit_gate_fits_in_place_and_keeps_the_td_master(tmp_path, monkeypatch):
    import asym_control.asym.gate_fit as gate_fit
    from asym_control.training.train import train

    monkeypatch.setattr(gate_fit, "TRAIN_FIT", GateFitConfig(rounds=1, labels=10, horizon=5, updates=20))
    # 120 steps of 50-step episodes: the run ends inside its third episode, with no training checkpoint
    cfg = TrainConfig(task="finger-spin", mode="asym", steps=120, episode_steps=50, learning_starts=20,
                      eval_every=0, parallel=False, fit_gate=True, fit_gate_loss="mse")
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    assert not (run / "resume").exists()
    record = json.loads((run / "gate_fit.json").read_text())
    assert record["critic_checkpoint_step"] == 120 and record["rounds"][0]["labels"] == 10
    assert record["config"]["loss"] == "mse"          # --fit-gate-loss reaches the fit; the rest is TRAIN_FIT's
    td_cfg, td = load_policy(run / "td_master")
    fit_cfg, fitted = load_policy(run)
    assert fit_cfg.fit_gate and not td_cfg.fit_gate
    probe = np.linspace(-1, 1, 9, dtype=DTYPE)
    assert np.array_equal(fitted.act(LARGE, probe), td.act(LARGE, probe))
    assert not np.array_equal(fitted.q_values(probe), td.q_values(probe))
    with pytest.raises(ConfigError, match="no master"):
        TrainConfig(task="finger-spin", mode="large", fit_gate=True)
    with pytest.raises(ConfigError, match="only with --fit-gate"):
        TrainConfig(task="finger-spin", mode="asym", fit_gate_loss="mse")


def _runs_to_results():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("runs_to_results", root / "scripts" / "runs_to_results.py")
    r2r = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(r2r)
    return r2r


def test_a_run_by_hand_drops_flags_that_restate_defaults_but_keeps_its_schedule():
    """scripts/runs_to_results.py names the trial a sweep would: `--schedule` stays, first, even at its default."""
    import dataclasses

    from asym_control.experiments.grid import Trial, expand

    r2r = _runs_to_results()
    hand = Trial("walker-stand", "asym", 0, 3000, None, None, ("--exploration-unit", "macro", "--gamma", "0.95",
                                                               "--schedule", "curriculum"))
    assert r2r.without_defaults(hand) == expand(["walker-stand"], ["asym"], [0], 3000,
                                                common_args=["--gamma", "0.95"])[0]
    paper = dataclasses.replace(hand, train_args=("--cost-warmup", "0", "--schedule", "paper"))
    assert r2r.without_defaults(paper).train_args == ("--schedule", "paper")
    l_only = Trial("walker-stand", "large", 0, 3000, None, None, ("--schedule", "paper", "--gamma", "0.95"))
    assert r2r.without_defaults(l_only).train_args == ("--gamma", "0.95")    # no master: no schedule


def test_a_fitted_folder_is_its_source_runs_trial_with_fit_gate(tmp_path):
    """scripts/runs_to_results.py: fit-gate's default settings are train --fit-gate's trial; others are refused."""
    import dataclasses

    from asym_control.asym.gate_fit import TRAIN_FIT
    from asym_control.experiments.grid import Trial
    from asym_control.experiments.results import ResultError

    r2r = _runs_to_results()
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    record = {"source_run": str(src), "config": dataclasses.asdict(TRAIN_FIT), "command": "asym-control fit-gate"}
    (out / "gate_fit.json").write_text(json.dumps(record))
    source, fit = r2r.fitted_source(out)
    assert source == src and fit["command"] == "asym-control fit-gate"
    assert r2r.fitted_source(src) == (src, None)
    hand = Trial("finger-spin", "asym", 0, 3000, None, None, ("--schedule", "curriculum"))
    assert r2r.fitted_trial(hand, fit).train_args == ("--schedule", "curriculum", "--fit-gate")
    for config in ({**record["config"], "loss": "mse"},
                   {k: v for k, v in record["config"].items() if k not in ("loss", "validate")}):   # an older record
        (out / "gate_fit.json").write_text(json.dumps({**record, "config": config}))
        _, fit = r2r.fitted_source(out)
        want = ("--fit-gate", "--fit-gate-loss", "mse") if config.get("loss") == "mse" else ("--fit-gate",)
        assert r2r.fitted_trial(hand, fit).train_args == ("--schedule", "curriculum") + want
    for key, value in (("validate", 20000), ("horizon", 8)):     # train --fit-gate cannot make these
        (out / "gate_fit.json").write_text(json.dumps({**record, "config": {**record["config"], key: value}}))
        with pytest.raises(ResultError, match=key):
            r2r.fitted_source(out)


def test_the_bound_acts_on_the_labels(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "run"
    r = tiny_run(run, "finger-spin", "asym", 100)
    assert r.returncode == 0, r.stderr
    p = subprocess.run([sys.executable, str(root / "scripts" / "gate_bound.py"), str(run), "--episodes", "1",
                        "--horizon", "5", "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["episodes"] == 1 and 0 <= out["large_fraction"] <= 1 and out["cost_gap"] > 0
    p = subprocess.run([sys.executable, str(root / "scripts" / "gate_bound.py"), str(run), "--episodes", "1",
                        "--margins=-1e9,1e9"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["large_fraction"] for r in rows] == [1.0, 0.0]           # the threshold moves the choice
    p = subprocess.run([sys.executable, str(root / "scripts" / "gate_bound.py"), str(run), "--episodes", "1",
                        "--stability", "5,20"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["horizon"] for r in rows] == [5, 20] and all(r["states"] == 3 for r in rows)   # decisions 0, 4, 8
    assert all(0 <= r["choice_agreement"] <= 1 for r in rows)
    p = subprocess.run([sys.executable, str(root / "scripts" / "gate_bound.py"), str(tmp_path / "nothing")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr


def test_the_probe_fits_one_set_of_labels_with_each_loss_and_width(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "gate_fit_probe.py"
    run = tmp_path / "run"
    r = tiny_run(run, "finger-spin", "asym", 100)
    assert r.returncode == 0, r.stderr
    p = subprocess.run([sys.executable, str(script), str(run), "--labels", "20", "--widths", "4,8", "--updates", "20",
                        "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["labels"] >= 20 and out["held_out"] == out["labels"] // 5 and out["cost_gap"] > 0
    assert [(f["loss"], f["width"]) for f in out["fits"]] == [("huber", 4), ("huber", 8), ("mse", 4), ("mse", 8)]
    worst = out["regret_all_large"] + out["regret_all_small"]     # a choice per state loses one of the two
    assert all(0 <= f["agreement"] <= 1 and 0 <= f["regret"] <= worst for f in out["fits"])
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "nothing")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr
