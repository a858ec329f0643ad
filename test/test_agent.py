"""The asymmetric agent's bookkeeping: macro rewards, gamma^k, shared buffer, determinism, resume."""

import numpy as np
import pytest

from asym_control.asym.agent import LARGE, SMALL, AsymAgent
from asym_control.learning.buffers import MacroStep
from asym_control.training.config import TrainConfig
from asym_control.learning.dqn import DQN, DQNConfig
from asym_control.training.train import train


def small_cfg(**kw):
    base = dict(task="walker-stand", mode="asym", seed=1, steps=300, learning_starts=40,
                episode_steps=12, n_omega=5, eval_every=0, buffer_size=10_000, parallel=False)
    base.update(kw)
    return TrainConfig(**base)


def _train_keeping_agent(cfg, run_dir=None):
    """Train `cfg` and return the agent that trained (to look at its buffers) and the trace."""
    import asym_control.training.train as tr

    agents, trace = [], []
    orig = tr.AsymAgent

    class Keep(orig):
        def __init__(self, c):
            super().__init__(c)
            agents.append(self)
    tr.AsymAgent = Keep
    try:
        train(cfg, run_dir, progress=False, trace=trace)
    finally:
        tr.AsymAgent = orig
    return agents[0], trace


def test_macro_reward_on_hand_built_trajectory():
    # lambda = 0.01, c_large = 12803 / 707 (walker-stand widths)
    agent = AsymAgent(small_cfg())
    c_large = agent.costs.c_large
    macro = MacroStep(np.zeros(24, np.float32), LARGE)
    for r in (0.5, 0.25, 1.0, 0.0, 0.75):
        macro.add(r)
    assert macro.length == 5
    assert macro.master_reward(0.01, c_large) == pytest.approx(2.5 - 0.01 * 5 * 12803 / 707)
    short = MacroStep(np.zeros(24, np.float32), SMALL)
    short.add(1.0)
    short.add(1.0)
    assert short.master_reward(0.01, 1.0) == pytest.approx(2.0 - 0.01 * 2 * 1.0)


def test_master_target_discounts_by_gamma_to_the_k():
    """
    Q target = r_Omega + gamma^k Q'(s', argmax Q(s')), k the macro step's length.

    No bootstrap after a termination, bootstrap after a truncation.
    """
    dqn = DQN(3, DQNConfig(), np.random.default_rng(0))
    dqn.q_target.theta += 0.5  # target and online networks differ: double Q matters
    nxt = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    reward = np.array([2.0, 2.0, 2.0, -1.0], np.float32)
    length = np.array([5, 2, 5, 1])
    term = np.array([0.0, 0.0, 1.0, 0.0], np.float32)
    got = dqn.targets(reward, nxt, term, length)
    for i in range(4):
        best = int(np.argmax(dqn.q.forward(nxt[i:i + 1])[0, 0]))
        value = dqn.q_target.forward(nxt[i:i + 1])[0, 0, best]
        want = reward[i] + (0.0 if term[i] else 0.99 ** length[i] * value)
        assert got[i] == pytest.approx(want, rel=1e-6)
    assert got[2] == reward[2]


def test_every_transition_reaches_both_sub_policies_and_one_macro_per_macro_step():
    cfg = small_cfg(steps=120)  # 10 episodes of 12 steps: macro steps of 5, 5 and a shortened 2
    agent, trace = _train_keeping_agent(cfg)
    shared = agent.buffers[SMALL]
    assert shared is agent.buffers[LARGE]
    assert shared.size == 120
    np.testing.assert_array_equal(shared.action[:120], np.array([t[2] for t in trace]))
    np.testing.assert_array_equal(shared.reward[:120], np.array([t[3] for t in trace], np.float32))
    # both learners took one gradient step per control step after learning_starts
    assert agent.subs[SMALL].updates == agent.subs[LARGE].updates == 120 - cfg.learning_starts
    mb = agent.macro_buffer
    # macro steps begin at 12e, 12e + 5, 12e + 10; those that began in the random warm-up
    # (before learning_starts = 40: no sub-policy acted) are not the master's to learn from
    starts = [s for s in (12 * e + offset for e in range(10) for offset in (0, 5, 10)) if s >= cfg.learning_starts]
    assert mb.size == len(starts) == 20
    np.testing.assert_array_equal(mb.length[:20], [min(5, 12 - s % 12) for s in starts])
    assert not mb.terminated[:20].any()  # a time limit truncates: the master bootstraps
    # each macro transition carries the option that acted and the task reward of its steps
    options = np.array([t[1] for t in trace])
    rewards = np.array([t[3] for t in trace])
    for i, s in enumerate(starts):
        k = mb.length[i]
        assert np.all(options[s:s + k] == mb.option[i])
        assert mb.reward[i] == pytest.approx(rewards[s:s + k].sum(), rel=1e-5)
    # the cost term is applied when the master draws a batch: r_Omega = sum r - lambda k c_omega
    obs, option, reward, _, _, length = agent.master_batch(step=cfg.steps)
    rows = [int(np.flatnonzero((mb.obs[:20] == o).all(axis=1))[0]) for o in obs]
    c = np.where(option == LARGE, agent.costs.c_large, agent.costs.c_small)
    np.testing.assert_allclose(reward, mb.reward[rows] - cfg.cost_lambda * length * c, rtol=1e-5)


def test_cost_warmup_raises_lambda_linearly_and_no_cost_keeps_it_at_zero():
    agent = AsymAgent(small_cfg(cost_lambda=0.1, cost_warmup_steps=1000))
    assert [agent.cost_lambda(s) for s in (0, 250, 1000, 5000)] == pytest.approx([0, 0.025, 0.1, 0.1])
    assert AsymAgent(small_cfg(cost_lambda=0.1)).cost_lambda(0) == pytest.approx(0.1)
    assert AsymAgent(small_cfg(cost_lambda=0.1, no_cost=True)).cost_lambda(5000) == 0.0
    delayed = AsymAgent(small_cfg(cost_lambda=0.1, cost_free_steps=500, cost_warmup_steps=1000))
    assert [delayed.cost_lambda(s) for s in (0, 499, 500, 1000, 1500)] == pytest.approx([0, 0, 0, 0.05, 0.1])


def test_separate_buffers_ablation_splits_transitions_by_who_acted():
    cfg = small_cfg(steps=120, separate_buffers=True)
    a, trace = _train_keeping_agent(cfg)
    n_large = sum(t[1] == LARGE for t in trace)
    assert a.buffers[LARGE] is not a.buffers[SMALL]
    assert (a.buffers[LARGE].size, a.buffers[SMALL].size) == (n_large, 120 - n_large)


def _trace(cfg):
    trace = []
    train(cfg, None, progress=False, trace=trace)
    return trace


def _same(a, b):
    return len(a) == len(b) and all(
        x[1] == y[1] and np.array_equal(x[2], y[2]) and x[3] == y[3] for x, y in zip(a, b))


def test_same_seed_gives_identical_first_1000_steps_and_parallel_matches_single_process():
    cfg = small_cfg(steps=1000, learning_starts=200, episode_steps=None)
    a = _trace(cfg)
    b = _trace(cfg)
    assert _same(a, b)
    assert len({t[1] for t in a}) == 2  # both sub-policies were selected
    c = _trace(small_cfg(steps=1000, learning_starts=200, episode_steps=None, parallel=True))
    assert _same(a, c)
    d = _trace(small_cfg(steps=1000, learning_starts=200, episode_steps=None, seed=2))
    assert not _same(a, d)


def test_a_run_that_ends_inside_an_episode_saves_its_last_policy(tmp_path):
    """100 steps of 60-step episodes: the run ends 40 steps into its second one, after its last checkpoint."""
    from asym_control.training.checkpoint import load_policy

    cfg = small_cfg(steps=100, episode_steps=60, learning_starts=20)
    agent, trace = _train_keeping_agent(cfg, tmp_path / "run")
    assert len(trace) == 100
    _, policy = load_policy(tmp_path / "run")
    final = agent.policy_tensors()
    probe = np.linspace(-1, 1, 24, dtype=np.float32)
    for option, name in ((SMALL, "small"), (LARGE, "large")):
        assert np.array_equal(policy.actors[option].net.theta, final[f"{name}.actor.theta"])
    assert np.array_equal(policy.q_values(probe), agent.master.q.forward(probe[None])[0, 0])


@pytest.mark.parametrize("parallel", [False, True])
def test_resumed_run_continues_exactly_like_the_uninterrupted_one(tmp_path, parallel):
    cfg = small_cfg(steps=300, checkpoint_every=100, parallel=parallel, eval_every=100, eval_episodes=1)
    full = []
    train(cfg, tmp_path / "full", progress=False, trace=full)
    part = []
    train(cfg, tmp_path / "cut", progress=False, trace=part, stop_after=150)  # dies mid-episode
    # last checkpoint at the first episode end after 100 steps: 108
    assert (tmp_path / "cut" / "resume" / "latest").read_text().strip() == "step_000000108"
    rest = []
    train(cfg, tmp_path / "cut", resume=True, progress=False, trace=rest)
    assert rest[0][0] == 108
    assert _same(full[108:], rest)


def test_critic_width_is_a_training_setting_that_leaves_the_actors_alone():
    from asym_control.learning.sac import SACConfig

    cfg = TrainConfig(task="arm-reach")      # the task's default: critics 256 wide
    assert cfg.sac.critic_units == 256
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    agent = AsymAgent(cfg)
    for option, units in ((SMALL, 8), (LARGE, 64)):
        sub = agent.subs[option]
        assert sub.actor.net.sizes == [27, units, units, 12]       # inference cost unchanged
        assert sub.critic.sizes == [33, 256, 256, 1]
    narrow = AsymAgent(TrainConfig(task="walker-stand", sac=SACConfig()))
    assert narrow.subs[SMALL].critic.sizes[1] == 8                  # the paper's: as wide as the actor


def test_the_epsilon_schedule_is_fixed_in_control_steps_and_kept_on_resume(tmp_path):
    from asym_control.training.train import prepare_run_dir

    cfg = small_cfg(steps=1000)
    assert cfg.dqn.exploration_steps == 100                      # 10% of the first --steps
    train(cfg, tmp_path / "run", progress=False, stop_after=240)
    longer = prepare_run_dir(tmp_path / "run", small_cfg(steps=5000), resume=True)
    assert longer.steps == 5000 and longer.dqn.exploration_steps == 100
    agent = AsymAgent(longer)
    assert agent.epsilon(100) == pytest.approx(cfg.dqn.exploration_final_eps)


@pytest.mark.parametrize("value", [-0.01, float("nan"), float("inf")])
def test_lambda_must_be_a_finite_penalty(value):
    with pytest.raises(ValueError, match="lambda must be a finite number >= 0"):
        small_cfg(cost_lambda=value)


def test_a_termination_inside_a_macro_step_ends_it_without_bootstrapping(monkeypatch):
    """
    Start MountainCarContinuous next to its goal: it reaches it inside a macro step of five.

    That macro transition has k < 5, is terminal, and its target is its reward alone.
    """
    from asym_control.tasks.registry import GymnasiumEnv

    reset = GymnasiumEnv.reset

    def near_the_goal(self):
        reset(self)
        self._env.state = np.array([0.44, 0.004])    # the goal is x >= 0.45: a few steps away
        return self.observation()
    monkeypatch.setattr(GymnasiumEnv, "reset", near_the_goal)
    cfg = TrainConfig(task="MountainCarContinuous-v0", mode="asym", seed=0, steps=60, learning_starts=0,
                      n_omega=5, eval_every=0, buffer_size=1000, parallel=False)
    agent, trace = _train_keeping_agent(cfg)
    mb = agent.macro_buffer
    ends = [i for i in range(mb.size) if mb.terminated[i]]
    goals = sum(t[3] > 50 for t in trace)          # reaching the goal pays +100
    assert goals >= 1 and len(ends) == goals      # one terminal macro transition per goal reached
    inside = [i for i in ends if mb.length[i] < cfg.n_omega]
    assert inside                                  # the goal reached inside a macro step
    i = inside[0]
    target = agent.master.targets(mb.reward[i:i + 1], mb.next_obs[i:i + 1], mb.terminated[i:i + 1],
                                  mb.length[i:i + 1])
    assert target[0] == mb.reward[i]                                # no bootstrap past the goal


def test_a_damaged_or_mismatched_resume_checkpoint_is_refused_with_the_reason(tmp_path):
    from asym_control.training.checkpoint import CheckpointError, load_training

    cfg = small_cfg(steps=300)
    train(cfg, tmp_path / "run", progress=False)
    tensors, _ = load_training(tmp_path / "run")
    AsymAgent(cfg).load_training_tensors(dict(tensors))            # the genuine one loads
    cases = {
        "master.opt.m": lambda t: t.update({"master.opt.m": t["master.opt.m"][:10]}),
        "position": lambda t: t.update({"buffer.pos_size": np.array([20_000, 300], np.int64)}),
        "rows": lambda t: t.update({"buffer.obs": t["buffer.obs"][:100]}),
        "missing": lambda t: t.pop("large.critic_opt.v"),
        "dtype": lambda t: t.update({"small.log_alpha": t["small.log_alpha"].astype(np.float64)}),
    }
    for name, damage in cases.items():
        t = dict(tensors)
        damage(t)
        with pytest.raises(CheckpointError, match="training checkpoint"):
            AsymAgent(cfg).load_training_tensors(t)


def _decisions(agent, n, step=0):
    """Make n master decisions on one observation, with the length of each exploratory hold."""
    obs = np.zeros(agent.obs_dim, dtype=np.float32)
    options, holds = [], []
    for _ in range(n):
        fresh = agent.explorer.hold_left == 0
        options.append(agent.select(obs, step))
        if fresh:
            holds.append(1)
        else:
            holds[-1] += 1
    return options, holds


def test_an_exploratory_choice_is_held_for_a_geometric_number_of_decisions():
    from dataclasses import replace
    always = DQNConfig(exploration_initial_eps=1.0, exploration_final_eps=1.0, exploration_hold=10.0)
    agent = AsymAgent(small_cfg(dqn=always))
    options, holds = _decisions(agent, 20_000)
    # within a hold the option does not change; holds average 10 decisions (geometric, mean 10)
    i = 0
    for h in holds:
        assert len(set(options[i:i + h])) == 1
        i += h
    assert np.mean(holds) == pytest.approx(10.0, rel=0.1)
    assert abs(np.mean(options) - 0.5) < 0.05   # both sub-policies drawn alike
    # a new episode ends a hold
    agent.begin_episode(0)
    assert agent.explorer.hold_left == 0
    # plain epsilon-greedy (hold 1) draws at every decision; greedy choices are never held
    plain = AsymAgent(small_cfg(dqn=replace(always, exploration_hold=1.0)))
    assert set(_decisions(plain, 2000)[1]) == {1}
    greedy = AsymAgent(small_cfg(dqn=replace(always, exploration_initial_eps=0.0, exploration_final_eps=0.0)))
    options, holds = _decisions(greedy, 200)
    assert set(holds) == {1} and len(set(options)) == 1


@pytest.mark.parametrize("unit, gradient_steps", [("control", 1), ("macro", 1), ("control", 3), ("macro", 3)])
def test_the_masters_train_frequency_counts_control_steps_or_macro_transitions(unit, gradient_steps):
    # 300 control steps of 12-step episodes (macro steps of 5, 5, 2): the master's gradient steps
    # are `gradient_steps` per control step once its buffer has a batch, or per macro transition
    cfg = small_cfg(dqn=DQNConfig(train_freq_unit=unit, batch_size=4, gradient_steps=gradient_steps))
    agent, trace = _train_keeping_agent(cfg)
    updates = agent.master.updates
    assert updates % gradient_steps == 0
    after_warmup = 300 - cfg.learning_starts
    if unit == "control":
        assert after_warmup - 30 <= updates / gradient_steps <= after_warmup
    else:
        macros = agent.macro_buffer.size   # every macro step after the warm-up is stored
        assert macros - 4 <= updates / gradient_steps <= macros
        assert updates / gradient_steps < after_warmup / 2


def test_a_resumed_run_with_held_exploration_continues_exactly(tmp_path):
    cfg = small_cfg(steps=300, checkpoint_every=100, dqn=DQNConfig(exploration_hold=4.0, exploration_steps=300))
    full, part, rest = [], [], []
    train(cfg, tmp_path / "full", progress=False, trace=full)
    train(cfg, tmp_path / "cut", progress=False, trace=part, stop_after=150)
    train(cfg, tmp_path / "cut", resume=True, progress=False, trace=rest)
    assert _same(full[rest[0][0]:], rest)


@pytest.mark.parametrize("field, value", [("exploration_hold", 0.5), ("exploration_hold", float("nan")),
                                          ("train_freq_unit", "episode"), ("buffer_size", 8),
                                          ("gradient_steps", 0)])
def test_bad_master_settings_are_refused(field, value):
    from asym_control.training.config import ConfigError
    reason = {"exploration_hold": "exploration-hold", "buffer_size": "at least a batch",
              "gradient_steps": "master-gradient-steps"}.get(field, "control or macro")
    with pytest.raises(ConfigError, match=reason):
        small_cfg(dqn=DQNConfig(**{field: value}))


def test_the_curriculum_schedule_is_thirds_of_the_run_fixed_in_control_steps(tmp_path):
    from asym_control.training.config import schedule_settings
    assert schedule_settings("curriculum", 300_000) == dict(
        cost_free_steps=100_000, cost_warmup_steps=100_000, exploration_steps=200_000, exploration_hold=10.0,
        master_buffer=6_000)
    assert schedule_settings("curriculum", 300_000, cost_free_steps=5, exploration_hold=None)["cost_free_steps"] == 5
    assert schedule_settings("paper", 300_000) == dict(
        cost_free_steps=0, cost_warmup_steps=0, exploration_steps=None, exploration_hold=1.0, master_buffer=None)
    # the master's replay: 10% of the run, as Table I's 50,000 is of the paper's 2.5M steps
    assert schedule_settings("curriculum", 2_500_000)["master_buffer"] == 50_000
    assert schedule_settings("curriculum", 100_000, n_omega=10)["master_buffer"] == 1_000
    assert schedule_settings("curriculum", 90)["master_buffer"] == 32           # at least a batch
    assert schedule_settings("curriculum", 90, batch_size=256)["master_buffer"] == 256      # the one asked for
    # train's default, through the CLI, into the run's config (a resumed run keeps it, as every
    # schedule setting); the paper's is asked for by name
    import json
    import subprocess
    import sys

    from asym_control.cli import build_parser, train_config
    paper = train_config(build_parser().parse_args(["train", "--task", "walker-stand", "--steps", "300000",
                                                    "--out", "x", "--schedule", "paper"]))
    assert (paper.schedule, paper.cost_free_steps, paper.cost_warmup_steps, paper.dqn.exploration_steps,
            paper.dqn.exploration_hold, paper.dqn.buffer_size) == ("paper", 0, 0, 30_000, 1.0, 50_000)
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "train", "--task", "walker-stand", "--steps", "90",
                        "--exploration-hold", "3", "--master-buffer", "40",
                        "--episode-steps", "30",
                        "--learning-starts", "30", "--eval-every", "0", "--out", str(tmp_path / "run"),
                        "--no-progress", "--single-process"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    c = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (c["cost_free_steps"], c["cost_warmup_steps"], c["dqn"]["exploration_steps"]) == (30, 30, 60)
    assert c["dqn"]["exploration_hold"] == 3.0
    assert c["dqn"]["buffer_size"] == 40
    assert c["schedule"] == "curriculum"


def test_correlated_exploration_noise_has_unit_variance_and_the_asked_correlation():
    from asym_control.learning.sac import SACConfig
    from asym_control.training.config import ConfigError
    agent = AsymAgent(small_cfg(sac=SACConfig(noise_rho=0.9)))
    obs = np.zeros(agent.obs_dim, dtype=np.float32)
    agent.begin_episode(0)
    xs = []
    for _ in range(20_000):
        agent.act(LARGE, obs, step=10_000)   # after the random warm-up
        xs.append(agent.explorer.noise.copy())
    x = np.array(xs)
    assert np.allclose(x.var(axis=0), 1.0, atol=0.1)
    lag1 = np.mean([np.corrcoef(x[:-1, j], x[1:, j])[0, 1] for j in range(x.shape[1])])
    assert lag1 == pytest.approx(0.9, abs=0.02)
    agent.begin_episode(0)
    assert agent.explorer.noise is None                # a new episode starts the noise afresh
    # white noise (SAC's, every task's default but MountainCar's) keeps no state
    white = AsymAgent(small_cfg())
    assert white.cfg.sac.noise_rho == 0.0
    white.act(LARGE, obs, step=10_000)
    assert white.explorer.noise is None
    with pytest.raises(ConfigError, match="noise-rho"):
        small_cfg(sac=SACConfig(noise_rho=1.0))


def test_random_actions_replace_the_given_share_of_the_actors_actions_after_the_warm_up():
    from asym_control.learning.sac import SACConfig
    from asym_control.training.config import ConfigError
    agent = AsymAgent(small_cfg(sac=SACConfig(random_actions=0.3)))
    actor = agent.subs[LARGE].actor
    actor.net.theta[...] = 0.0                       # the actor's action is then tanh(0 + e^-20 * noise) = 0
    actor.net.params[-1][..., agent.act_dim:] = -20.0
    obs = np.zeros(agent.obs_dim, dtype=np.float32)
    agent.begin_episode(0)
    acts = np.array([agent.act(LARGE, obs, step=10_000) for _ in range(20_000)])
    random = np.abs(acts).max(axis=1) > 1e-6
    assert random.mean() == pytest.approx(0.3, abs=0.015)
    drawn = acts[random]
    assert np.all(np.abs(drawn) <= 1.0)
    assert np.allclose(drawn.mean(axis=0), 0.0, atol=0.03)
    assert np.allclose(drawn.var(axis=0), 1.0 / 3.0, atol=0.03)   # uniform on [-1, 1]
    # the default draws none: every action is the actor's
    plain = AsymAgent(small_cfg())
    plain.subs[LARGE].actor.net.theta[...] = actor.net.theta
    assert all(np.abs(plain.act(LARGE, obs, step=10_000)).max() < 1e-6 for _ in range(2_000))
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="random-actions"):
            small_cfg(sac=SACConfig(random_actions=bad))
    with pytest.raises(ConfigError, match="tau"):
        small_cfg(sac=SACConfig(tau=0.0))
    with pytest.raises(ConfigError, match="lr"):
        small_cfg(sac=SACConfig(lr=float("inf")))
