"""
`master`: the master policy and the gate.

On every /joint_states message: builds the observation with the task's observation function,
runs the DQN every n_omega control steps, and forwards the state to the selected sub-policy only
(`<option>/joint_states`), so the other computes nothing. With every command it forwards it
publishes the selection (std_msgs/UInt8 on `selection`: 0 small, 1 large), one per control step,
and the command again as sensor_msgs/JointState on `command`, stamped with the state it answers
(for recordings and latency measurement; the actuator topic stays a plain Float64MultiArray as
ros2_control's forward_command_controller takes it). Of the sub-policies' commands it forwards to the actuator topic
only one that

- comes from the selected sub-policy,
- answers the newest state (its stamp equals that state's stamp) within `command_timeout_s`,
- has the actuators' length and only finite values in [-1, 1].

A state whose stamp goes back in time starts a new episode (the simulator's clock restarts at
each episode): the macro steps restart with it. No new state for longer than `state_timeout_s`
after the last one was answered: the gate closes and publishes one hold command; it opens again
with the next state. The selected sub-policy silent past
`command_timeout_s` (or its node gone): it is marked unavailable, the master falls back to the
other one for this step and after, says so on /diagnostics, and takes it back once it publishes
again.
"""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, UInt8

from asym_control.asym.policy import LARGE, OPTION_NAMES, SMALL
from asym_control.robot.arm import GOAL_NAMES
from asym_control.training.checkpoint import load_policy
from asym_control.deploy.hoptrace import mark
from asym_control.robot.runtime import JointMap, MasterCore, RunningStats, StateRejected, Timer, command_ok
from asym_control.nodes.common import (ACTUATOR, CONTROL_QOS, DIAG_QOS, DIAGNOSTICS, EVENT_QOS, FORWARDED, GOAL,
                                       GOAL_QOS, INTERNAL_QOS, JOINT_STATES, SELECTION, ThrottledLogger, publish_status,
                                       spin_node, stamp_ns, steady_timer, sub_command_topic, sub_state_topic)


class MasterNode(Node):
    def __init__(self, **kwargs):
        super().__init__("master", **kwargs)
        self.log = ThrottledLogger(self.get_logger())
        self.declare_parameter("checkpoint_dir", "checkpoints/walker-stand/asym")
        self.declare_parameter("task", "walker-stand")
        self.declare_parameter("actuator_topic", ACTUATOR)
        self.declare_parameter("command_timeout_s", 0.05)
        self.declare_parameter("state_timeout_s", 0.2)
        # lockstep (the simulator is the clock; set from the simulator's parameter by both
        # launchers): the watchdog's wall-clock timeouts are these instead, so that a stall of a
        # loaded machine does not change a deterministic episode; a lost node is still caught
        self.declare_parameter("lockstep", False)
        self.declare_parameter("lockstep_command_timeout_s", 1.0)
        self.declare_parameter("lockstep_state_timeout_s", 5.0)
        self.declare_parameter("hold_command", [0.0])   # one value per actuator, or one for all
        self.declare_parameter("retry_s", 2.0)          # how often an unavailable sub-policy is retried
        # readers that must be matched on `selection` (the cost monitor) and `command` (the
        # simulator) before the first decision; the launcher asks for one more when it records
        # (the cost monitor; the launcher asks for one more when it records or traces)
        self.declare_parameter("wait_for_subscribers", 1)
        # of those, on `command` (the stamped copy): the simulator reads it; a real robot does not
        self.declare_parameter("wait_for_command_readers", -1)   # -1: wait_for_subscribers
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        cfg, policy = load_policy(g("checkpoint_dir"), expect_task=g("task"))
        self.cfg, self.spec = cfg, cfg.spec
        self.core = MasterCore(policy)
        self.joints = JointMap(self.spec)
        hold = list(g("hold_command"))
        if len(hold) == 1:
            hold = hold * self.spec.act_dim
        reason = command_ok(hold, self.spec.act_dim)
        if reason:
            raise ValueError(f"hold_command: {reason}")
        self.hold = hold
        lockstep = bool(g("lockstep"))
        self.command_timeout = float(g("lockstep_command_timeout_s" if lockstep else "command_timeout_s"))
        self.state_timeout = float(g("lockstep_state_timeout_s" if lockstep else "state_timeout_s"))
        if not (self.command_timeout > 0 and self.state_timeout > 0):
            raise ValueError("command and state timeouts must be positive")
        self.retry_s = float(g("retry_s"))
        self.wait_for_subscribers = int(g("wait_for_subscribers"))
        self.wait_for_command_readers = int(g("wait_for_command_readers"))
        if self.wait_for_command_readers < 0:
            self.wait_for_command_readers = self.wait_for_subscribers
        self.ready = False
        self.t_unavailable = {o: 0.0 for o in (SMALL, LARGE)}

        self.actuator_pub = self.create_publisher(Float64MultiArray, g("actuator_topic"), CONTROL_QOS)
        self.stamped_pub = self.create_publisher(JointState, FORWARDED, EVENT_QOS)
        self.selection_pub = self.create_publisher(UInt8, SELECTION, EVENT_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        self.forward_pubs = {o: self.create_publisher(JointState, sub_state_topic(OPTION_NAMES[o]), INTERNAL_QOS)
                             for o in cfg.options()}
        # states and commands arrive serialised: the master reads them, and forwards the same
        # bytes (to the selected sub-policy; as the stamped copy) instead of converting and
        # serialising them again, 30-50 us a message here (bench/publish_cost.py)
        for o in cfg.options():
            self.create_subscription(JointState, sub_command_topic(OPTION_NAMES[o]),
                                     lambda m, o=o: self.on_command(o, m), INTERNAL_QOS, raw=True)
        self.create_subscription(JointState, JOINT_STATES, self.on_state, CONTROL_QOS, raw=True)
        # goal-conditioned tasks: the goal comes from its own topic and travels with the state
        # forwarded to the sub-policy, so both decide with the same goal
        self.goal: np.ndarray | None = None
        if self.spec.sensor_names == GOAL_NAMES:
            self.declare_parameter("goal_topic", GOAL)
            self.create_subscription(PointStamped, g("goal_topic"), self.on_goal, GOAL_QOS)
        steady_timer(self, min(self.command_timeout, self.state_timeout) / 2, self.watchdog)
        steady_timer(self, 1.0, self.publish_diagnostics)

        self.last_stamp: int | None = None
        self.current: bytes | None = None   # the newest state (serialised), awaiting its command
        self.option: int | None = None
        self.t_state = time.perf_counter()
        self.t_forward = 0.0
        self.answered = True
        self.holding = False
        self.forwarded = 0
        self.states_sent = 0   # states sent to the selected sub-policy (each asks it for one command)
        self.rejected_states = 0
        self.rejected_commands = 0
        self.fallbacks = 0
        self.infer = RunningStats()
        self.last_event = ""          # what /diagnostics reports (a node that runs for days keeps no list)
        self.get_logger().info(f"{self.spec.name} [{cfg.mode}] n_omega={cfg.n_omega}, "
                               f"forwarding to {self.actuator_pub.topic_name}; timeouts "
                               f"{self.command_timeout:g} s (command), {self.state_timeout:g} s (state)"
                               + (" for lockstep" if lockstep else ""))

    # states ---------------------------------------------------------------------------------
    def on_goal(self, msg: PointStamped) -> None:
        goal = np.array([msg.point.x, msg.point.y, msg.point.z])
        if not np.all(np.isfinite(goal)):
            self.log("error", "goal_rejected", "goal rejected: NaN or Inf")
            return
        self.goal = goal

    def on_state(self, data: bytes) -> None:
        msg = deserialize_message(data, JointState)
        sensors = ()
        if self.spec.sensor_names == GOAL_NAMES:
            if self.goal is None:
                self.log("info", "waiting_goal", "waiting for a goal")
                return
            sensors = self.goal
            # the goal rides along to the sub-policy, as named entries of the forwarded state
            msg = JointState(header=msg.header, name=list(msg.name) + list(GOAL_NAMES),
                             position=list(msg.position) + self.goal.tolist(),
                             velocity=(list(msg.velocity) + [0.0] * 3) if len(msg.velocity) else [])
            data = serialize_message(msg)
        try:
            state = self.joints.robot_state(msg.name, msg.position, msg.velocity, sensors)
        except StateRejected as e:
            self.rejected_states += 1
            self.log("error", "state_rejected", lambda e=e: f"state rejected: {e}")
            return
        stamp = stamp_ns(msg.header.stamp)
        mark("m_state", stamp)
        self.t_state = time.perf_counter()
        self.holding = False
        if stamp == self.last_stamp and self.option is not None:
            if not self.answered:   # the same state again (lockstep resend): same decision, resend
                self.option = self.core.effective(self.option)
                self.forward(data)
            return
        if self.last_stamp is not None and stamp < self.last_stamp:
            self.core.reset()      # the simulator's clock went back: a new episode
        for o, ok in self.core.available.items():   # give a lost sub-policy another chance
            if not ok and self.t_state - self.t_unavailable[o] > self.retry_s \
                    and self.count_subscribers(self.forward_pubs[o].topic_name) > 0:
                self.core.available[o] = True
                self.note(f"retrying the {OPTION_NAMES[o]} sub-policy")
        if not self.ready:
            self.ready = (self.selection_pub.get_subscription_count() >= self.wait_for_subscribers
                          and self.stamped_pub.get_subscription_count() >= self.wait_for_command_readers)
            if not self.ready:
                self.log("info", "waiting_readers", "waiting for the cost monitor (and recorders) to connect")
                return
        if not all(self.forward_pubs[o].get_subscription_count() for o in self.forward_pubs
                   if self.core.available[o]):
            # a sub-policy node is not connected yet: deciding now would send this state into
            # the void. Wait; the robot's next state (or the lockstep simulator's resend) retries.
            self.log("info", "waiting_subs", "waiting for the sub-policy nodes to connect")
            return
        self.last_stamp = stamp
        # the observation only where the DQN decides (every n_omega steps)
        obs = self.spec.observation(state) if self.core.deciding else None
        with Timer(self.infer):
            option = self.core.select(obs)
        self.option = option
        self.current = data
        self.answered = False
        self.forward(data)

    def forward(self, data: bytes) -> None:
        self.t_forward = time.perf_counter()
        self.states_sent += 1
        mark("fwd", self.last_stamp)
        self.forward_pubs[self.option].publish(data)

    # commands -------------------------------------------------------------------------------
    def on_command(self, option: int, data: bytes) -> None:
        if option != self.option or self.current is None:
            self.rejected_commands += 1
            self.log("warning", "unselected",
                     lambda: f"command from the unselected {OPTION_NAMES[option]} sub-policy dropped")
            return
        msg = deserialize_message(data, JointState)
        stamp = stamp_ns(msg.header.stamp)
        mark("m_cmd", stamp)
        if stamp != self.last_stamp or self.answered:
            self.rejected_commands += 1
            self.log("warning", "stale", "stale command dropped (it answers an older state)")
            return
        if time.perf_counter() - self.t_state > self.command_timeout:
            self.rejected_commands += 1
            self.log("warning", "late", "command dropped: older than command_timeout_s")
            return
        reason = command_ok(msg.effort, self.spec.act_dim)
        if reason is not None:
            self.rejected_commands += 1
            self.log("error", "bad_command", lambda: f"command from {OPTION_NAMES[option]} rejected: {reason}")
            return
        self.answered = True
        self.forwarded += 1
        mark("act", self.last_stamp)
        self.actuator_pub.publish(Float64MultiArray(data=list(msg.effort)))
        # the rest of the step waits until the command is on its way: in one process the
        # actuator's reader (already queued) runs first, in any case before the next state
        executor = self.executor
        if executor is None:
            self.publish_step(option, data)
        else:
            executor.create_task(lambda: self.publish_step(option, data))

    def publish_step(self, option: int, data: bytes) -> None:
        # one selection per control step: the sub-policy whose command drives the actuator
        self.selection_pub.publish(UInt8(data=option))
        self.stamped_pub.publish(data)  # the same command, stamped with the state it answers

    # watchdog -------------------------------------------------------------------------------
    def watchdog(self) -> None:
        now = time.perf_counter()
        if self.current is not None and not self.answered and now - self.t_forward > self.command_timeout:
            # the selected sub-policy did not answer: this state is lost (a command for it would
            # now be older than the timeout); the other sub-policy takes the next one
            lost = self.option
            other = SMALL if lost == LARGE else LARGE
            if other in self.forward_pubs and self.core.available[lost] and self.core.available[other]:
                self.core.available[lost] = False
                self.t_unavailable[lost] = now
                self.fallbacks += 1
                self.option = other
                self.note(f"{OPTION_NAMES[lost]} sub-policy did not answer within "
                          f"{self.command_timeout * 1e3:.0f} ms: falling back to {OPTION_NAMES[other]}")
        # the state is stale only while the gate waits for one: an unanswered state is the
        # sub-policy's delay (handled above), not the robot's
        if not self.holding and self.answered and self.last_stamp is not None \
                and now - self.t_state > self.state_timeout:
            self.holding = True
            self.current = None
            self.actuator_pub.publish(Float64MultiArray(data=list(self.hold)))
            self.note(f"no state for {self.state_timeout * 1e3:.0f} ms: gate closed, hold command sent")

    def note(self, text: str) -> None:
        self.get_logger().warning(text)
        self.last_event = text
        self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        level = DiagnosticStatus.OK
        message = "forwarding" if not self.holding else "holding: no state"
        if not all(self.core.available[o] for o in self.forward_pubs):
            level = DiagnosticStatus.WARN
            message = "fallback: " + ", ".join(f"{OPTION_NAMES[o]} unavailable"
                                               for o in self.forward_pubs if not self.core.available[o])
        if self.holding:
            level = DiagnosticStatus.WARN
        values = {"inferences": self.core.inferences, "control_steps_forwarded": self.forwarded,
                  "states_sent": self.states_sent,
                  "inference_mean_us": 1e6 * self.infer.mean, "rejected_states": self.rejected_states,
                  "rejected_commands": self.rejected_commands, "fallbacks": self.fallbacks,
                  "last_event": self.last_event}
        publish_status(self, self.diag_pub, "asym/master", self.spec.name, message, values, level)


def main(args=None) -> int:
    return spin_node(MasterNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
