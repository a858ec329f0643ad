"""
The walker graph with real rclpy and Fast DDS: parity with the evaluator, gating, faults.

Each test runs real nodes (separate processes unless stated) on this process's own
ROS_DOMAIN_ID (conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from asym_control.training.checkpoint import load_policy
from asym_control.evaluation.evaluate import run_episode
from asym_control.deploy.launcher import run_graph

from shm import LeftBehind

ROOT = Path(__file__).resolve().parent.parent
CKPT = Path(os.environ.get("ASYM_TEST_CKPT", ROOT / "checkpoints" / "walker-stand" / "asym"))


@pytest.fixture(scope="module")
def reference():
    """One evaluator episode with seed 0, every step recorded."""
    cfg, policy = load_policy(CKPT)
    env = cfg.spec.make_env(seed=0, episode_steps=200)
    return cfg, run_episode(cfg, policy, env, record=True)


def _check_parity(outcome, cfg, ref):
    assert len(outcome.summaries) == 1
    s = outcome.summaries[0]
    assert len(outcome.selections) == ref.steps == 200
    np.testing.assert_array_equal(np.array(outcome.selections), ref.options)
    np.testing.assert_allclose(np.array(outcome.actions), ref.actions, atol=1e-6, rtol=0)
    assert s["return_mean"] == pytest.approx(ref.ret, abs=1e-9)
    large_fraction = ref.large_steps / ref.steps
    assert s["large_fraction"] == pytest.approx(large_fraction)
    # the cost monitor's FLOPs per step are the evaluator's (same FLOPs function)
    costs = load_policy(CKPT)[1].costs
    assert s["flops_per_inference"] == pytest.approx(costs.per_step(large_fraction))
    return s


def test_lockstep_episode_matches_the_evaluator_step_by_step(reference):
    cfg, ref = reference
    left_behind = LeftBehind()
    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                        timeout_s=240, extra={"sim": {"episode_steps": 200}})
    # every node process left by itself, and freed its DDS participant: nothing of theirs or of
    # the launcher's stays in /dev/shm (a process ended mid-exit by a signal leaves its files)
    assert left_behind() == set()
    assert outcome.sim is not None, "the launcher never got the simulator's latched sim_done"
    s = _check_parity(outcome, cfg, ref)
    # only the selected sub-policy computed: the per-node inference counters say so
    n_large = int(ref.large_steps)
    nodes = s["nodes"]
    # diagnostics are published each second; the simulator's final statistics are exact
    assert outcome.sim["commands"] == 200 and outcome.sim["rejected"] == 0
    assert int(nodes["asym/large"]["inferences"]) <= n_large
    assert int(nodes["asym/small"]["inferences"]) <= 200 - n_large
    assert 0 < n_large < 200  # both sub-policies drove the robot in this episode


def test_int8_sub_policies_give_the_int8_evaluators_episode_and_report_their_integer_operations():
    from asym_control.deploy.quantized import quantized
    from asym_control.flops import actor_ops

    cfg, policy = load_policy(CKPT)
    env = cfg.spec.make_env(seed=0, episode_steps=200)
    ref = run_episode(cfg, quantized(policy, "int8"), env, record=True)
    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                        single_process=True, timeout_s=240,
                        extra={"sim": {"episode_steps": 200}, "small": {"precision": "int8"},
                               "large": {"precision": "int8"}})
    np.testing.assert_array_equal(np.array(outcome.selections), ref.options)
    np.testing.assert_allclose(np.array(outcome.actions), ref.actions, atol=1e-6, rtol=0)
    nodes = outcome.summaries[0]["nodes"]
    for option in ("small", "large"):
        st = nodes[f"asym/{option}"]
        ops = actor_ops(cfg.spec.obs_dim, cfg.spec.act_dim, cfg.units(0 if option == "small" else 1), "int8")
        assert st["precision"] == "int8" and int(st["int_ops_per_inference"]) == ops["int_ops"] > 0
        assert int(st["flops_per_inference"]) == ops["int_ops"] + ops["float_ops"]
        assert float(st["inference_mean_us"]) > 0 or int(st["inferences"]) == 0


@pytest.mark.parametrize("executor", ["events", "multi"])
def test_single_process_graph_gives_the_same_episode(reference, executor, monkeypatch):
    """
    One process, on the EventsExecutor (the default) or rclpy's MultiThreadedExecutor (ASYM_EXECUTOR=multi).

    The same episode as the evaluator's.
    """
    monkeypatch.setenv("ASYM_EXECUTOR", executor)
    cfg, ref = reference
    left_behind = LeftBehind()
    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                        single_process=True, timeout_s=240, extra={"sim": {"episode_steps": 200}})
    _check_parity(outcome, cfg, ref)
    # the run's DDS participant is freed when it returns, not when this process exits
    assert left_behind() == set()


def test_real_time_episode_accounts_for_every_state_and_reward(tmp_path):
    """
    Real time (the simulator's timer, zero-order hold), one process, 100 Hz.

    Each of the 150 states is either answered (its latency measured) or a missed deadline, every
    reward goes out (a period's reward once its physics is computed: when its command arrives, or
    at the next tick), and the episode ends at its length.
    """
    from asym_control.evaluation.recording import read_messages

    out = tmp_path / "rt.mcap"
    outcome = run_graph("walker", episodes=1, lockstep=False, rate_hz=100.0, checkpoint_dir=str(CKPT), seed=0,
                        single_process=True, timeout_s=120, record=out, extra={"sim": {"episode_steps": 150}})
    sim = outcome.sim
    assert sim["mode"] == "real time 100 Hz"
    # 150 states went out; the last one's command ends the episode, or, missed, the tick after it
    assert sim["ticks"] in (150, 151) and sim["episodes"] == 1 and sim["rejected"] == 0
    # each state answered, or missed and never answered
    assert 0 < sim["commands"] <= 150
    assert sim["commands"] + sim["missed_deadlines"] >= 150
    assert 0 < sim["latency_p50_ms"] <= sim["latency_max_ms"]
    # the cost monitor counts the steps that had a command forwarded (one selection each)
    assert sim["commands"] <= outcome.summaries[0]["last_episode"]["steps"] <= 150
    rewards = [m for topic, m, _ in read_messages(out) if topic == "/asym/reward"]
    assert [int(m.data[1]) for m in rewards] == list(range(150))     # every step's reward, in order
    assert rewards[-1].data[4] == 1.0 and not any(m.data[4] for m in rewards[:-1])   # truncated at the end


def test_pinned_nodes_run_on_their_cpus_and_the_episode_is_unchanged(reference):
    cfg, ref = reference
    cpus = sorted(os.sched_getaffinity(0))
    pins = {"master": {cpus[-1]}, "small": {cpus[-1]}, "large": {cpus[-1]}, "sim": {cpus[0]}}
    seen = {}

    def affinities(procs, outcome):
        # each node process takes its CPUs as it starts (the launcher's trampoline): wait for it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen.update({name: os.sched_getaffinity(p.pid) for name, p in procs.items()})
            if all(seen[n] == pins[n] for n in pins):
                break
            time.sleep(0.01)

    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                        timeout_s=240, pins=pins, on_started=affinities, extra={"sim": {"episode_steps": 200}})
    assert {n: seen[n] for n in pins} == pins
    assert seen["cost_monitor"] == set(cpus)          # not pinned: every CPU this process may use
    _check_parity(outcome, cfg, ref)


@pytest.mark.skipif(not os.access("/dev/cpu_dma_latency", os.W_OK), reason="/dev/cpu_dma_latency: root only here")
def test_the_cpu_latency_request_is_held_while_the_graph_runs_and_released_after():
    from asym_control.deploy.cpulatency import current

    before = current()
    during = []
    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, single_process=True,
                        timeout_s=120, cpu_latency_us=0, on_started=lambda procs, out: during.append(current()),
                        extra={"sim": {"episode_steps": 20}})
    assert during == [0] and outcome.summaries[0]["last_episode"]["steps"] == 20
    assert current() == before


def test_large_node_killed_mid_episode_falls_back_to_small():
    killed_at = {}

    def kill_large_after_some_steps(procs, outcome):
        def watch():
            deadline = time.monotonic() + 120
            # the shipped policy stands the walker up on large from step 20 (seed 0): kill before
            while len(outcome.selections) < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            killed_at["step"] = len(outcome.selections)
            procs["large"].send_signal(signal.SIGKILL)
        threading.Thread(target=watch, daemon=True).start()

    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                        timeout_s=240, on_started=kill_large_after_some_steps,
                        extra={"master": {"lockstep_command_timeout_s": 0.3, "retry_s": 60.0},
                               "sim": {"episode_steps": 400}})
    s = outcome.summaries[0]
    assert len(outcome.selections) == 400              # the episode went on to its end
    after = outcome.selections[killed_at["step"] + 5:]
    assert after and all(o == 0 for o in after)          # only small after the kill
    master = s["nodes"]["asym/master"]                   # as the cost monitor read it on /diagnostics
    assert int(master["fallbacks"]) >= 1
    assert "large sub-policy did not answer" in master["last_event"]
    assert "falling back to small" in master["last_event"]


def test_node_refuses_a_checkpoint_of_another_task(tmp_path):
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "train", "--task", "finger-spin", "--steps", "20",
                        "--learning-starts", "10", "--episode-steps", "10", "--eval-every", "0", "--no-progress",
                        "--out", str(tmp_path / "finger")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for module, extra in (("master", []), ("subpolicy", ["-p", "option:=large"]), ("cost_monitor", [])):
        r = subprocess.run([sys.executable, "-m", f"asym_control.nodes.{module}", "--ros-args",
                            "-p", f"checkpoint_dir:={tmp_path / 'finger'}", "-p", "task:=walker-stand"] + extra,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (module, r.stderr)
        assert "refusing to start" in r.stderr and "checkpoint of task 'finger-spin', not 'walker-stand'" in r.stderr
        assert "Traceback" not in r.stderr
    # a small-only checkpoint cannot serve as the large sub-policy
    r = subprocess.run([sys.executable, "-m", "asym_control.cli", "train", "--task", "walker-stand", "--mode", "small",
                        "--steps", "20", "--learning-starts", "10", "--episode-steps", "10", "--eval-every", "0",
                        "--no-progress", "--out", str(tmp_path / "s")], capture_output=True, text=True, timeout=300)
    r = subprocess.run([sys.executable, "-m", "asym_control.nodes.subpolicy", "--ros-args", "-p", "option:=large",
                        "-p", f"checkpoint_dir:={tmp_path / 's'}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "has no large sub-policy" in r.stderr


def _sim_waits_for() -> list[str]:
    """Return the topics the walker graph's simulator waits for (config/walker.yaml)."""
    import yaml
    graph = yaml.safe_load((ROOT / "config" / "walker.yaml").read_text())
    return list(graph["/asym/sim"]["ros__parameters"]["wait_for_topics"])


def test_use_sim_time_nodes_follow_the_simulators_clock(reference):
    """
    The simulator publishes /clock (one control period per step).

    With use_sim_time every other node stamps on it, and the lockstep episode is still the
    evaluator's.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock

    from std_msgs.msg import Float64MultiArray

    from asym_control.nodes.common import CLOCK_QOS, DIAG_QOS, EVENT_QOS, REWARD

    cfg, ref = reference
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("clock_watch", context=ctx)
    clocks, stamps = [], {}
    node.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock.sec + 1e-9 * m.clock.nanosec),
                             CLOCK_QOS)

    def diagnostics(m):
        for st in m.status:
            stamps.setdefault(st.name, []).append(m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec)
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, DIAG_QOS)
    # a reader of the simulator's rewards too: the simulator starts only once it has matched this
    # process's (wait_for_subscribers 2, with the cost monitor), so discovery has found it here
    node.create_subscription(Float64MultiArray, f"/asym/{REWARD}", lambda m: None, EVENT_QOS)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [ex.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                               daemon=True)
    spinner.start()

    def diagnostics_heard(procs, outcome):
        # the nodes publish diagnostics each second: wait (the graph runs meanwhile) until this
        # watcher, matched by discovery, has heard the two nodes under test
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(stamps.get(n) for n in ("asym/cost_monitor", "asym/master")):
            time.sleep(0.05)

    try:
        outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, trace=True,
                            sim_time=True, timeout_s=240,
                            # the first state waits until this watcher subscribes to /clock too
                            # (then settle_s for the match), so that no step runs before it listens
                            extra={"sim": {"episode_steps": 200, "wait_for_topics": _sim_waits_for() + ["/clock"],
                                           "wait_for_subscribers": 2}},
                            on_started=diagnostics_heard)
    finally:
        stop.set()
        spinner.join(timeout=5)
        rclpy.try_shutdown(context=ctx)
    _check_parity(outcome, cfg, ref)
    # /clock is best effort (as ROS simulators publish it): a sample may be lost, none invented
    dt = cfg.spec.control_dt
    assert clocks, "no /clock sample reached this process in the whole episode"
    assert all(b >= a for a, b in zip(clocks, clocks[1:]))
    assert all(abs(c / dt - round(c / dt)) < 1e-6 for c in clocks)        # one control period per step
    assert 100 * dt <= max(clocks) <= 199 * dt + 1e-9                    # it advanced with the episode
    # the cost monitor and the master stamp their diagnostics with simulated time, not wall time
    sim_end = 200 * cfg.spec.control_dt
    for name in ("asym/cost_monitor", "asym/master"):
        assert stamps.get(name) and max(stamps[name]) <= sim_end + 1e-6, (name, stamps.get(name))
