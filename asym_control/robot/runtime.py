"""
The deployment runtime, free of ROS: what the master, sub-policy and cost-monitor nodes do.

The nodes in asym_control.nodes are thin adapters over these classes (message -> array ->
decision -> message), so the logic is tested without a ROS graph and the graph tests stay few.
"""

from __future__ import annotations

import collections
import math
import time

import numpy as np

from asym_control.asym.policy import LARGE, OPTION_NAMES, SMALL, AsymPolicy
from asym_control.flops import CostTable
from asym_control.tasks.registry import RobotState, TaskSpec


class StateRejected(ValueError):
    """A robot state that must not reach a policy (missing joints, wrong length, NaN or Inf)."""


class JointMap:
    """
    Maps a JointState's (names, positions, velocities) onto a task's joint order, by name.

    Joints may come in any order; joints the task does not know are ignored; a missing joint,
    a length mismatch or a non-finite value rejects the whole state.
    """

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.names = spec.joint_names
        self._cache_key: tuple[str, ...] | None = None
        self._index: np.ndarray | None = None

    def _indices(self, names) -> np.ndarray:
        key = tuple(names)
        if key != self._cache_key:
            where = {n: i for i, n in enumerate(key)}
            missing = [n for n in self.names if n not in where]
            if missing:
                raise StateRejected(f"joint state lacks joint(s) {', '.join(missing)}")
            self._index = np.array([where[n] for n in self.names])
            self._cache_key = key
        return self._index

    def robot_state(self, names, position, velocity, sensors=None) -> RobotState:
        """
        Return the robot's state from a joint state's names, positions and velocities.

        sensors=None: the task's sensors (a goal, say) are read by name from `position`, as
        the master forwards them to the sub-policies; otherwise they are given here.
        """
        n = len(names)
        if len(position) != n or len(velocity) != n:
            raise StateRejected(f"joint state has {n} names but {len(position)} positions and "
                                f"{len(velocity)} velocities")
        idx = self._indices(names)
        q = np.asarray(position, dtype=np.float64)[idx]
        qd = np.asarray(velocity, dtype=np.float64)[idx]
        if sensors is None:
            where = {name: i for i, name in enumerate(names)}
            missing = [name for name in self.spec.sensor_names if name not in where]
            if missing:
                raise StateRejected(f"state lacks {', '.join(missing)}")
            sensors = [position[where[name]] for name in self.spec.sensor_names]
        s = np.asarray(sensors, dtype=np.float64)
        if len(s) != len(self.spec.sensor_names):
            raise StateRejected(f"expected {len(self.spec.sensor_names)} sensor values, got {len(s)}")
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd)) and np.all(np.isfinite(s))):
            raise StateRejected("joint state contains NaN or Inf")
        return RobotState(q, qd, s)


class MasterCore:
    """
    The master's decisions: every n_omega control steps the DQN picks a sub-policy.

    Falls back to the small sub-policy while the large one is marked unavailable.
    """

    def __init__(self, policy: AsymPolicy):
        self.policy = policy
        self.cfg = policy.cfg
        self.step = 0
        self.option: int | None = None
        self.inferences = 0
        self.available = {o: True for o in (SMALL, LARGE)}

    def reset(self) -> None:
        self.step = 0
        self.option = None

    @property
    def deciding(self) -> bool:
        """Whether the next select() runs the DQN (and so needs the observation)."""
        return self.step % self.cfg.n_omega == 0 or self.option is None

    def select(self, obs: np.ndarray | None) -> int:
        """Return the option for this control step (call once per step); `obs` is read only where `deciding`."""
        if self.deciding:
            if self.policy.master is None:
                self.option = self.cfg.options()[0]
            else:
                self.option = self.policy.select(obs)
                self.inferences += 1
        self.step += 1
        return self.effective(self.option)

    def effective(self, option: int) -> int:
        """`option`, or the other sub-policy while `option` is unavailable and the other is not."""
        other = SMALL if option == LARGE else LARGE
        if not self.available[option] and self.available[other] and other in self.policy.actors:
            return other
        return option


def command_ok(command, act_dim: int) -> str | None:
    """None if `command` may reach an actuator, else the reason it may not."""
    if len(command) != act_dim:
        return f"command has {len(command)} values, the actuators take {act_dim}"
    if not all(math.isfinite(x) for x in command):
        return "command contains NaN or Inf"
    if any(abs(x) > 1.0 + 1e-9 for x in command):
        return "command outside the actuator range [-1, 1]"
    return None


class RunningStats:
    """
    Count, mean, maximum and a bounded window (a ring buffer) for percentiles of a timing in seconds.

    Adding is O(1) and allocates nothing: it runs in the control loop.
    """

    def __init__(self, window: int = 2000):
        self.window = int(window)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._ring = np.zeros(self.window)

    def add(self, seconds: float) -> None:
        self._ring[self.count % self.window] = seconds
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    @property
    def recent(self) -> np.ndarray:
        """Return the last `window` samples (in no particular order)."""
        return self._ring[: min(self.count, self.window)]

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.recent, q)) if self.count else 0.0


class DeadlineMeter:
    """
    Latency and missed deadlines of a real-time control loop (the simulator's side).

    Each period the loop sends a state (`sent`), and at its next tick (`tick`) applies the newest
    command it has. The command travels as a plain array that cannot say which state it answers
    (ros2_control's forward_command_controller takes nothing else), so a stamped copy of it follows
    on another topic from the same sender (`copy`): the command for state S is the newest command
    received (`command`) when S's copy arrives, provided it came after S went out; otherwise the
    copy overtook its command and the copy's own arrival, later, counts (never an underestimate).

    Latency: from a state sent to its command, every answered state, late ones included. Missed:
    a state whose command arrived after the next tick, or never (forgotten after `remember`
    periods, at an episode's restart, at the end).
    """

    def __init__(self, window: int = 100_000, remember: int = 64):
        self.latency = RunningStats(window)
        self.remember = int(remember)
        self.missed = 0
        self.sent_at: dict[int, float] = {}     # stamp -> when its state went out, unanswered
        self.deadline: dict[int, float] = {}    # stamp -> the tick after it, if that has passed
        self.t_command = -np.inf
        self.newest: int | None = None

    def sent(self, stamp: int, t: float) -> None:
        self.sent_at[stamp] = t
        self.newest = stamp
        while len(self.sent_at) > self.remember:
            self._forget(next(iter(self.sent_at)))

    def command(self, t: float) -> None:
        self.t_command = t

    def copy(self, stamp: int, t: float) -> float | None:
        """
        Record that the stamped copy of the command for `stamp` arrived at `t`.

        Its latency, or None for a state not outstanding (forgotten, or a copy seen twice).
        """
        sent = self.sent_at.pop(stamp, None)
        if sent is None:
            return None
        answered = self.t_command if self.t_command >= sent else t
        self.latency.add(answered - sent)
        deadline = self.deadline.pop(stamp, None)
        if deadline is not None and answered > deadline:
            self.missed += 1
        return answered - sent

    @property
    def newest_answered(self) -> bool:
        return self.newest is None or self.newest not in self.sent_at

    def tick(self, t: float) -> None:
        """Begin the next period: the newest state's command must have come by now."""
        if not self.newest_answered and self.newest not in self.deadline:
            self.deadline[self.newest] = t

    def restart(self) -> None:
        """Restart the stamps (a new episode): what is outstanding is lost."""
        for stamp in list(self.sent_at):
            self._forget(stamp)
        self.newest = None

    def finish(self) -> None:
        """End the run: states past their tick and still unanswered are missed."""
        for stamp in [s for s in self.sent_at if s in self.deadline]:
            self._forget(stamp)

    def _forget(self, stamp: int) -> None:
        del self.sent_at[stamp]
        self.deadline.pop(stamp, None)
        self.missed += 1


class Timer:
    def __init__(self, stats: RunningStats):
        self.stats = stats

    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.stats.add(time.perf_counter() - self.t)


class CostAccumulator:
    """
    Per-episode usage and FLOPs, with exactly the arithmetic of `asym-control eval`.

    Over all episodes it keeps running sums, not a list: a cost monitor that runs for days
    holds the same few numbers.
    """

    def __init__(self, costs: CostTable, mode: str):
        self.costs = costs
        self.mode = mode
        self.n_episodes = 0
        self.total_steps = 0
        self.total_large = 0
        self._mean = 0.0        # of the episodes' returns (Welford)
        self._m2 = 0.0
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self.large_steps = 0
        self.ret = 0.0

    def add_step(self, option: int) -> None:
        self.steps += 1
        self.large_steps += option == LARGE

    def add_reward(self, reward: float) -> None:
        self.ret += reward

    @property
    def large_fraction(self) -> float:
        return self.large_steps / self.steps if self.steps else 0.0

    def flops_per_step(self, large_fraction: float | None = None) -> float:
        f = self.large_fraction if large_fraction is None else large_fraction
        return self.costs.per_step_of_mode(self.mode, f)

    def end_episode(self) -> dict:
        ep = {"return": self.ret, "steps": self.steps, "large_fraction": self.large_fraction,
              "flops_per_inference": self.flops_per_step(),
              "flops_reduction": 1.0 - self.flops_per_step() / self.costs.large_flops}
        self.n_episodes += 1
        self.total_steps += self.steps
        self.total_large += self.large_steps
        delta = self.ret - self._mean
        self._mean += delta / self.n_episodes
        self._m2 += delta * (self.ret - self._mean)
        self.reset()
        return ep

    def summary(self) -> dict:
        """Over all finished episodes, as `asym-control eval` reports them."""
        n = self.n_episodes
        large = self.total_large / self.total_steps if self.total_steps else 0.0
        fpi = self.flops_per_step(large)
        return {"episodes": n, "return_mean": float(self._mean) if n else 0.0,
                "return_std": float(math.sqrt(self._m2 / n)) if n else 0.0, "large_fraction": float(large),
                "flops_per_inference": float(fpi), "flops_large_only": self.costs.large_flops,
                "flops_reduction": float(1.0 - fpi / self.costs.large_flops)}


__all__ = ["JointMap", "MasterCore", "CostAccumulator", "StateRejected", "command_ok", "RunningStats",
           "Timer", "OPTION_NAMES"]


# the paper's colours (Fig. 4): white dots for the small sub-policy, yellow for the large one
SMALL_RGBA = (1.0, 1.0, 1.0, 1.0)
LARGE_RGBA = (1.0, 0.85, 0.0, 1.0)


class Timeline:
    """
    The scrolling strip of the RViz timeline.

    One dot per control step, newest on the right, at most `capacity` of them (a ring buffer),
    cleared at each episode start.

    Geometry is in a fixed frame: the strip spans `width` metres centred on x = 0 at `height`.
    """

    def __init__(self, capacity: int = 200, width: float = 3.0, height: float = 2.2):
        if capacity <= 0:
            raise ValueError("timeline capacity must be positive")
        self.capacity, self.width, self.height = capacity, width, height
        self.options: collections.deque[int] = collections.deque(maxlen=capacity)
        self.steps = 0
        self.large = 0

    def reset(self) -> None:
        self.options.clear()
        self.steps = self.large = 0

    def add(self, option: int) -> None:
        self.options.append(option)
        self.steps += 1
        self.large += option == LARGE

    def slots(self) -> list[tuple[float, float]]:
        """(x, z) of every place a dot can take, left to right; n dots take the last n."""
        spacing = self.width / self.capacity
        right = self.width / 2
        return [(right - (self.capacity - 1 - i) * spacing, self.height) for i in range(self.capacity)]

    def dots(self) -> list[tuple[float, float, tuple[float, float, float, float]]]:
        """(x, z, rgba) of every dot, oldest first; the newest sits at the right end."""
        places = self.slots()[self.capacity - len(self.options):]
        return [(x, z, LARGE_RGBA if o == LARGE else SMALL_RGBA) for (x, z), o in zip(places, self.options)]

    def caption(self, flops_saving: float) -> str:
        frac = self.large / self.steps if self.steps else 0.0
        return f"large {100 * frac:.1f}% of {self.steps} steps | FLOPs saved {100 * flops_saving:.1f}%"
