"""
The actor-learner mode: actors at int8/fp16 act near fp32, the weights on the wire, the learner in fp32, two nodes.

The Ray cluster is ray.cluster_utils.Cluster (two raylets of one CPU each on 127.0.0.1, conftest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asym_control.deploy.quantized import COMM_BLOCK, QuantizedActor, QuantizedMLP, pack_weights, packed_bytes, \
    unpack_weights
from asym_control.learning.nets import DTYPE
from asym_control.training.actors import ExperienceActor, train_actor_learner
from asym_control.training.checkpoint import load_policy
from asym_control.training.config import TrainConfig
from clirun import asym_cli   # noqa: I100 - the tests' own helpers
from test_quantized import _visited_states   # noqa: I100 - the same visited states as deployment's test

ROOT = Path(__file__).resolve().parent.parent
# |a_low - a_fp32| per action entry of the SAMPLED actions (actions in [-1, 1]), over visited states
TOLERANCE = {"int8": (0.05, 0.3), "fp16": (0.005, 0.05)}   # (mean, largest)


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_the_actors_sampled_actions_and_the_masters_choice_stay_near_fp32(precision):
    cfg, policy = load_policy(ROOT / "checkpoints" / "walker-stand" / "asym")
    states = _visited_states(cfg, policy)
    noise = np.random.default_rng(0).standard_normal((len(states), cfg.spec.act_dim)).astype(DTYPE)
    mean_tol, max_tol = TOLERANCE[precision]
    for o, actor in policy.actors.items():
        ref = actor.act(states, deterministic=False, noise=noise)
        err = np.abs(QuantizedActor(actor, precision).act(states, deterministic=False, noise=noise) - ref)
        assert 0 < err.mean() < mean_tol and err.max() < max_tol, (o, err.mean(), err.max())
    q_ref = policy.master.forward(states)[0]
    q = QuantizedMLP(policy.master, precision).forward(states)[0]
    assert q.shape == q_ref.shape
    agree = np.mean(q.argmax(1) == q_ref.argmax(1))
    assert agree >= 0.95, agree                      # the master's choice, where its two values are apart


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 3 * COMM_BLOCK + 7),
              elements=st.floats(-50, 50, width=32, allow_nan=False)))
def test_weights_on_the_wire_come_back_within_their_precisions_rounding(theta):
    theta = theta.reshape(-1)
    for precision, bound in (("fp32", lambda t, b: 0.0), ("fp16", lambda t, b: np.abs(t) * 2 ** -11 + 6e-8),
                             ("int8", lambda t, b: b / 254 * 1.0001 + 1e-7)):
        packed = pack_weights({"w": theta}, precision)
        back = unpack_weights(packed)["w"]
        assert back.dtype == np.float32 and back.shape == theta.shape
        # int8: each block's step is absmax/127, the error at most half of it
        pad = np.concatenate([theta, np.zeros((-theta.size) % COMM_BLOCK, np.float32)]).reshape(-1, COMM_BLOCK)
        block_absmax = np.repeat(np.abs(pad).max(1), COMM_BLOCK)[:theta.size] * 2
        assert (np.abs(back - theta) <= bound(theta, block_absmax)).all(), precision
    assert packed_bytes(pack_weights({"w": theta}, "int8")) <= theta.nbytes / 4 + 4 * (theta.size // COMM_BLOCK + 1)


def test_an_actor_hands_over_a_contiguous_trajectory_and_carries_its_episode_over():
    cfg = TrainConfig(task="walker-stand", mode="asym", steps=1000, learning_starts=50, episode_steps=60)
    from asym_control.asym.agent import AsymAgent
    weights = pack_weights(AsymAgent(cfg).policy_tensors(), "fp32")
    actor = ExperienceActor(cfg.to_dict(), 0, "int8")
    a, b = actor.run(weights, 70, 0), actor.run(weights, 40, 70)
    obs = np.concatenate([a["obs"], b["obs"]])
    nxt = np.concatenate([a["next_obs"], b["next_obs"]])
    cont = np.all(nxt[:-1] == obs[1:], axis=1)
    assert not cont[59] and cont[:59].all() and cont[60:].all()     # one episode end, at 60; none at the call's
    assert [e[0] for e in a["episodes"]] == [59] and b["episodes"] == []
    assert (a["action"][:50] >= -1).all() and (np.abs(a["action"]) <= 1).all()
    lengths = [m[1].length for m in a["macros"] + b["macros"]]
    assert all(1 <= k <= cfg.n_omega for k in lengths) and sum(lengths) <= 110
    for i, macro, _, _ in a["macros"]:     # a macro step's reward is the sum of its steps' rewards
        assert macro.reward_sum == pytest.approx(float(a["reward"][i - macro.length + 1:i + 1].sum()), rel=1e-5)


def test_the_learner_stays_fp32_while_int8_actors_on_two_nodes_feed_it(cluster, tmp_path):
    steps, sync = 1500, 100            # a chunk of K steps is one whole episode of each actor

    cfg = TrainConfig(task="walker-stand", mode="asym", seed=3, steps=steps, learning_starts=300, episode_steps=sync,
                      eval_every=0, checkpoint_every=10_000)
    held = []
    summary = train_actor_learner(cfg, tmp_path / "run", actors=2, precision="int8", sync_every=sync, comm="int8",
                                  address=cluster.address, progress=False, learner_out=held)
    al = summary["actor_learner"]
    assert summary["steps"] == steps and summary["gradient_steps"] == steps - cfg.learning_starts
    assert sum(al["actor_steps"]) == steps and min(al["actor_steps"]) >= sync
    assert set(al["actor_nodes"]) == {n.node_id for n in cluster.list_all_nodes()}     # both nodes acted
    agent = held[0]
    buf = agent.buffers[0]
    assert buf.size == steps
    # each actor's K steps arrive whole and in order: the trajectory breaks at every chunk's end only
    breaks = np.flatnonzero(~np.all(buf.next_obs[:steps - 1] == buf.obs[1:steps], axis=1)) + 1
    assert list(breaks) == list(range(sync, steps, sync)), breaks
    assert agent.macro_buffer.size >= (steps - cfg.learning_starts) // cfg.n_omega
    # the learner's weights: fp32, trained, and never replaced by their int8 round trip
    tensors = agent.policy_tensors()
    for name, t in tensors.items():
        assert t.dtype == np.float32, name
        assert not np.array_equal(unpack_weights(pack_weights({name: t}, "int8"))[name], t), name
    saved_cfg, policy = load_policy(tmp_path / "run")
    np.testing.assert_array_equal(policy.actors[0].net.theta, tensors["small.actor.theta"])
    assert json.loads((tmp_path / "run" / "train_summary.json").read_text())["steps"] == steps


def test_train_with_actors_stops_at_the_return_asked_for_and_the_run_evaluates(tmp_path):
    out = tmp_path / "run"
    r = asym_cli("train", "--task", "walker-stand", "--mode", "large", "--steps", "100000", "--out", str(out),
                 "--actors", "1", "--actor-precision", "fp16", "--sync-every", "100", "--episode-steps", "50",
                 "--learning-starts", "50", "--eval-every", "200", "--eval-episodes", "1", "--stop-at-return", "-1",
                 "--no-progress")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["reached"] is not None and summary["reached"]["step"] == summary["steps"] < 100000
    assert summary["actor_learner"]["actor_precision"] == "fp16"
    evals = [json.loads(x) for x in (out / "evals.jsonl").read_text().splitlines()]
    assert len(evals) == 1 and evals[0]["step"] == summary["steps"]
    r = asym_cli("eval", str(out), "--episodes", "1", "--json")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--sync-every", "10"], "only with --actors"),
    (["--actors", "1", "--resume"], "does not resume"),
    (["--actors", "0"], "must be positive"),
    (["--actors", "1", "--address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
    (["--actors", "1", "--address", "somewhere"], "HOST:PORT"),
    (["--actors", "2", "--task-override", "FetchReach-v4"], "--actors 1"),
])
def test_bad_actor_learner_settings_are_refused_in_one_line(tmp_path, args, message):
    task = "walker-stand"
    if "--task-override" in args:
        task = args[args.index("--task-override") + 1]
        args = [a for a in args if a not in ("--task-override", task)]
    r = asym_cli("train", "--task", task, "--steps", "100", "--out", str(tmp_path / "run"), *args, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()          # nothing made
