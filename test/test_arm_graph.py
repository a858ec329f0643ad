"""
The arm chain with real nodes.

Master, sub-policies, cost monitor, the safety lifecycle node and the hardware stand-in (driver
order with an extra joint), with and without injected faults.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from asym_control.robot.arm import ARM_JOINTS
from asym_control.deploy.launcher import GraphError, run_graph

CLI = [sys.executable, "-m", "asym_control.cli"]


@pytest.fixture(scope="module")
def tiny_arm(tmp_path_factory):
    """Train an arm-reach agent briefly: the chain is under test here, not the policy."""
    out = tmp_path_factory.mktemp("arm") / "run"
    r = subprocess.run(CLI + ["train", "--task", "arm-reach", "--mode", "asym", "--steps", "600", "--out", str(out),
                              "--learning-starts", "100", "--eval-every", "0", "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def run_arm(ckpt, single_process=False, **standin):
    return run_graph("arm", episodes=2, checkpoint_dir=str(ckpt), standin=True, timeout_s=120,
                     single_process=single_process,
                     extra={"standin": {"episode_steps": 25, "settle_s": 1.0, **standin}})


@pytest.mark.parametrize("single_process", [False, True], ids=["processes", "one-process"])
def test_the_chain_reaches_through_the_standin(tiny_arm, single_process):
    outcome = run_arm(tiny_arm, single_process)
    sim = outcome.sim
    assert sim["episodes"] == 2 and len(sim["final_distances"]) == 2
    assert 0.0 <= sim["success_rate"] <= 1.0 and sim["final_distance"] > 0
    # the reaches start once the safety node is active: the chain commanded the arm through them
    # (2 x 25 control steps; a loaded machine may miss a few periods of a real-time chain, not
    # a whole reach), every command valid
    assert sim["commands"] >= 25 and sim["rejected"] == 0
    s = outcome.summaries[-1]
    assert s["task"] == "arm-reach" and s["episodes"] == 2
    assert 0.0 <= s["large_fraction"] <= 1.0
    nodes = s["nodes"]
    assert int(nodes["asym/safety"]["commands_sent"]) >= 25
    # only the selected sub-policy computed: each state the master sent went to one sub-policy and
    # was computed at most once (a state overtaken by the next one in the sub-policy's queue is not
    # computed), and every forwarded command was computed; a command computed but dropped as late
    # or stale on a loaded machine is between the two
    small, large = int(nodes["asym/small"]["inferences"]), int(nodes["asym/large"]["inferences"])
    master = nodes["asym/master"]
    assert int(master["control_steps_forwarded"]) - 2 <= small + large <= int(master["states_sent"]) + 2


def test_faults_injected_in_the_standin_do_not_stop_the_chain(tiny_arm):
    outcome = run_arm(tiny_arm, latency_s=0.02, jitter_s=0.01, drop_rate=0.2, noise_std=0.002)
    sim = outcome.sim
    assert sim["episodes"] == 2
    assert 0 < sim["dropped"] < sim["commands"]
    assert (sim["latency_s"], sim["drop_rate"]) == (0.02, 0.2)


def test_a_controller_without_a_urdf_joint_stops_the_launch(tiny_arm):
    with pytest.raises(GraphError, match="safety refused to configure"):
        run_graph("arm", episodes=1, checkpoint_dir=str(tiny_arm), standin=True, timeout_s=60,
                  extra={"safety": {"joints": list(ARM_JOINTS[:5])}})


def test_cli_errors_for_the_arm():
    r = subprocess.run(CLI + ["launch", "arm"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--standin" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(CLI + ["launch", "arm", "--latency", "0.01"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "add --standin" in r.stderr


def test_eval_reports_reaching(tiny_arm):
    import json

    r = subprocess.run(CLI + ["eval", str(tiny_arm), "--episodes", "2", "--seed", "1", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert 0.0 <= out["success_rate"] <= 1.0 and out["final_distance"] > 0
    assert all("final_distance" in e for e in out["per_episode"])
