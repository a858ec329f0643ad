"""
`cost_monitor`: what the controller costs, live.

Counts the selection of every control step (`selection`, one per forwarded command) and the
rewards (`reward`), and computes with the evaluator's arithmetic (runtime.CostAccumulator over
flops.py) the FLOPs per control step, the running fraction on the large sub-policy and the
saving against L-only. Collects the other nodes' inference counters, measured times per
inference, precisions and integer operations from /diagnostics.
Publishes its own status on /diagnostics every second and, at each episode end, a summary
(std_msgs/String, JSON) on `episode_summary` with the same keys as `asym-control eval --json`.
Draws the switching for RViz on `timeline` (visualization_msgs/MarkerArray): a scrolling strip of
dots in a fixed frame above the robot, white for small and yellow for large (the paper's Fig. 4
colours), the last `timeline_length` control steps, cleared at each episode start, with the share
on large and the FLOPs saved as text.
"""

from __future__ import annotations

import collections
import json
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Float64MultiArray, String, UInt8
from visualization_msgs.msg import Marker, MarkerArray

from asym_control.training.checkpoint import load_policy
from asym_control.flops import CONVENTION
from asym_control.asym.policy import LARGE, SMALL
from asym_control.robot.runtime import LARGE_RGBA, SMALL_RGBA, CostAccumulator, Timeline
from asym_control.nodes.common import (DIAG_QOS, DIAGNOSTICS, EVENT_QOS, REWARD, SELECTION, SUMMARY, SUMMARY_QOS,
                                       publish_status, spin_node, steady_timer)

GRACE_S = 0.5  # how long an episode end waits for selections still in flight
MAX_HELD = 100_000  # selections held for an episode's summary (bounded memory on a robot without episodes)
FRESH_STATS_S = 1.5  # how long it waits for every node's diagnostics (1 Hz) from after the end


class CostMonitorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("cost_monitor", **kwargs)
        self.declare_parameter("checkpoint_dir", "checkpoints/walker-stand/asym")
        self.declare_parameter("task", "walker-stand")
        self.declare_parameter("timeline_frame", "world")
        self.declare_parameter("timeline_length", 200)     # dots kept (ring buffer)
        self.declare_parameter("timeline_rate_hz", 20.0)   # marker updates per second at most
        cfg, policy = load_policy(self.get_parameter("checkpoint_dir").value,
                                  expect_task=self.get_parameter("task").value)
        self.cfg = cfg
        self.acc = CostAccumulator(policy.costs, cfg.mode)
        # the selections of the episode in progress, until its end is summarised; a robot that has
        # no episodes (no reward topic) keeps only the newest MAX_HELD (its running statistics
        # count every step)
        self.selections: collections.deque[int] = collections.deque(maxlen=MAX_HELD)
        # ended episodes awaiting their summary: (steps, time the end was seen, rewards)
        self.pending_ends: collections.deque[tuple[int, float, list[float]]] = collections.deque()
        self.node_stats: dict[str, dict[str, str]] = {}
        self.running = CostAccumulator(policy.costs, cfg.mode)  # since start, for the live view
        self.summary_pub = self.create_publisher(String, SUMMARY, SUMMARY_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.create_subscription(UInt8, SELECTION, self.on_selection, EVENT_QOS)
        self.create_subscription(Float64MultiArray, REWARD, self.on_reward, EVENT_QOS)
        self.create_subscription(DiagnosticArray, DIAGNOSTICS, self.on_diagnostics, DIAG_QOS)
        steady_timer(self, 1.0, self.publish_diagnostics)
        steady_timer(self, GRACE_S / 5, self.check_end)
        self.rewards: list[float] = []
        self.rewards_received = 0   # for its status: what has reached it
        self.stats_seen: dict[str, float] = {}
        self.timeline = Timeline(int(self.get_parameter("timeline_length").value))
        self.timeline_frame = self.get_parameter("timeline_frame").value
        self.timeline_pub = self.create_publisher(MarkerArray, "timeline", 10)
        self.timeline_dirty = False
        self.clear_timeline = True
        self._dot_cache = None
        self.timeline_published = 0
        steady_timer(self, 1.0 / float(self.get_parameter("timeline_rate_hz").value), self.publish_timeline)

    def on_selection(self, msg: UInt8) -> None:
        self.selections.append(int(msg.data))
        self.running.add_step(int(msg.data))
        self.timeline.add(int(msg.data))
        self.timeline_dirty = True
        self.check_end()

    def on_reward(self, msg: Float64MultiArray) -> None:
        episode, step, reward, terminated, truncated = msg.data[:5]
        self.rewards.append(reward)
        self.rewards_received += 1
        if terminated or truncated:
            self.pending_ends.append((int(step) + 1, time.monotonic(), self.rewards))
            self.rewards = []
            self.check_end()

    def check_end(self) -> None:
        while self.pending_ends and self.summarise(*self.pending_ends[0]):
            self.pending_ends.popleft()

    def summarise(self, steps: int, seen: float, rewards: list[float]) -> bool:
        """
        Publish the summary of the oldest ended episode once its data are in.

        Its selections, and every node's counters from after its end; False: not yet.
        """
        waited = time.monotonic() - seen
        if len(self.selections) < steps and waited < GRACE_S:
            return False  # selections of this episode still in flight
        if any(t < seen for t in self.stats_seen.values()) and waited < FRESH_STATS_S:
            return False  # the summary reports every node's counters as of after the episode's end
        for _ in range(min(steps, len(self.selections))):
            self.acc.add_step(self.selections.popleft())
        # a fresh timeline strip for the next episode, with its steps already seen
        self.timeline.reset()
        for option in self.selections:
            self.timeline.add(option)
        self.clear_timeline = True
        for r in rewards:
            self.acc.add_reward(r)
        ep = self.acc.end_episode()
        summary = self.acc.summary()
        summary.update(task=self.cfg.task, mode=self.cfg.mode, last_episode=ep, nodes=self.node_stats,
                       flops_convention=CONVENTION)
        self.summary_pub.publish(String(data=json.dumps(summary)))
        self.get_logger().info(
            f"episode {summary['episodes']}: return {ep['return']:.1f}, on large {100 * ep['large_fraction']:.1f}%, "
            f"{ep['flops_per_inference']:.0f} FLOPs/step ({100 * ep['flops_reduction']:.1f}% less than L-only)")
        return True

    def timeline_markers(self) -> MarkerArray:
        stamp = self.get_clock().now().to_msg()
        markers = []
        if self.clear_timeline:
            markers.append(Marker(action=Marker.DELETEALL))
            self.clear_timeline = False
        dots = Marker(type=Marker.SPHERE_LIST, action=Marker.ADD, ns="asym_timeline", id=0)
        dots.header.frame_id, dots.header.stamp = self.timeline_frame, stamp
        dots.pose.orientation.w = 1.0
        d = 0.8 * self.timeline.width / self.timeline.capacity
        dots.scale.x = dots.scale.y = dots.scale.z = d
        dots.points, dots.colors = self.dot_messages()
        text = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns="asym_timeline", id=1)
        text.header.frame_id, text.header.stamp = self.timeline_frame, stamp
        text.pose.position.z = self.timeline.height + 0.15
        text.pose.orientation.w = 1.0
        text.scale.z = 0.1
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        r = self.running
        saving = 1.0 - r.flops_per_step() / r.costs.large_flops if r.steps else 0.0
        text.text = self.timeline.caption(saving)
        markers += [dots, text]
        return MarkerArray(markers=markers)

    def dot_messages(self) -> tuple[list, list]:
        """
        Points and colours of the strip, from message objects made once.

        In the one-process graph this runs on the control thread, so it must stay cheap.
        """
        if self._dot_cache is None:
            self._dot_cache = {}
            self._dot_cache["points"] = [Point(x=x, y=0.0, z=z) for x, z in self.timeline.slots()]
            self._dot_cache["colors"] = {o: ColorRGBA(r=c[0], g=c[1], b=c[2], a=c[3])
                                         for o, c in ((SMALL, SMALL_RGBA), (LARGE, LARGE_RGBA))}
        options = self.timeline.options
        points = self._dot_cache["points"]
        colors = self._dot_cache["colors"]
        return points[len(points) - len(options):], [colors[o] for o in options]

    def publish_timeline(self) -> None:
        # only for a reader (RViz, a recorder): a 200-dot MarkerArray costs ~0.5 ms to publish
        # from rclpy, readers or not, and in the one-process graph that is the control thread's
        if self.timeline_pub.get_subscription_count() == 0:
            return
        if self.timeline_dirty or self.clear_timeline:
            self.timeline_pub.publish(self.timeline_markers())
            self.timeline_published += 1
            self.timeline_dirty = False

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name.startswith("asym/") and st.name != "asym/cost_monitor":
                self.node_stats[st.name] = {kv.key: kv.value for kv in st.values}
                self.stats_seen[st.name] = time.monotonic()

    def publish_diagnostics(self) -> None:
        r = self.running
        values = {"control_steps": r.steps, "large_fraction": r.large_fraction,
                  "flops_per_step": r.flops_per_step() if r.steps else 0.0,
                  "flops_large_only": r.costs.large_flops,
                  "flops_saving": 1.0 - r.flops_per_step() / r.costs.large_flops if r.steps else 0.0,
                  "episodes": self.acc.n_episodes,
                  # what has reached it (control_steps: the selections); an episode end received and
                  # not yet summarised waits for its selections or for the other nodes' counters
                  "rewards_received": self.rewards_received, "episode_ends_pending": len(self.pending_ends)}
        for name, stats in self.node_stats.items():
            for key in ("inferences", "inference_mean_us", "precision", "int_ops_per_inference"):
                if key in stats:
                    values[f"{name.split('/')[-1]}.{key}"] = stats[key]
        publish_status(self, self.diag_pub, "asym/cost_monitor", self.cfg.task,
                       f"{100 * values['large_fraction']:.1f}% on large, "
                       f"{100 * values['flops_saving']:.1f}% FLOPs saved", values)


def main(args=None) -> int:
    return spin_node(CostMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
