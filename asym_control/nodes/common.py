"""QoS profiles, topic names and message helpers shared by the nodes.

QoS choices (latency figures in docs/benchmarks.md):
- state and commands: RELIABLE, KEEP_LAST 1. Reliable because a lost state or command stalls a
  lockstep episode and silently drops a control step in real time; depth 1 because only the
  newest state or command is worth acting on -- a queue would feed the policy stale data.
- selection, rewards, the stamped command copy and summaries: RELIABLE, KEEP_ALL: every control
  step must be counted by the cost monitor and recorded; with KEEP_LAST a reader that falls
  behind in a burst (a lockstep episode runs at several hundred steps per second) loses samples
  (seen here: 25% of the selections of an episode), KEEP_ALL makes the writer wait instead.
- diagnostics: the ROS default (RELIABLE, KEEP_LAST 10).
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

CONTROL_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                         depth=1, durability=DurabilityPolicy.VOLATILE)
EVENT_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_ALL,
                       depth=1000, durability=DurabilityPolicy.VOLATILE)
DIAG_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)

# topic names, relative to the nodes' namespace (/asym by default) unless absolute
JOINT_STATES = "/joint_states"
SELECTION = "selection"
REWARD = "reward"
SUMMARY = "episode_summary"
ACTUATOR = "actuator_command"
FORWARDED = "command"          # the forwarded command, stamped with the state it answers
DIAGNOSTICS = "/diagnostics"


def sub_state_topic(option_name: str) -> str:
    """Where the master forwards the state to the selected sub-policy only."""
    return f"{option_name}/joint_states"


def sub_command_topic(option_name: str) -> str:
    return f"{option_name}/command"


def publish_status(node, pub, name: str, hardware_id: str, message: str, values: dict, level=None) -> None:
    """One diagnostic_msgs/DiagnosticStatus (values as strings) on /diagnostics, as
    diagnostic_updater would publish it."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    st = DiagnosticStatus(level=DiagnosticStatus.OK if level is None else level, name=name,
                          hardware_id=hardware_id, message=message)
    st.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    arr = DiagnosticArray(status=[st])
    arr.header.stamp = node.get_clock().now().to_msg()
    pub.publish(arr)


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def set_stamp(stamp, ns: int) -> None:
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)


def reward_labels() -> list[str]:
    return ["episode", "step", "reward", "terminated", "truncated"]


def spin_node(node_factory, args=None) -> int:
    """main() body shared by every node: init, spin, clean shutdown; a start-up error is one
    clear line on stderr and exit status 2 (no traceback)."""
    import sys

    import rclpy
    from rclpy.executors import ExternalShutdownException

    from ..checkpoint import CheckpointError

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = node_factory()
        except (CheckpointError, ValueError) as e:
            print(f"{node_factory.__name__}: refusing to start: {e}", file=sys.stderr)
            return 2
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0
