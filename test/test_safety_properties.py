"""
Property-based tests of the safety layer (hypothesis).

Whatever the timing and the values of the incoming commands -- bursts, duplicates, long gaps, NaN,
Inf, far targets, states and e-stops in between -- every joint's position sent moves from the
previous one sent by at most velocity limit x ramp x min(time since that one, one period), stays
inside the limits and is finite; the only other outputs are holds and restarts at the measured
pose.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asym_control.robot.arm import ARM_JOINTS, default_arm
from asym_control.robot.safety import SafetyLayer, limits_from_urdf

LIMITS = limits_from_urdf(default_arm(), ARM_JOINTS)
N = len(ARM_JOINTS)

value = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.floats(-10.0, 10.0), st.sampled_from([0.0, 1e-9, -1e-9]))
gap = st.one_of(st.just(0.0), st.floats(0.0, 2e-3), st.floats(0.0, 0.2), st.floats(0.0, 5.0))
event = st.one_of(
    st.tuples(st.just("command"), gap, st.lists(value, min_size=N, max_size=N)),
    st.tuples(st.just("command"), gap, st.lists(value, min_size=0, max_size=N + 2)),   # wrong lengths
    st.tuples(st.just("state"), gap, st.lists(st.floats(-3.0, 3.0), min_size=N, max_size=N)),
    st.tuples(st.sampled_from(["watchdog", "activate", "deactivate", "estop", "reset"]), gap, st.just([])),
)


@settings(max_examples=300, deadline=None)
@given(period=st.floats(1e-3, 0.1), soft_start=st.floats(0.0, 1.0), events=st.lists(event, max_size=120),
       scale=st.floats(0.05, 1.0))
def test_every_command_sent_obeys_the_velocity_limit_in_time(period, soft_start, events, scale):
    limits = limits_from_urdf(default_arm(), ARM_JOINTS, velocity_scale=scale)
    s = SafetyLayer(limits, period, soft_start_s=soft_start, state_timeout_s=0.2)
    t = 0.0
    q = np.zeros(N)
    s.update_state(q, t)
    s.activate(t)
    prev, t_prev = s.last.copy(), t     # the pose a soft start begins from
    for kind, dt, values in events:
        t += dt
        out, exempt = None, False
        if kind == "command":
            out = s.command(np.array(values, dtype=np.float64), t)
        elif kind == "state":
            q = np.array(values)
            before = s.reanchored
            s.update_state(q, t)
            if s.reanchored != before:           # a restart at the measured pose
                prev, t_prev = np.clip(q, limits.lower, limits.upper), t
            continue
        elif kind == "watchdog":
            out, exempt = s.watchdog(t), True
        elif kind == "activate":
            if s.activate(t):
                prev, t_prev = np.clip(q, limits.lower, limits.upper), t
            continue
        elif kind == "deactivate":
            out, exempt = s.deactivate(t), True
        elif kind == "estop":
            out, exempt = s.estop(t), True
        else:
            s.reset_estop()
            continue
        if out is None:
            continue
        assert np.all(np.isfinite(out))
        assert np.all(out >= limits.lower) and np.all(out <= limits.upper)
        hold = np.clip(q, limits.lower, limits.upper)
        if exempt or np.array_equal(out, hold):
            # a hold: where the arm is measured to be
            np.testing.assert_array_equal(out, hold)
        else:
            allowed = limits.velocity * s.ramp(t) * min(t - t_prev, period)
            assert np.all(np.abs(out - prev) <= allowed + 1e-12), (out - prev, allowed)
        prev, t_prev = out, t


@settings(max_examples=200, deadline=None)
@given(override=st.fixed_dictionaries({}, optional={
    "lower": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.booleans()),
    "upper": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
    "velocity": st.floats(allow_nan=True, allow_infinity=True)}))
def test_limit_overrides_are_either_refused_or_only_tighter(override):
    from asym_control.robot.safety import SafetyConfigError

    try:
        lim = limits_from_urdf(default_arm(), ARM_JOINTS, {"elbow_joint": override})
    except SafetyConfigError:
        return
    assert np.all(np.isfinite(lim.lower)) and np.all(np.isfinite(lim.upper)) and np.all(lim.velocity > 0)
    assert np.all(lim.lower >= LIMITS.lower) and np.all(lim.upper <= LIMITS.upper)
    assert np.all(lim.velocity <= LIMITS.velocity) and np.all(lim.lower <= lim.upper)
