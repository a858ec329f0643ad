"""
QoS profiles, topic names and message helpers shared by the nodes.

QoS choices (latency figures in docs/benchmarks.md):
- state and commands: RELIABLE, KEEP_LAST 1. Reliable because a lost state or command stalls a
  lockstep episode and silently drops a control step in real time; depth 1 because only the
  newest state or command is worth acting on -- a queue would feed the policy stale data.
- selection, rewards, the stamped command copy and summaries: RELIABLE, KEEP_ALL: every control
  step must be counted by the cost monitor and recorded; with KEEP_LAST a reader that falls
  behind in a burst (a lockstep episode runs at several hundred steps per second) loses samples
  (seen here: 25% of the selections of an episode), KEEP_ALL makes the writer wait instead.
- the master's hops to and from the sub-policies (one host, both ends ours): BEST_EFFORT, KEEP_LAST
  1: no acknowledgements on the control path (bench/pingpong.py round trip with the
  EventsExecutor: 0.55 ms p50 / 1.36 ms p99 instead of 0.69 / 2.69 ms reliable); a lost sample
  is only possible under overload, and then the newest state is the one to act on anyway
  (lockstep resends its state until it is answered).
- diagnostics: the ROS default (RELIABLE, KEEP_LAST 10).
"""

from __future__ import annotations

import time

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

CONTROL_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                         depth=1, durability=DurabilityPolicy.VOLATILE)
EVENT_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_ALL,
                       depth=1000, durability=DurabilityPolicy.VOLATILE)
INTERNAL_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST,
                          depth=1, durability=DurabilityPolicy.VOLATILE)
# the goal of goal-conditioned tasks: the newest one, kept for nodes that join later
GOAL_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
# the simulator's final statistics: latched, so that a reader matched after they were sent gets them
DONE_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
# the cost monitor's episode summaries: latched too (the newest 100), for the same reason: a reader
# matched after an episode ended (discovery on a loaded machine) still gets its summary
SUMMARY_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=100,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
# /clock: as rclpy's TimeSource subscribes to it (best effort, newest only)
CLOCK_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=1)
DIAG_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)

# topic names, relative to the nodes' namespace (/asym by default) unless absolute
JOINT_STATES = "/joint_states"
SELECTION = "selection"
REWARD = "reward"
SUMMARY = "episode_summary"
ACTUATOR = "actuator_command"
GOAL = "goal"                  # geometry_msgs/PointStamped, for goal-conditioned tasks
FORWARDED = "command"          # the forwarded command, stamped with the state it answers
DIAGNOSTICS = "/diagnostics"


def sub_state_topic(option_name: str) -> str:
    """Where the master forwards the state to the selected sub-policy only."""
    return f"{option_name}/joint_states"


def sub_command_topic(option_name: str) -> str:
    return f"{option_name}/command"


def publish_status(node, pub, name: str, hardware_id: str, message: str, values: dict, level=None) -> None:
    """
    Publish one diagnostic_msgs/DiagnosticStatus on /diagnostics.

    Values as strings, as diagnostic_updater would publish it.
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    st = DiagnosticStatus(level=DiagnosticStatus.OK if level is None else level, name=name,
                          hardware_id=hardware_id, message=message)
    st.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    arr = DiagnosticArray(status=[st])
    arr.header.stamp = node.get_clock().now().to_msg()
    pub.publish(arr)


def steady_timer(node, period_s: float, callback):
    """
    Create a timer on the steady clock.

    The nodes' periodic work (watchdogs, diagnostics, episode bookkeeping) measures wall time, and
    must go on when a node runs with use_sim_time and the simulation's /clock stands still (a
    lockstep simulator between episodes, or stopped). Only stamps follow the node's ROS clock.
    """
    from rclpy.clock import Clock, ClockType

    return node.create_timer(period_s, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def set_stamp(stamp, ns: int) -> None:
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)


REWARD_LABELS = ("episode", "step", "reward", "terminated", "truncated")


def reward_message(episode: int, step: int, reward: float, terminated: bool, truncated: bool):
    """/asym/reward: std_msgs/Float64MultiArray with labelled dimensions (REWARD_LABELS)."""
    from std_msgs.msg import Float64MultiArray, MultiArrayDimension

    msg = Float64MultiArray(data=[float(episode), float(step), float(reward), float(terminated), float(truncated)])
    msg.layout.dim = [MultiArrayDimension(label=label, size=1, stride=1) for label in REWARD_LABELS]
    return msg


EXECUTORS = ("events", "single", "multi")


class ThrottledLogger:
    """
    Log a message at most once per `period_s` per key, checking the clock first.

    rclpy's own `throttle_duration_sec` finds its caller by inspecting frames on every call,
    suppressed or not: 0.3 ms per call here (bench/logging_cost.py), which on the control path
    at 500 Hz (a rejected command per period under load) is a missed deadline of its own.
    """

    def __init__(self, logger, period_s: float = 1.0):
        self.logger = logger
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}

    def __call__(self, level: str, key: str, text) -> bool:
        """
        Log `text` at `level` unless `key` was logged within the period; True if logged.

        `text` is a string, or a callable making it, so that a suppressed message costs no
        formatting.
        """
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            return False
        self._last[key] = now
        message = text() if callable(text) else text
        # one call site per severity: rclpy refuses a severity change at the same call site
        if level == "error":
            self.logger.error(message)
        elif level == "warning":
            self.logger.warning(message)
        elif level == "info":
            self.logger.info(message)
        else:
            raise ValueError(f"level must be error, warning or info, got {level!r}")
        return True


def make_executor(context=None, kind: str | None = None):
    """
    Make the executor every node of the package spins on.

    Rclpy's EventsExecutor by default (its event queue is in C++; measured here it halves the
    per-hop latency of the SingleThreadedExecutor at a third of the idle CPU, docs/benchmarks.md).
    ASYM_EXECUTOR=single or multi selects rclpy's SingleThreadedExecutor or MultiThreadedExecutor
    instead.
    """
    import os

    kind = kind or os.environ.get("ASYM_EXECUTOR", "events")
    if kind == "events":
        from rclpy.experimental import EventsExecutor
        return EventsExecutor(context=context)
    if kind == "single":
        from rclpy.executors import SingleThreadedExecutor
        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        from rclpy.executors import MultiThreadedExecutor
        return MultiThreadedExecutor(num_threads=4, context=context)
    raise ValueError(f"ASYM_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {kind!r}")


def spin_executor(executor, until=None) -> None:
    """
    Spin until the executor's context shuts down (or `until()` is true).

    A loop of spin_once, not spin(): in rclpy 9.1.2 the EventsExecutor's spin() neither fires
    timers nor delivers messages here, while spin_once does both.
    """
    import gc

    import rclpy
    from rclpy.executors import ExternalShutdownException

    # everything made at start-up (models, MuJoCo, message classes) moves out of the collector's
    # reach: a full collection over it takes milliseconds, a missed control period at 500 Hz
    gc.collect()
    gc.freeze()
    try:
        while rclpy.ok(context=executor.context) and not (until is not None and until()):
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except RuntimeError:
        # Ctrl-C (rclpy's handler shuts the context down at once) while a callback was publishing,
        # or while spin_once was building its wait set: the publish finds its context gone
        # (RCLError), a handle was destroyed (InvalidHandle), or pybind11 cannot convert a handle
        # it no longer has (a plain RuntimeError, seen under load). All three derive from
        # RuntimeError; with the context down it is the shutdown asked for, not a failure
        if rclpy.ok(context=executor.context):
            raise


def spin_node(node_factory, args=None) -> int:
    """
    Spin a node: the main() body shared by every node.

    Init, spin, clean shutdown; a start-up error is one clear line on stderr and exit status 2 (no
    traceback). A node that sets `exit_code` (the simulator after its episodes) ends the spin and
    exits with that status.
    """
    import sys

    import rclpy
    from rclpy.executors import ExternalShutdownException

    from asym_control.training.checkpoint import CheckpointError

    # a node with `on_process_exit` (the safety node: a hold when it is stopped) handles SIGINT and
    # SIGTERM itself, so that its context is still up to publish; others let rclpy shut down
    on_exit = getattr(node_factory, "on_process_exit", None) is not None
    if on_exit:
        import signal

        from rclpy.signals import SignalHandlerOptions

        def interrupt(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    else:
        rclpy.init(args=args)
    node = None
    executor = None
    try:
        try:
            executor = make_executor()
            node = node_factory()
        except (CheckpointError, ValueError) as e:
            print(f"{node_factory.__name__}: refusing to start: {e}", file=sys.stderr)
            return 2
        executor.add_node(node)
        spin_executor(executor, until=lambda: getattr(node, "exit_code", None) is not None)
    except (KeyboardInterrupt, ExternalShutdownException):
        if on_exit and node is not None and rclpy.ok():
            node.on_process_exit()
    finally:
        if node is not None:
            node.destroy_node()
        release_context(None, executor)
    return getattr(node, "exit_code", None) or 0


def release_context(context, executor=None) -> None:
    """
    Shut `context` (None: rclpy's default) down and free its DDS participant now.

    rclpy frees the participant only when the context object is collected, which an exiting
    interpreter may never do; a process that a signal then ends mid-exit leaves the participant's
    Fast DDS shared-memory segment and ports behind in /dev/shm (`fastdds shm clean` lists them).
    """
    import rclpy
    from rclpy.utilities import get_default_context

    context = context if context is not None else get_default_context()
    rclpy.try_shutdown(context=context)
    if executor is not None:
        executor.shutdown(timeout_sec=2.0)
    context.destroy()
