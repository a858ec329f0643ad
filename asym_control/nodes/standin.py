"""
`standin`: the MuJoCo arm behaving like a ros2_control arm, for tests and demos.

Same topics and types as a real arm's driver with a position controller: publishes
sensor_msgs/JointState on /joint_states (the arm's joints in the driver's own order, plus a
gripper joint the policy must ignore), takes the controller's commands
(std_msgs/Float64MultiArray on /<controller>/commands, or trajectory_msgs/JointTrajectory on
/<controller>/joint_trajectory), and holds the last command. Faults to inject: command latency
and jitter, dropped commands, and Gaussian sensor noise.

As the episode runner of the demo it also gives each reach a goal on /asym/goal
(geometry_msgs/PointStamped), publishes the task's reward on /asym/reward (for the cost
monitor's summary), resets the arm between reaches, and at the end publishes on /asym/sim_done
the success rate and the mean final distance.
"""

from __future__ import annotations

import collections
import json
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from asym_control.robot.arm import ARM_JOINTS, SUCCESS_RADIUS
from asym_control.tasks.registry import get_task
from asym_control.nodes.common import (CONTROL_QOS, DIAG_QOS, DIAGNOSTICS, DONE_QOS, EVENT_QOS, GOAL, GOAL_QOS,
                                       JOINT_STATES, REWARD, ThrottledLogger, publish_status, reward_message,
                                       set_stamp, spin_node, steady_timer)

EXTRA_JOINT = "gripper_joint"


class StandinNode(Node):
    def __init__(self, **kwargs):
        super().__init__("standin", **kwargs)
        self.log = ThrottledLogger(self.get_logger())
        for name, default in (("controller", "forward_position_controller"),
                              ("controller_type", "forward_command_controller"),
                              ("joints", list(ARM_JOINTS)),                  # the controller's order
                              ("state_joints", list(reversed(ARM_JOINTS)) + [EXTRA_JOINT]),
                              ("seed", 0), ("episodes", 0), ("episode_steps", 0),
                              ("latency_s", 0.0), ("jitter_s", 0.0), ("drop_rate", 0.0), ("noise_std", 0.0),
                              ("wait_for_subscribers", 2), ("wait_for_reward_readers", 1), ("settle_s", 2.0),
                              ("wait_timeout_s", 60.0),
                              ("start_when_active", "safety")):
            self.declare_parameter(name, default)
        p = {n: self.get_parameter(n).value for n in
             ("controller", "controller_type", "joints", "state_joints", "seed", "episodes", "episode_steps",
              "latency_s", "jitter_s", "drop_rate", "noise_std", "wait_for_subscribers", "wait_for_reward_readers",
              "settle_s",
              "wait_timeout_s", "start_when_active")}
        self.spec = get_task("arm-reach")
        self.env = self.spec.make_env(seed=int(p["seed"]), episode_steps=int(p["episode_steps"]) or None)
        self.joints = list(p["joints"])
        if sorted(self.joints) != sorted(ARM_JOINTS):
            raise ValueError(f"joints must be the arm's {list(ARM_JOINTS)} in any order, got {self.joints}")
        self.state_joints = list(p["state_joints"])
        missing = [j for j in ARM_JOINTS if j not in self.state_joints]
        if missing:
            raise ValueError(f"state_joints lacks {missing}")
        for k in ("latency_s", "jitter_s", "drop_rate", "noise_std"):
            if float(p[k]) < 0 or (k == "drop_rate" and float(p[k]) >= 1):
                raise ValueError(f"{k} must be >= 0 (drop_rate < 1), got {p[k]}")
        self.latency, self.jitter = float(p["latency_s"]), float(p["jitter_s"])
        self.drop_rate, self.noise = float(p["drop_rate"]), float(p["noise_std"])
        self.rng = np.random.default_rng(int(p["seed"]) + 1)
        self.episodes_wanted = int(p["episodes"])
        self.wait_for_subscribers = int(p["wait_for_subscribers"])
        self.wait_for_reward_readers = int(p["wait_for_reward_readers"])
        self.settle_s, self.wait_until = float(p["settle_s"]), time.monotonic() + float(p["wait_timeout_s"])
        self.to_task = np.array([self.joints.index(j) for j in ARM_JOINTS])      # controller -> task order

        self.state_pub = self.create_publisher(JointState, JOINT_STATES, CONTROL_QOS)
        self.goal_pub = self.create_publisher(PointStamped, GOAL, GOAL_QOS)
        self.reward_pub = self.create_publisher(Float64MultiArray, REWARD, EVENT_QOS)
        self.done_pub = self.create_publisher(String, "sim_done", DONE_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, DIAG_QOS)
        if p["controller_type"] == "forward_command_controller":
            self.create_subscription(Float64MultiArray, f"/{p['controller']}/commands",
                                     lambda m: self.receive(list(m.data)), CONTROL_QOS)
        elif p["controller_type"] == "joint_trajectory_controller":
            self.create_subscription(JointTrajectory, f"/{p['controller']}/joint_trajectory", self.on_trajectory,
                                     CONTROL_QOS)
        else:
            raise ValueError(f"controller_type must be forward_command_controller or joint_trajectory_controller, "
                             f"got {p['controller_type']!r}")
        self.queue: collections.deque = collections.deque()     # (due time, target in task order)
        self.received = self.dropped = self.rejected = 0
        self.episode = 0
        self.distances: list[float] = []
        self.started = self.finished = False
        self.seen_all_at: float | None = None
        # as a driver does, the arm's state is published from the start, at rest; the first reach
        # begins once `start_when_active` (the safety node) is active, so that no reach is run
        # by a chain that cannot yet move the arm ("": once the subscribers are there)
        self.lifecycle = None
        if p["start_when_active"]:
            from lifecycle_msgs.srv import GetState
            self.lifecycle = self.create_client(GetState, f"{p['start_when_active']}/get_state")
        self.lifecycle_future = None
        self.chain_active = self.lifecycle is None
        self.env.reset()
        steady_timer(self, self.spec.control_dt, self.tick)
        steady_timer(self, 1.0, self.publish_diagnostics)

    # commands in ----------------------------------------------------------------------------
    def on_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points or list(msg.joint_names) and sorted(msg.joint_names) != sorted(ARM_JOINTS):
            self.rejected += 1
            self.log("error", "trajectory_rejected", "trajectory rejected: no points or other joints")
            return
        order = list(msg.joint_names) or self.joints
        by_name = dict(zip(order, msg.points[-1].positions))
        self.receive([by_name[j] for j in self.joints])

    def receive(self, positions: list[float]) -> None:
        q = np.asarray(positions, dtype=np.float64)
        if q.shape != (len(self.joints),) or not np.all(np.isfinite(q)):
            self.rejected += 1
            self.log("error", "command_rejected", "command rejected: wrong length or not finite")
            return
        self.received += 1
        if self.drop_rate and self.rng.random() < self.drop_rate:
            self.dropped += 1
            return
        due = time.monotonic() + self.latency + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
        self.queue.append((due, q[self.to_task]))

    # the arm ---------------------------------------------------------------------------------
    def poll_chain(self) -> None:
        from lifecycle_msgs.msg import State
        from lifecycle_msgs.srv import GetState

        if self.chain_active:
            return
        if self.lifecycle_future is not None and self.lifecycle_future.done():
            r = self.lifecycle_future.result()
            self.chain_active = r is not None and r.current_state.id == State.PRIMARY_STATE_ACTIVE
            self.lifecycle_future = None
        if not self.chain_active and self.lifecycle_future is None and self.lifecycle.service_is_ready():
            self.lifecycle_future = self.lifecycle.call_async(GetState.Request())

    def ready(self) -> bool:
        if self.started:
            return True
        self.poll_chain()
        missing = self.missing()
        if missing and time.monotonic() < self.wait_until:
            return False
        if missing and self.seen_all_at is None:
            self.get_logger().warning(f"starting the reaches although {', '.join(missing)}")
        self.seen_all_at = self.seen_all_at or time.monotonic()
        if time.monotonic() - self.seen_all_at < self.settle_s:
            return False
        self.started = True
        self.start_episode()
        return True

    def missing(self) -> list[str]:
        """Return what the first reach still waits for: the chain's readers, the cost monitor's, the active chain."""
        out = []
        if self.state_pub.get_subscription_count() < self.wait_for_subscribers:
            out.append(f"{JOINT_STATES} has fewer than {self.wait_for_subscribers} matched readers")
        if self.goal_pub.get_subscription_count() < 1:
            out.append(f"nobody reads {GOAL}")
        # a reach whose first rewards nobody reads is summarised short (its return and length)
        if self.reward_pub.get_subscription_count() < self.wait_for_reward_readers:
            out.append(f"{REWARD} has fewer than {self.wait_for_reward_readers} matched readers")
        if not self.chain_active:
            out.append("the chain is not active")
        return out

    def start_episode(self) -> None:
        self.env.reset()
        self.queue.clear()
        goal = PointStamped()
        goal.header.frame_id = "base_link"
        goal.header.stamp = self.get_clock().now().to_msg()
        goal.point.x, goal.point.y, goal.point.z = (float(v) for v in self.env.goal)
        self.goal_pub.publish(goal)
        self.get_logger().info(f"reach {self.episode + 1}: goal {np.round(self.env.goal, 3).tolist()}")
        self.publish_state()

    def tick(self) -> None:
        if self.finished:
            return
        if not self.ready():
            self.publish_state()    # at rest, as a driver publishes whatever the arm does
            return
        now = time.monotonic()
        target = None
        while self.queue and self.queue[0][0] <= now:
            target = self.queue.popleft()[1]
        if target is not None:
            self.env.hold_target(target)     # the position servos hold it
        self.env.advance()
        d = self.env.distance()
        truncated = self.env.t >= self.env.episode_steps
        out = reward_message(self.episode, self.env.t - 1, -d + (1.0 if d < SUCCESS_RADIUS else 0.0), False,
                             truncated)
        if not truncated:
            self.publish_state()
            self.reward_pub.publish(out)
            return
        self.reward_pub.publish(out)
        self.distances.append(d)
        self.episode += 1
        self.get_logger().info(f"reach {self.episode}: final distance {100 * d:.1f} cm "
                               f"({'success' if d < SUCCESS_RADIUS else 'miss'})")
        if self.episodes_wanted and self.episode >= self.episodes_wanted:
            self.finished = True
            self.done_pub.publish(String(data=json.dumps(self.stats())))
            return
        self.start_episode()

    def publish_state(self) -> None:
        st = self.env.robot_state()
        q = dict(zip(ARM_JOINTS, st.position + (self.rng.normal(0, self.noise, 6) if self.noise else 0.0)))
        v = dict(zip(ARM_JOINTS, st.velocity))
        msg = JointState(name=self.state_joints,
                         position=[float(q.get(j, 0.0)) for j in self.state_joints],
                         velocity=[float(v.get(j, 0.0)) for j in self.state_joints])
        set_stamp(msg.header.stamp, self.env.t * int(round(self.spec.control_dt * 1e9)))
        self.state_pub.publish(msg)

    def stats(self) -> dict:
        d = np.array(self.distances)
        return {"episodes": self.episode, "success_rate": float(np.mean(d < SUCCESS_RADIUS)) if len(d) else 0.0,
                "final_distance": float(d.mean()) if len(d) else float("nan"),
                "final_distances": [round(float(x), 4) for x in d], "commands": self.received,
                "dropped": self.dropped, "rejected": self.rejected, "mode": "stand-in",
                "latency_s": self.latency, "jitter_s": self.jitter, "drop_rate": self.drop_rate,
                "noise_std": self.noise}

    def publish_diagnostics(self) -> None:
        publish_status(self, self.diag_pub, "asym/standin", "arm-reach",
                       "finished" if self.finished else "running", self.stats())


def main(args=None) -> int:
    return spin_node(StandinNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
