"""
The safety layer between the gate and a robot's controller (ROS-free).

Every command that leaves it is a joint position target that
- is finite,
- lies inside the URDF's position limits,
- moves no joint faster than its velocity limit (times `velocity_scale`) from the previous
  command, in time: by at most limit x min(time since the previous command was sent, one control
  period) on the caller's monotonic clock, whatever the timing of the incoming commands (a burst
  of commands a millisecond apart moves the arm a millisecond's worth each, not a period's), and
  during the soft start after activation no faster than a ramp from 5 % to 100 % of that over
  `soft_start_s`,
- is a hold (the last measured position, inside the limits) when the layer is inactive,
  e-stopped, or the robot's state is older than `state_timeout_s`;
and when the measured pose is more than `following_error` from the last command (the arm was
moved by something else), the rate limit restarts from the measured pose with a new soft start.

The node (asym_control/nodes/safety.py) is a thin lifecycle adapter around `SafetyLayer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import math
import numbers

import numpy as np

from asym_control.robot.arm import ArmDescription

MIN_RAMP = 0.05  # the soft start begins at this fraction of the velocity limit


class SafetyConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Limits:
    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray      # rad/s


def limits_from_urdf(arm: ArmDescription, joint_names: list[str] | tuple[str, ...],
                     overrides: dict[str, dict] | None = None, velocity_scale: float = 1.0) -> Limits:
    """
    Read the limits of `joint_names` (the controller's joint order) from the URDF.

    Tightened by `overrides` ({joint: {lower, upper, velocity}}).

    Clear errors for a joint the URDF does not have, a URDF joint the controller lacks, and an
    override that is looser than the URDF.
    """
    urdf = {j.name: j for j in arm.joints}
    names = tuple(joint_names)
    unknown = [n for n in names if n not in urdf]
    if unknown:
        raise SafetyConfigError(f"joints {unknown} are not in {arm.path.name} (its joints: {list(urdf)})")
    missing = [n for n in urdf if n not in names]
    if missing:
        raise SafetyConfigError(f"the controller's joints lack {missing} of {arm.path.name}")
    if len(set(names)) != len(names):
        raise SafetyConfigError(f"joints listed twice: {names}")
    if not 0.0 < velocity_scale <= 1.0:
        raise SafetyConfigError(f"velocity_scale must be in (0, 1], got {velocity_scale}")
    for name, o in (overrides or {}).items():
        if not isinstance(o, dict):
            raise SafetyConfigError(f"{name}: limits must be an object {{lower, upper, velocity}}, got {o!r}")
        unknown_keys = sorted(set(o) - {"lower", "upper", "velocity"})
        if unknown_keys:
            raise SafetyConfigError(f"{name}: unknown limit(s) {unknown_keys} (known: lower, upper, velocity)")
        for key, value in o.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise SafetyConfigError(f"{name}: {key} limit must be a finite number, got {value!r}")
    lower = np.array([urdf[n].lower for n in names], dtype=np.float64)
    upper = np.array([urdf[n].upper for n in names], dtype=np.float64)
    velocity = np.array([urdf[n].velocity for n in names], dtype=np.float64) * velocity_scale
    for name, o in (overrides or {}).items():
        if name not in names:
            raise SafetyConfigError(f"limits given for {name!r}, which the controller does not drive")
        i = names.index(name)
        j = urdf[name]
        if "lower" in o:
            if o["lower"] < j.lower:
                raise SafetyConfigError(f"{name}: lower limit {o['lower']} is below the URDF's {j.lower}")
            lower[i] = o["lower"]
        if "upper" in o:
            if o["upper"] > j.upper:
                raise SafetyConfigError(f"{name}: upper limit {o['upper']} is above the URDF's {j.upper}")
            upper[i] = o["upper"]
        if "velocity" in o:
            if o["velocity"] > j.velocity:
                raise SafetyConfigError(f"{name}: velocity limit {o['velocity']} is above the URDF's {j.velocity}")
            if o["velocity"] <= 0:
                raise SafetyConfigError(f"{name}: velocity limit must be positive, got {o['velocity']}")
            velocity[i] = min(velocity[i], o["velocity"])
        if lower[i] > upper[i]:
            raise SafetyConfigError(f"{name}: lower limit {lower[i]} above upper limit {upper[i]}")
    return Limits(names, lower, upper, velocity)


class SafetyLayer:
    """
    State machine: inactive -> active (soft start) -> inactive; e-stop latches until reset.

    update_state(q, t) with every measured state; command(target, t) for every command from the
    gate; both return what must be sent to the controller (None: nothing to send).
    """

    def __init__(self, limits: Limits, period_s: float, soft_start_s: float = 2.0, state_timeout_s: float = 0.2,
                 following_error: float = 0.35):
        values = {"period_s": period_s, "soft_start_s": soft_start_s, "state_timeout_s": state_timeout_s,
                  "following_error": following_error}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad or period_s <= 0 or soft_start_s < 0 or state_timeout_s <= 0 or following_error <= 0:
            raise SafetyConfigError("period_s, state_timeout_s and following_error must be finite and positive, "
                                    f"soft_start_s finite and non-negative; got {values}")
        self.limits = limits
        self.period_s = float(period_s)
        self.soft_start_s = float(soft_start_s)
        self.state_timeout_s = float(state_timeout_s)
        self.active = False
        self.estopped = False
        self.q: np.ndarray | None = None         # last measured position
        self.t_state = -np.inf
        self.last: np.ndarray | None = None      # last command sent (or the pose it restarts from)
        self.t_last = -np.inf                    # when `last` was sent (or set)
        self.t_active = 0.0
        self.holding = False
        self.rejected = 0
        self.clamped = 0
        self.following_error = float(following_error)
        self.reanchored = 0

    # --- inputs ---------------------------------------------------------------------------------
    def update_state(self, q: np.ndarray, t: float) -> None:
        q = np.asarray(q, dtype=np.float64)
        if q.shape != self.limits.lower.shape or not np.all(np.isfinite(q)):
            raise ValueError("state rejected: wrong length or not finite")
        self.q = q.copy()
        self.t_state = t
        if self.last is None:
            self.last = self._inside(q)
        elif self.active and np.max(np.abs(q - self.last)) > self.following_error:
            # the arm is far from the last command (moved by hand, by another controller, or a
            # stand-in reset): continue from where it is, with a new soft start
            self.last = self._inside(q)
            self.t_last = t
            self.t_active = t
            self.reanchored += 1

    def activate(self, t: float) -> bool:
        """
        Let commands through from now on, starting with a soft start from the measured pose.

        Refused (False) without a fresh state or while e-stopped.
        """
        if self.estopped or not self.state_fresh(t):
            return False
        self.active = True
        self.holding = False
        self.t_active = t
        self.last = self._inside(self.q)
        self.t_last = t
        return True

    def deactivate(self, t: float) -> np.ndarray | None:
        self.active = False
        return self.hold(t)

    def estop(self, t: float) -> np.ndarray | None:
        """Latch the e-stop: no command passes until it is reset; the robot holds where it is."""
        self.estopped = True
        self.active = False
        return self.hold(t)

    def reset_estop(self) -> None:
        """Clear the e-stop; the layer stays inactive until activated again (soft start)."""
        self.estopped = False

    # --- outputs --------------------------------------------------------------------------------
    def state_fresh(self, t: float) -> bool:
        return self.q is not None and t - self.t_state <= self.state_timeout_s

    def hold(self, t: float) -> np.ndarray | None:
        """Hold the last measured pose (inside the limits); None before any state."""
        if self.q is None:
            return None
        self.last = self._inside(self.q)
        self.t_last = t
        return self.last.copy()

    def watchdog(self, t: float) -> np.ndarray | None:
        """Check the state's age (call periodically): the first time the state is stale while active, one hold."""
        if self.active and not self.holding and not self.state_fresh(t):
            self.holding = True
            return self.hold(t)
        return None

    def command(self, target: np.ndarray, t: float) -> np.ndarray | None:
        """Return the safe command for a position target from the gate, or None (dropped)."""
        target = np.asarray(target, dtype=np.float64)
        if not self.active or self.estopped:
            return None
        if target.shape != self.limits.lower.shape or not np.all(np.isfinite(target)):
            self.rejected += 1
            return None
        if not self.state_fresh(t):
            if not self.holding:
                self.holding = True
                return self.hold(t)
            return None
        self.holding = False
        safe = self._inside(target)
        # the step allowed is the time since the previous command, at most one period, at the
        # velocity limit: a burst gets no more motion than a steady stream (a clock that went
        # backwards, which a monotonic one cannot, would allow none)
        dt = min(max(t - self.t_last, 0.0), self.period_s)
        max_step = self.limits.velocity * dt * self.ramp(t)
        safe = np.clip(safe, self.last - max_step, self.last + max_step)
        safe = self._inside(safe)
        if not np.array_equal(safe, target):
            self.clamped += 1
        self.last = safe
        self.t_last = t
        return safe.copy()

    def ramp(self, t: float) -> float:
        if self.soft_start_s <= 0:
            return 1.0
        return float(np.clip((t - self.t_active) / self.soft_start_s, MIN_RAMP, 1.0))

    def _inside(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.limits.lower, self.limits.upper)
