"""The sub-policies' observation standardisation: its statistics, its folding, and training with it."""

import numpy as np
import pytest

from asym_control.asym.agent import LARGE, SMALL
from asym_control.learning.nets import DTYPE, MLP
from asym_control.learning.normalizer import STD_FLOOR, ObsNormalizer
from asym_control.learning.settings import SACConfig
from asym_control.training.train import train

from test_agent import _same, _trace, _train_keeping_agent, small_cfg


def test_the_running_statistics_are_those_of_every_row_seen():
    rng = np.random.default_rng(0)
    scale = np.array([1e-3, 1.0, 30.0, 0.0], DTYPE)          # a velocity, a position, a large one, a constant
    batches = [(rng.standard_normal((n, 4)) * scale + [1.3, -2.0, 5.0, 0.7]).astype(DTYPE) for n in (1, 7, 256, 64)]
    norm = ObsNormalizer(4)
    for b in batches:
        norm.update(b)
    rows = np.concatenate(batches).astype(np.float64)
    assert norm.count[0] == len(rows)
    assert np.allclose(norm.mean, rows.mean(axis=0), rtol=1e-9, atol=1e-12)
    assert np.allclose(norm.var, rows.var(axis=0), rtol=1e-6, atol=1e-12)
    z = norm.apply(rows.astype(DTYPE))
    assert z.dtype == DTYPE
    assert np.allclose(z[:, :3].mean(axis=0), 0.0, atol=1e-4)
    assert np.allclose(z[:, 1:3].std(axis=0), 1.0, atol=1e-4)
    assert np.allclose(z[:, 3], 0.0, atol=1e-6)                      # constant: not blown up
    assert norm.inv_std[0] == pytest.approx(1.0 / STD_FLOOR)           # a spread below the floor is floored


def test_folding_into_the_first_layer_gives_the_network_on_standardised_inputs():
    rng = np.random.default_rng(1)
    net = MLP([5, 16, 16, 3], "relu", rng=rng)
    norm = ObsNormalizer(5)
    norm.update((rng.standard_normal((500, 5)) * [0.01, 0.2, 1.0, 3.0, 0.05] + [1.3, 0.7, -4.0, 2.0, 0.0])
                .astype(DTYPE))
    x = (rng.standard_normal((200, 5)) * [0.01, 0.2, 1.0, 3.0, 0.05] + [1.3, 0.7, -4.0, 2.0, 0.0]).astype(DTYPE)
    folded = MLP([5, 16, 16, 3], "relu")
    folded.theta[...] = norm.fold(net)
    want = net.forward(norm.apply(x))
    assert np.allclose(folded.forward(x), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert not np.allclose(net.forward(x), want, atol=1e-2)            # the standardisation matters here
    assert np.array_equal(net.theta[net.params[0].size + net.params[1].size:],
                          folded.theta[net.params[0].size + net.params[1].size:])   # only the first layer


def test_a_run_with_standardised_inputs_is_identical_in_two_processes_and_saves_folded_actors(tmp_path):
    from asym_control.training.checkpoint import load_policy

    cfg = small_cfg(steps=400, learning_starts=100, episode_steps=100, sac=SACConfig(normalize_obs=True))
    agent, single = _train_keeping_agent(cfg, tmp_path / "run")
    parallel = _trace(small_cfg(steps=400, learning_starts=100, episode_steps=100, parallel=True,
                                sac=SACConfig(normalize_obs=True)))
    assert _same(single, parallel)
    assert not _same(single, _trace(small_cfg(steps=400, learning_starts=100, episode_steps=100)))
    for option in (SMALL, LARGE):
        norm = agent.subs[option].actor.norm
        assert norm.count[0] == 300 * 256                                # every batch learnt from, no other
        assert np.abs(norm.mean).max() > 0.05
    # the saved policy is the plain network with the standardisation folded in: the same actions
    _, policy = load_policy(tmp_path / "run")
    probe = np.random.default_rng(2).standard_normal((50, agent.obs_dim)).astype(DTYPE)
    for option in (SMALL, LARGE):
        trained = agent.subs[option].actor.act(probe, deterministic=True)
        deployed = policy.actors[option].act(probe, deterministic=True)
        assert policy.actors[option].norm is None
        assert np.allclose(deployed, trained, atol=2e-5)
        assert not np.allclose(agent.subs[option].actor.net.theta, policy.actors[option].net.theta)
    # the large critic as the gate fit and distillation load it takes raw observations too
    from asym_control.asym.gate_fit import critic_of, large_critic
    sub = agent.subs[LARGE]
    act = np.random.default_rng(3).uniform(-1, 1, (50, agent.act_dim)).astype(DTYPE)
    want = sub.critic.forward(np.concatenate([sub.actor.norm.apply(probe), act], axis=1))
    for critic in (critic_of(cfg, agent.sub_state(LARGE)), large_critic(tmp_path / "run", cfg)[0]):
        got = critic.forward(np.concatenate([probe, act], axis=1))
        assert np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("parallel", [False, True])
def test_a_resumed_run_with_standardised_inputs_continues_exactly(tmp_path, parallel):
    cfg = small_cfg(steps=300, checkpoint_every=100, parallel=parallel, sac=SACConfig(normalize_obs=True))
    full, part, rest = [], [], []
    train(cfg, tmp_path / "full", progress=False, trace=full)
    train(cfg, tmp_path / "cut", progress=False, trace=part, stop_after=150)
    train(cfg, tmp_path / "cut", resume=True, progress=False, trace=rest)
    assert rest and len(full) - len(rest) == rest[0][0] > 0
    assert _same(full[rest[0][0]:], rest)


def test_the_flag_reaches_the_config_and_a_student_refuses_it(tmp_path):
    from asym_control.cli import build_parser, train_config

    base = ["train", "--task", "walker-stand", "--steps", "10", "--out", str(tmp_path / "r")]
    assert not train_config(build_parser().parse_args(base)).sac.normalize_obs
    assert train_config(build_parser().parse_args(base + ["--normalize-obs"])).sac.normalize_obs
    from asym_control.training import train as tr
    with pytest.raises(ValueError, match="normalize_obs"):
        tr._train(small_cfg(mode="large", sac=SACConfig(normalize_obs=True)), None, False, False, None, None,
                  distill=object())
