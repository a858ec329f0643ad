"""
Command bursts through the running safety node (its own process, real rclpy and Fast DDS).

Measured from outside, the commands that reach the controller move each joint no faster than its
velocity limit, however fast the commands come.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from asym_control.robot.arm import ARM_JOINTS, default_arm
from asym_control.robot.safety import limits_from_urdf
from asym_control.deploy.safety_probe import SafetyProbe, start_safety_process

PERIOD = 0.04


@pytest.fixture
def safety(tmp_path):
    proc = start_safety_process({"period_s": PERIOD, "soft_start_s": 0.0, "state_timeout_s": 0.5},
                                tmp_path / "safety.log")
    p = SafetyProbe()
    try:
        yield p, proc
    finally:
        p.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def probe(safety):
    return safety[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_safety_node_stopped_while_active_sends_a_hold_and_exits_0(safety, sig):
    probe, proc = safety
    probe.bring_up()
    probe.send_action(np.full(6, 1.0))
    probe.wait(lambda: len(probe.commands()) >= 1, 30, "a command to the controller")
    n = len(probe.commands())
    proc.send_signal(sig)          # as ros2 launch stops its processes
    assert proc.wait(timeout=30) == 0
    probe.wait(lambda: len(probe.commands()) > n, 10, "the hold")
    np.testing.assert_allclose(probe.commands()[-1][1], probe.q_task)


def test_a_1khz_burst_of_alternating_extreme_actions_moves_the_arm_at_most_at_its_velocity_limit(probe):
    probe.bring_up()
    n0 = len(probe.commands())
    # alternating full-scale actions, paced at 4 kHz, until 300 reached the controller
    sent, t0 = 0, time.perf_counter()
    deadline = time.monotonic() + 60
    while len(probe.commands()) < n0 + 300:
        assert time.monotonic() < deadline, "the controller heard too little of the burst"
        probe.send_action(np.full(6, 1.0 if sent % 2 else -1.0))
        sent += 1
        while time.perf_counter() < t0 + sent * 2.5e-4:
            pass
    rate = sent / (time.perf_counter() - t0)
    assert rate >= 1000         # the burst is at least 1 kHz (pacing above: 4 kHz), measured
    out = probe.commands()[n0:]
    times = np.array([t for t, _ in out])
    q = np.array([c for _, c in out])
    velocity = limits_from_urdf(default_arm(), ARM_JOINTS).velocity
    # total distance travelled per joint over the burst: at most the velocity limit x the time
    # it lasted, with one period of slack for the first command and the delivery jitter
    path = np.abs(np.diff(q, axis=0)).sum(axis=0)
    span = times[-1] - times[0]
    assert np.all(path <= velocity * (span + 2 * PERIOD)), (path, velocity * span)
    # and the burst did move the arm: the commands were not simply dropped
    assert np.all(path > 0)
