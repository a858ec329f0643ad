"""
The safety layer (ROS-free).

Limits, rate limit, soft start, watchdog, e-stop, NaN guard, and the configuration checks against
the URDF.
"""

import numpy as np
import pytest

from asym_control.robot.arm import ARM_JOINTS, default_arm
from asym_control.robot.safety import MIN_RAMP, SafetyConfigError, SafetyLayer, limits_from_urdf

DT = 0.01


def layer(**kw):
    limits = limits_from_urdf(default_arm(), ARM_JOINTS, velocity_scale=kw.pop("velocity_scale", 1.0))
    return SafetyLayer(limits, DT, **kw)


def test_adversarial_commands_never_leave_the_limits():
    s = layer(soft_start_s=0.5)
    L = s.limits
    rng = np.random.default_rng(0)
    s.update_state(rng.uniform(L.lower, L.upper), 0.0)
    assert s.activate(0.0)
    prev = s.last.copy()
    sent = 0
    for k in range(1, 5000):
        t = k * DT
        s.update_state(np.clip(prev + rng.normal(0, 0.01, 6), L.lower, L.upper), t)
        kind = k % 5
        if kind == 0:
            target = rng.uniform(-100, 100, 6)                        # far outside the limits
        elif kind == 1:
            target = np.where(rng.random(6) < 0.5, np.nan, np.inf) * np.ones(6)
        elif kind == 2:
            target = rng.uniform(-1e9, 1e9, 6)
        elif kind == 3:
            target = rng.uniform(L.lower, L.upper, 6)                 # legal but far away
        else:
            target = rng.uniform(-10, 10, 7)                          # wrong length
        out = s.command(target, t)
        if out is None:
            continue
        sent += 1
        assert np.all(np.isfinite(out))
        assert np.all(out >= L.lower) and np.all(out <= L.upper)
        assert np.all(np.abs(out - prev) <= L.velocity * DT * s.ramp(t) + 1e-12)
        prev = out
    assert sent > 1000 and s.rejected > 1000


def test_soft_start_ramps_the_speed_from_the_current_pose():
    s = layer(soft_start_s=1.0)
    q = np.zeros(6)
    s.update_state(q, 0.0)
    assert s.activate(0.0)
    far = s.limits.upper.copy()
    steps = []
    last = q
    for k in range(1, 151):
        s.update_state(last, k * DT)
        out = s.command(far, k * DT)
        steps.append(np.abs(out - last).max())
        last = out
    full = s.limits.velocity.max() * DT
    assert steps[0] == pytest.approx(max(MIN_RAMP, DT / 1.0) * full)   # starts slow, at the pose
    assert steps[49] == pytest.approx(0.5 * full, rel=0.03)             # half speed half way
    assert steps[120] == pytest.approx(full)                            # full speed after 1 s
    assert np.all(np.diff(steps[:100]) >= -1e-12)


def test_watchdog_holds_once_on_stale_state():
    s = layer(soft_start_s=0.0, state_timeout_s=0.2)
    q = np.full(6, 0.3)
    s.update_state(q, 0.0)
    s.activate(0.0)
    assert s.command(q + 0.01, 0.1) is not None
    assert s.watchdog(0.15) is None
    hold = s.watchdog(0.25)
    np.testing.assert_array_equal(hold, q)            # the last measured pose
    assert s.watchdog(0.3) is None                    # once
    assert s.command(q + 0.01, 0.3) is None           # nothing passes while stale
    s.update_state(q, 0.31)
    assert s.command(q + 0.01, 0.32) is not None      # and resumes on a fresh state


def test_estop_latches_until_reset_and_reactivation():
    s = layer(soft_start_s=0.0)
    q = np.full(6, -0.2)
    s.update_state(q, 0.0)
    s.activate(0.0)
    np.testing.assert_array_equal(s.estop(0.005), q)
    assert s.command(q, 0.01) is None
    assert not s.activate(0.02)                       # refused while e-stopped
    s.reset_estop()
    assert s.command(q, 0.03) is None                 # still inactive after the reset
    s.update_state(q, 0.04)
    assert s.activate(0.04) and s.command(q, 0.05) is not None


def test_inactive_layer_passes_nothing_and_deactivation_holds():
    s = layer()
    q = np.full(6, 0.1)
    assert s.command(q, 0.0) is None                  # never activated
    assert not s.activate(0.0)                        # no state yet
    s.update_state(q, 0.0)
    s.activate(0.0)
    np.testing.assert_array_equal(s.deactivate(0.05), q)
    assert s.command(q, 0.1) is None


def test_configuration_contradicting_the_urdf_is_refused():
    arm = default_arm()
    with pytest.raises(SafetyConfigError, match="not in arm.urdf"):
        limits_from_urdf(arm, list(ARM_JOINTS[:5]) + ["gripper_joint"])
    with pytest.raises(SafetyConfigError, match=r"lack \['wrist_3_joint'\]"):
        limits_from_urdf(arm, ARM_JOINTS[:5])
    with pytest.raises(SafetyConfigError, match="listed twice"):
        limits_from_urdf(arm, list(ARM_JOINTS) + ["elbow_joint"])
    with pytest.raises(SafetyConfigError, match="velocity limit 5.0 is above the URDF's 3.14"):
        limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": {"velocity": 5.0}})
    with pytest.raises(SafetyConfigError, match="upper limit 4.0 is above"):
        limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": {"upper": 4.0}})
    with pytest.raises(SafetyConfigError, match="does not drive"):
        limits_from_urdf(arm, ARM_JOINTS, {"finger": {"upper": 0.0}})
    for bad in (float("nan"), float("inf"), -float("inf"), "1.0", True, None):
        for key in ("lower", "upper", "velocity"):
            with pytest.raises(SafetyConfigError, match=f"elbow_joint: {key} limit must be a finite number"):
                limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": {key: bad}})
    with pytest.raises(SafetyConfigError, match="velocity limit must be positive"):
        limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": {"velocity": -1.0}})
    with pytest.raises(SafetyConfigError, match=r"unknown limit\(s\) \['vel'\]"):
        limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": {"vel": 1.0}})
    with pytest.raises(SafetyConfigError, match="must be an object"):
        limits_from_urdf(arm, ARM_JOINTS, {"elbow_joint": 1.0})
    for scale in (float("nan"), 0.0, 1.5, -1.0):
        with pytest.raises(SafetyConfigError, match="velocity_scale"):
            limits_from_urdf(arm, ARM_JOINTS, velocity_scale=scale)
    lim = limits_from_urdf(arm, ARM_JOINTS)
    for kw in ({"period_s": float("nan")}, {"soft_start_s": float("inf")}, {"state_timeout_s": -1.0},
               {"following_error": float("nan")}):
        with pytest.raises(SafetyConfigError, match="must be finite"):
            SafetyLayer(lim, **{"period_s": DT, **kw})
    # tighter limits are fine, in the controller's own joint order
    order = list(reversed(ARM_JOINTS))
    lim = limits_from_urdf(arm, order, {"elbow_joint": {"lower": -1.0, "upper": 1.0, "velocity": 1.0}})
    i = order.index("elbow_joint")
    assert lim.joint_names == tuple(order)
    assert (lim.lower[i], lim.upper[i], lim.velocity[i]) == (-1.0, 1.0, 1.0)


def test_a_moved_arm_restarts_from_where_it_is():
    s = layer(soft_start_s=1.0)
    s.update_state(np.zeros(6), 0.0)
    s.activate(0.0)
    for k in range(1, 200):
        s.update_state(s.last, k * DT)
        s.command(np.full(6, 2.0), k * DT)
    assert s.ramp(2.0) == 1.0
    moved = np.full(6, -1.0)
    s.update_state(moved, 2.0)                       # something else moved the arm
    assert s.reanchored == 1
    out = s.command(np.full(6, 2.0), 2.01)
    assert np.all(np.abs(out - moved) <= s.limits.velocity * DT * MIN_RAMP + 1e-12)


def test_a_burst_of_commands_moves_the_arm_no_faster_than_a_steady_stream():
    """
    1 kHz of alternating extreme actions with a 10 ms period.

    Each command may move a joint by one millisecond's worth, not by a period's (the step is
    limited per unit of time).
    """
    s = layer(soft_start_s=0.0)
    q = np.zeros(6)
    s.update_state(q, 0.0)
    assert s.activate(0.0)
    out, t = [], 0.0
    for k in range(1, 1001):
        t = k * 1e-3
        s.update_state(q, t)
        out.append(s.command(np.where(k % 2, s.limits.upper, s.limits.lower), t))
    path = np.abs(np.diff(np.array([q] + out), axis=0)).sum(axis=0)
    assert np.all(path <= s.limits.velocity * t + 1e-9)        # one second at the limit, at most
    assert np.all(np.abs(out[0] - q) <= s.limits.velocity * 1e-3 + 1e-12)
