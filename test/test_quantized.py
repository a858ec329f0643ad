"""Quantized actors at deployment: int8 actions near fp32's, the fp32 weights untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asym_control.deploy.quantized import QuantizedActor, quantized
from asym_control.learning.nets import DTYPE
from asym_control.training.checkpoint import load_policy

ROOT = Path(__file__).resolve().parent.parent
# |a_int8 - a_fp32| per action entry, actions in [-1, 1]: mean and largest over visited states
INT8_MEAN_TOLERANCE, INT8_MAX_TOLERANCE = 0.05, 0.3


def _visited_states(cfg, policy, steps=400):
    env = cfg.spec.make_env(seed=7)
    obs, states, option = env.reset(), [], None
    for t in range(steps):
        states.append(obs)
        if t % cfg.n_omega == 0:
            option = policy.select(obs)
        obs, *_ = env.step(policy.act(option, obs))
    return np.array(states, dtype=DTYPE)


@pytest.mark.parametrize("run", ["walker-stand/asym", "arm-reach/asym"])
def test_int8_actions_stay_near_fp32_and_the_fp32_weights_are_untouched(run):
    cfg, policy = load_policy(ROOT / "checkpoints" / run)
    before = {o: a.net.theta.copy() for o, a in policy.actors.items()}
    q8, q32 = quantized(policy, "int8"), quantized(policy, "fp32")
    states = _visited_states(cfg, policy)
    for o, actor in policy.actors.items():
        ref = actor.act(states, deterministic=True)
        np.testing.assert_allclose(q32.actors[o].act(states), ref, atol=1e-5)   # the same graph, fp32
        err = np.abs(q8.actors[o].act(states) - ref)
        assert err.mean() < INT8_MEAN_TOLERANCE and err.max() < INT8_MAX_TOLERANCE, (run, o, err.mean(), err.max())
        assert 0 < err.mean()                                                # it is quantized
        # the policy's own (fp32) weights are neither changed nor converted
        assert actor.net.theta.dtype == np.float32 and np.array_equal(actor.net.theta, before[o])
    assert q8.master is policy.master and q8.select(states[0]) == policy.select(states[0])


def test_a_single_observation_gets_a_single_action_and_bad_precisions_are_refused():
    _, policy = load_policy(ROOT / "checkpoints" / "walker-stand" / "large")
    actor = next(iter(policy.actors.values()))
    q = QuantizedActor(actor, "int8")
    assert q.act(np.zeros(24, dtype=np.float32)).shape == (6,)
    with pytest.raises(ValueError, match="precision"):
        QuantizedActor(actor, "int4")
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "eval", str(ROOT / "checkpoints" / "walker-stand" /
                        "asym"), "--episodes", "1", "--precision", "int8", "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["precision"] == "int8"
