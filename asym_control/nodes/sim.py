"""
`sim`: the MuJoCo task of training as a ROS 2 robot.

Publishes sensor_msgs/JointState on /joint_states (every joint of the task, root joints
included, by name) stamped with simulation time since the episode began, and the reward of
every step on `reward` (std_msgs/Float64MultiArray labelled episode, step, reward, terminated,
truncated). Applies std_msgs/Float64MultiArray commands from the actuator topic.

Modes:
- lockstep (deterministic; tests and evaluation): one control step per command. A state not
  answered within `lockstep_resend_s` is published again, same stamp (discovery, lost messages).
- real time: a timer at `rate_hz` (the task's own control rate by default, up to 1 kHz)
  publishes the state at each tick, at once, as a robot's joint state broadcaster would: the
  physics of a period is computed as soon as the command for the period's state has arrived
  (that command drives the whole period), and at the tick only when it has not (zero-order hold:
  the newest command, or the hold command before the first). So the simulator's own computation,
  which a real robot does not have, is not charged to the controller's period. Measured: the latency from
  publishing a state to receiving the actuator command for it, and the missed deadlines, states
  whose command arrived after the next tick or never. The actuator message (a plain
  Float64MultiArray) cannot say which state it answers; the master's stamped copy of it, published
  right after it on `command`, does: the command for state S is the newest actuator message
  received when S's copy arrives (both come from the master's one thread, in that order;
  runtime.DeadlineMeter). A period's reward goes out when its physics has been computed, off the
  control path (after the next state when that happens at the tick).
"""

from __future__ import annotations

import json
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from asym_control.deploy.hoptrace import mark
from asym_control.robot.runtime import DeadlineMeter, command_ok
from asym_control.tasks.registry import get_task

from asym_control.nodes.common import (ACTUATOR, CLOCK_QOS, CONTROL_QOS, DIAG_QOS, DIAGNOSTICS, DONE_QOS, EVENT_QOS,
                                       FORWARDED, JOINT_STATES, REWARD, SUMMARY, SUMMARY_QOS, ThrottledLogger,
                                       publish_status, reward_message, set_stamp, spin_node, stamp_ns, steady_timer)

MAX_RATE_HZ = 1000.0


class SimNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim", **kwargs)
        self.log = ThrottledLogger(self.get_logger())
        self.declare_parameter("task", "walker-stand")
        self.declare_parameter("seed", 0)
        self.declare_parameter("episodes", 0)             # 0: run until stopped
        self.declare_parameter("episode_steps", 0)        # 0: the task's own length
        self.declare_parameter("lockstep", True)
        self.declare_parameter("rate_hz", 0.0)            # 0: the task's own control rate
        self.declare_parameter("lockstep_resend_s", 0.5)
        self.declare_parameter("actuator_topic", ACTUATOR)
        # the first state waits until each of these topics has a subscriber (the graph is up)
        self.declare_parameter("wait_for_topics", ["/joint_states"])
        self.declare_parameter("wait_timeout_s", 30.0)
        # then this long for every other node to match the publishers it needs (discovery is
        # per participant: this node seeing a subscriber does not mean its publisher has)
        self.declare_parameter("settle_s", 2.0)
        # readers that this node's reward writer must have matched (the cost monitor; a recorder too)
        self.declare_parameter("wait_for_subscribers", 1)
        # after the last episode: leave (exit status 0, so that `ros2 launch` can end the graph)
        # once the cost monitor has summarised it, or after done_linger_s without a summary
        self.declare_parameter("exit_when_done", False)
        # /clock (rosgraph_msgs/Clock): the simulation's time since start, one control period per
        # step, for nodes run with use_sim_time:=true (the simulator itself keeps wall time: its
        # timers drive the real-time loop)
        self.declare_parameter("publish_clock", True)
        self.declare_parameter("done_linger_s", 10.0)
        # readers that the latched sim_done (the run's statistics) must have matched before the node
        # leaves, within done_linger_s: 1 under asym-control launch, whose launcher reads them
        self.declare_parameter("done_readers", 0)
        p = {n: self.get_parameter(n).value for n in
             ("task", "seed", "episodes", "episode_steps", "lockstep", "rate_hz", "lockstep_resend_s",
              "actuator_topic", "wait_for_topics", "wait_timeout_s", "settle_s", "wait_for_subscribers",
              "exit_when_done", "done_linger_s", "done_readers", "publish_clock")}
        self.spec = get_task(p["task"])
        self.lockstep = bool(p["lockstep"])
        self.episodes_wanted = int(p["episodes"])
        rate = float(p["rate_hz"]) or 1.0 / self.spec.control_dt
        if not 0.0 < rate <= MAX_RATE_HZ:
            raise ValueError(f"rate_hz must be in (0, {MAX_RATE_HZ:g}], got {rate}")
        self.rate_hz = rate
        self.env = self.spec.make_env(seed=int(p["seed"]), episode_steps=int(p["episode_steps"]) or None)
        self.dt_ns = int(round(self.spec.control_dt * 1e9))
        self.resend_s = float(p["lockstep_resend_s"])

        self.state_pub = self.create_publisher(JointState, JOINT_STATES, CONTROL_QOS)
        self.clock_pub = self.create_publisher(Clock, "/clock", CLOCK_QOS) if p["publish_clock"] else None
        self.sim_steps = 0    # control steps since start, every episode: the /clock
        self.reward_pub = self.create_publisher(Float64MultiArray, REWARD, EVENT_QOS)
        self.done_pub = self.create_publisher(String, "sim_done", DONE_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.create_subscription(Float64MultiArray, p["actuator_topic"], self.on_command, CONTROL_QOS)
        # real time: the master's stamped copy of each forwarded command names the state it
        # answers (the actuator message cannot): latency and deadlines, runtime.DeadlineMeter
        self.create_subscription(JointState, FORWARDED, self.on_forwarded, EVENT_QOS)

        self.exit_when_done = bool(p["exit_when_done"])
        self.done_linger_s = float(p["done_linger_s"])
        self.done_readers = int(p["done_readers"])
        self.summarised = False    # the cost monitor's summary of the last episode is in
        self.exit_code: int | None = None   # set when the node is done; spin_node then returns it
        self.finished_at: float | None = None
        if self.exit_when_done:
            self.create_subscription(String, SUMMARY, self.on_summary, SUMMARY_QOS)

        self.episode = 0
        self.finished = False
        self.meter = DeadlineMeter(window=100_000)   # latency; in real time, deadlines too
        self.ticks = 0
        self.reward_out: Float64MultiArray | None = None   # real time: the reward not yet sent
        self.advanced = False    # real time: this period's physics is computed, awaiting the tick
        self.rejected = 0
        self.pending: np.ndarray | None = None     # real time: newest command, zero-order hold
        self.answered = True     # lockstep: the outstanding state has had its command
        self.t_published = 0.0
        self.stamp_published = -1
        self.obs = self.env.reset()
        self.hold = np.zeros(self.spec.act_dim)
        self.wait_for = [t for t in p["wait_for_topics"] if t]
        self.wait_until = time.monotonic() + float(p["wait_timeout_s"])
        self.started = False
        self.settle_s = float(p["settle_s"])
        self.wait_for_subscribers = int(p["wait_for_subscribers"])
        self.seen_all_at: float | None = None
        # every timer is made here, not in a callback; they do nothing until the graph is up
        self.start_timer = steady_timer(self, 0.05, self.try_start)
        if self.lockstep:
            steady_timer(self, min(self.resend_s, 0.1), self.resend)
        else:
            steady_timer(self, 1.0 / self.rate_hz, self.tick)
        steady_timer(self, 1.0, self.publish_diagnostics)
        if self.exit_when_done:
            steady_timer(self, 0.2, self.check_linger)

    def on_summary(self, msg: String) -> None:
        if self.finished and json.loads(msg.data).get("episodes", 0) >= self.episode:
            self.summarised = True
            self.check_linger()

    def leave(self) -> None:
        # the latched statistics reach every matched reader before the writer goes with the node
        self.done_pub.wait_for_all_acked(Duration(seconds=1.0))
        self.finished_at = None
        self.exit_code = 0

    def check_linger(self) -> None:
        """After the last episode: leave once it is summarised and sim_done has its readers, or after done_linger_s."""
        if self.finished_at is None:
            return
        readers = self.done_pub.get_subscription_count()
        if self.summarised and readers >= self.done_readers:
            self.leave()
        elif time.monotonic() - self.finished_at > self.done_linger_s:
            missing = [what for what, ok in (("the episode summary", self.summarised),
                                             (f"{self.done_readers} reader(s) of sim_done (has {readers})",
                                              readers >= self.done_readers)) if not ok]
            self.get_logger().warning(f"no {' or '.join(missing)} {self.done_linger_s:g} s after the last "
                                      "episode: leaving without")
            self.leave()

    def try_start(self) -> None:
        if self.started:
            return
        missing = [t for t in self.wait_for if self.count_subscribers(t) == 0]
        if self.reward_pub.get_subscription_count() < self.wait_for_subscribers:
            missing.append(f"{REWARD} ({self.wait_for_subscribers} matched readers)")
        if missing and time.monotonic() < self.wait_until:
            return
        if not missing:
            if self.seen_all_at is None:
                self.seen_all_at = time.monotonic()
            if time.monotonic() - self.seen_all_at < self.settle_s:
                return
        if missing:
            self.get_logger().warning(f"starting although nobody listens on {', '.join(missing)}")
        self.started = True
        mode = "lockstep" if self.lockstep else f"real time at {self.rate_hz:g} Hz"
        self.get_logger().info(f"{self.spec.name}: {mode}")
        if self.lockstep:
            self.publish_state()

    # state out ------------------------------------------------------------------------------
    def publish_state(self) -> None:
        if self.clock_pub is not None:
            # before the state: a node on sim time stamps what it does with this state's time
            clock = Clock()
            set_stamp(clock.clock, self.sim_steps * self.dt_ns)
            self.clock_pub.publish(clock)
        s = self.env.robot_state()
        msg = JointState()
        self.stamp_published = self.env.t * self.dt_ns
        set_stamp(msg.header.stamp, self.stamp_published)
        msg.name = list(self.spec.joint_names)
        msg.position = s.position.tolist()
        msg.velocity = s.velocity.tolist()
        self.t_published = time.perf_counter()
        self.answered = False
        if not self.lockstep:
            self.meter.sent(self.stamp_published, self.t_published)
            mark("state", self.stamp_published)
        self.state_pub.publish(msg)

    def resend(self) -> None:
        if self.started and self.lockstep and not self.answered and not self.finished \
                and time.perf_counter() - self.t_published > self.resend_s:
            self.publish_state()

    # commands in ----------------------------------------------------------------------------
    def on_command(self, msg: Float64MultiArray) -> None:
        reason = command_ok(msg.data, self.spec.act_dim)
        if reason is not None:
            self.rejected += 1
            self.log("error", "command_rejected", lambda: f"command rejected: {reason}")
            return
        t = time.perf_counter()
        mark("cmd")
        action = np.asarray(msg.data, dtype=np.float64)
        if not self.lockstep:
            self.meter.command(t)
            self.pending = action
            self.flush_reward()
            return
        if not self.answered:
            # lockstep: one state is outstanding at a time, so this command answers it
            self.meter.latency.add(t - self.t_published)
            self.answered = True
        if not self.finished:
            out = self.advance(action)
            if out is not None:
                self.publish_state()   # the next state first: it is on the control path
                self.reward_pub.publish(out)

    def on_forwarded(self, msg: JointState) -> None:
        if self.lockstep:
            return
        stamp = stamp_ns(msg.header.stamp)
        by_command = self.meter.t_command >= self.t_published   # the newest command came after the newest state
        if self.meter.copy(stamp, time.perf_counter()) is None:
            return
        if stamp == self.stamp_published and by_command and not self.advanced and self.started \
                and not self.finished:
            # the command for the newest state is in (and applied from the next tick, as at a
            # robot): compute the period's physics now, so that the next tick only publishes
            self.advanced = True
            out = self.advance(self.pending)
            if out is not None:
                self.reward_pub.publish(out)

    def advance(self, action: np.ndarray) -> Float64MultiArray | None:
        """
        One control step with `action`, an episode's end included.

        Returns the step's reward message for the caller to send, or None once the last episode has
        ended (its reward and `sim_done` are sent here).
        """
        _, reward, terminated, truncated = self.env.step(action, observe=False)
        self.sim_steps += 1
        out = reward_message(self.episode, self.env.t - 1, reward, terminated, truncated)
        if terminated or truncated:
            self.episode += 1
            if self.episodes_wanted and self.episode >= self.episodes_wanted:
                self.finished = True
                self.finished_at = time.monotonic()
                self.meter.finish()
                self.reward_pub.publish(out)
                self.done_pub.publish(String(data=json.dumps(self.stats())))
                self.get_logger().info(f"{self.episode} episode(s) done")
                return None
            self.env.reset()
            self.pending = None
            self.meter.restart()  # stamps restart with the episode
        return out

    def flush_reward(self) -> None:
        if self.reward_out is not None:
            self.reward_pub.publish(self.reward_out)
            self.reward_out = None

    def tick(self) -> None:
        if self.finished or not self.started:
            return
        mark("tick")
        self.ticks += 1
        if self.ticks > 1:
            self.meter.tick(time.perf_counter())
            if not self.advanced:
                # no command for the last state yet: the period runs on the newest one (or holds)
                self.flush_reward()
                self.reward_out = self.advance(self.pending if self.pending is not None else self.hold)
                if self.finished:
                    return
        self.advanced = False
        self.publish_state()

    # diagnostics ----------------------------------------------------------------------------
    def stats(self) -> dict:
        lat = self.meter.latency
        return {"episodes": self.episode, "commands": lat.count, "missed_deadlines": self.meter.missed,
                "ticks": self.ticks, "rejected": self.rejected,
                "latency_p50_ms": 1e3 * lat.percentile(50), "latency_p99_ms": 1e3 * lat.percentile(99),
                "latency_max_ms": 1e3 * lat.max,
                "mode": "lockstep" if self.lockstep else f"real time {self.rate_hz:g} Hz"}

    def publish_diagnostics(self) -> None:
        publish_status(self, self.diag_pub, "asym/sim", self.spec.name,
                       "running" if not self.finished else "finished", self.stats())


def main(args=None) -> int:
    return spin_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
