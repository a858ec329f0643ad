"""The ROS-free runtime behind the nodes: joint mapping, command checks, master timing, costs."""

import math
import time
from pathlib import Path

import numpy as np
import pytest

from asym_control.asym.policy import LARGE, SMALL, AsymPolicy
from asym_control.training.config import TrainConfig
from asym_control.evaluation.evaluate import evaluate
from asym_control.deploy.graph import EXECUTABLES, load_graph
from asym_control.robot.runtime import CostAccumulator, DeadlineMeter, JointMap, MasterCore, StateRejected, command_ok
from asym_control.tasks.registry import WALKER_JOINTS, get_task

ROOT = Path(__file__).resolve().parent.parent


def test_joint_map_by_name_any_order_extra_joints_ignored():
    jm = JointMap(get_task("walker-stand"))
    names = list(reversed(WALKER_JOINTS)) + ["gripper"]
    pos = list(range(10))
    s = jm.robot_state(names, pos, [2 * p for p in pos])
    expect = [pos[names.index(n)] for n in WALKER_JOINTS]
    np.testing.assert_array_equal(s.position, expect)
    np.testing.assert_array_equal(s.velocity, 2 * np.array(expect))


@pytest.mark.parametrize("names,pos,vel,match", [
    (WALKER_JOINTS[1:], [0.0] * 8, [0.0] * 8, "lacks joint"),
    (WALKER_JOINTS, [0.0] * 8, [0.0] * 9, "9 names but 8 positions"),
    (WALKER_JOINTS, [math.nan] + [0.0] * 8, [0.0] * 9, "NaN or Inf"),
    (WALKER_JOINTS, [0.0] * 9, [0.0] * 8 + [-math.inf], "NaN or Inf"),
])
def test_joint_map_rejects(names, pos, vel, match):
    with pytest.raises(StateRejected, match=match):
        JointMap(get_task("walker-stand")).robot_state(names, pos, vel)


@pytest.mark.parametrize("cmd,ok", [([0.0] * 6, True), ([1.0, -1.0] * 3, True), ([0.0] * 5, False),
                                    ([math.nan] + [0.0] * 5, False), ([math.inf] * 6, False),
                                    ([1.5] + [0.0] * 5, False)])
def test_command_ok(cmd, ok):
    assert (command_ok(cmd, 6) is None) == ok


def _policy(mode="asym"):
    cfg = TrainConfig(mode=mode, eval_every=0)
    policy = AsymPolicy(cfg)
    rng = np.random.default_rng(0)
    for a in policy.actors.values():
        a.net.init(rng)
    if policy.master is not None:
        policy.master.init(rng)
    return cfg, policy


def test_master_decides_every_n_omega_steps_and_falls_back():
    cfg, policy = _policy()
    core = MasterCore(policy)
    obs = np.zeros(24, np.float32)
    deciding = []
    for _ in range(12):
        deciding.append(core.deciding)
        # the observation is needed only where the DQN decides (the master skips it otherwise)
        core.select(obs if core.deciding else None)
    assert core.inferences == 3  # steps 0, 5, 10
    assert [i for i, d in enumerate(deciding) if d] == [0, 5, 10]
    core.reset()
    core.select(obs)
    assert core.inferences == 4
    core.available[LARGE] = False
    assert core.effective(LARGE) == SMALL and core.effective(SMALL) == SMALL
    core.available[SMALL] = False
    assert core.effective(LARGE) == LARGE  # nothing to fall back to


def test_cost_accumulator_reports_what_the_evaluator_reports():
    cfg, policy = _policy()
    result, records = evaluate(TrainConfig(mode="asym", eval_every=0, episode_steps=50), policy, 3, seed=1,
                               record=True)
    acc = CostAccumulator(policy.costs, "asym")
    for r in records:
        for o, rew in zip(r.options, r.rewards):
            acc.add_step(int(o))
            acc.add_reward(float(rew))
        acc.end_episode()
    s = acc.summary()
    for key in ("return_mean", "return_std", "large_fraction", "flops_per_inference", "flops_reduction"):
        assert s[key] == pytest.approx(result[key], rel=1e-12), key


def test_graph_config_names_every_node_once_with_its_parameters():
    nodes = load_graph("walker")
    assert [n.name for n in nodes] == ["sim", "master", "small", "large", "cost_monitor"]
    assert all(n.namespace == "/asym" for n in nodes)
    by = {n.name: n for n in nodes}
    assert by["small"].parameters["option"] == "small" and by["large"].parameters["option"] == "large"
    assert by["master"].parameters["actuator_topic"] == by["sim"].parameters["actuator_topic"]
    for n in nodes:
        if "checkpoint_dir" in n.parameters:
            assert Path(n.parameters["checkpoint_dir"]).is_absolute()
    over = load_graph("walker", {"*": {"checkpoint_dir": "/x"}, "sim": {"lockstep": False}})
    assert all(n.parameters.get("checkpoint_dir", "/x") == "/x" for n in over)
    assert {n.name: n for n in over}["sim"].parameters["lockstep"] is False
    # the master's watchdog follows the simulator's mode (lockstep: its lenient timeouts)
    assert by["sim"].parameters["lockstep"] is True and by["master"].parameters["lockstep"] is True
    assert {n.name: n for n in over}["master"].parameters["lockstep"] is False
    assert {n.name: n for n in load_graph("walker", {"master": {"lockstep": False}})}["master"] \
        .parameters["lockstep"] is False
    assert "lockstep" not in {n.name: n for n in load_graph("arm")}["master"].parameters  # no simulator there
    with pytest.raises(ValueError, match="no graph config for robot 'spot'"):
        load_graph("spot")


def test_console_scripts_cover_every_node_executable():
    setup = (ROOT / "setup.py").read_text()
    import importlib

    for exe, module, node_class in set(EXECUTABLES.values()):
        assert f'"{exe} = {module}:main"' in setup
        assert importlib.import_module(module).__dict__[node_class].__module__ == module


def test_throttled_logger_logs_once_per_period_per_key_and_formats_only_what_it_logs(capfd):
    import rclpy.logging

    from asym_control.nodes.common import ThrottledLogger

    log = ThrottledLogger(rclpy.logging.get_logger("throttle_test"), period_s=0.2)
    made = []

    def text():
        made.append(1)
        return "stale command dropped"
    assert [log("warning", "stale", text) for _ in range(50)] == [True] + [False] * 49
    assert len(made) == 1                                   # suppressed messages are never formatted
    assert log("error", "bad", "state rejected: NaN")       # another key has its own clock
    time.sleep(0.25)
    assert log("warning", "stale", text)                     # the period is over
    err = capfd.readouterr().err
    assert err.count("stale command dropped") == 2 and err.count("state rejected: NaN") == 1


def test_deadline_meter_times_the_command_and_counts_late_and_lost_states():
    m = DeadlineMeter(remember=4)
    # state 0 at t=0; its command at 0.5 ms, its stamped copy at 0.7 ms: latency 0.5 ms, on time
    m.sent(0, 0.0)
    m.command(0.0005)
    assert m.copy(0, 0.0007) == pytest.approx(0.0005)
    m.tick(0.002)
    # state 1: the tick at 4 ms comes first; its command at 4.5 ms: late, a missed deadline
    m.sent(1, 0.002)
    m.tick(0.004)
    m.command(0.0045)
    assert m.copy(1, 0.0046) == pytest.approx(0.0025)
    assert m.missed == 1
    # state 2: the command arrives before the tick, its copy only after it: on time
    m.sent(2, 0.004)
    m.command(0.0055)
    m.tick(0.006)
    assert m.copy(2, 0.0062) == pytest.approx(0.0015)
    assert m.missed == 1
    # state 3: its copy overtakes its command (the newest command is older than the state):
    # the copy's arrival counts, never less
    m.sent(3, 0.006)
    assert m.copy(3, 0.0071) == pytest.approx(0.0011)
    assert m.copy(3, 0.0072) is None          # seen twice: counted once
    assert m.latency.count == 4


def test_deadline_meter_counts_states_never_answered_once():
    m = DeadlineMeter(remember=3)
    for k in range(5):                         # no command ever: 5 states, 2 forgotten on the way
        m.sent(k, 0.002 * k)
        m.tick(0.002 * (k + 1))
    assert m.missed == 2
    m.finish()                                 # the 3 remembered ones are past their tick
    assert m.missed == 5 and m.latency.count == 0
    m.sent(0, 0.0)
    m.restart()                                # a new episode: the outstanding state is lost
    assert m.missed == 6 and m.newest_answered


def test_cost_accumulator_keeps_running_sums_that_equal_the_evaluators_arithmetic():
    from asym_control.flops import cost_table
    from asym_control.robot.runtime import CostAccumulator

    costs = cost_table(24, 6, 8, 64, 5)
    acc = CostAccumulator(costs, "asym")
    rng = np.random.default_rng(0)
    returns, steps, large = [], 0, 0
    for _ in range(50):
        n = int(rng.integers(1, 400))
        for _ in range(n):
            option = int(rng.random() < 0.2)
            acc.add_step(option)
            large += option
        ret = float(rng.normal(500, 200))
        acc.add_reward(ret)
        acc.end_episode()
        returns.append(ret)
        steps += n
    s = acc.summary()
    assert s["episodes"] == 50
    assert s["return_mean"] == pytest.approx(np.mean(returns), rel=1e-12)
    assert s["return_std"] == pytest.approx(np.std(returns), rel=1e-9)
    assert s["large_fraction"] == pytest.approx(large / steps, rel=1e-12)
    assert s["flops_per_inference"] == pytest.approx(costs.per_step(large / steps))
    assert not any(isinstance(v, list) for v in vars(acc).values())      # nothing grows with the episodes
