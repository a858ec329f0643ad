"""
The arm-reach task: the package's 6-DoF arm (urdf/arm.urdf) in MuJoCo, reaching a goal.

One source of truth: MuJoCo loads urdf/arm.urdf, and `build_mujoco_model` adds, in this one
place, what MuJoCo needs and a URDF cannot say (position servos, gravity compensation, a floor,
the target marker, the tool0 site). The observation's forward kinematics is the robot's
(asym_control.robot.arm), computed with NumPy, so it runs in a ROS node from
sensor_msgs/JointState and a geometry_msgs/PointStamped goal alone.

Actions: a in [-1, 1]^6 moves each joint's position target by at most `MAX_STEP_FRACTION` of its
velocity limit times the control period from the measured position (a velocity-bounded
position command, what a ros2_control position interface takes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from asym_control.learning.nets import DTYPE
from asym_control.robot.arm import (ARM_CONTROL_DT, ARM_EPISODE_STEPS, ARM_JOINTS, GOAL_NAMES, MAX_STEP_FRACTION,
                                    SUCCESS_RADIUS, ArmDescription, action_to_target, arm_urdf_path, default_arm,
                                    load_arm)
from asym_control.tasks.registry import ENV_FACTORIES, RobotState, TaskEnv, TaskSpec, register_task

ARM_PHYSICS_DT = 0.002         # s
HOME = np.array([0.0, -0.7, 2.1, 0.2, 0.0, 0.0])   # ready pose: the tool at (0.45, 0, 0.55) m
# goals: a table-top workspace in front of the arm (base frame, m), where a reach is reachable
WORKSPACE_LOW = np.array([0.25, -0.45, 0.10])
WORKSPACE_HIGH = np.array([0.75, 0.45, 0.70])
SHOULDER = np.array([0.0, 0.0, 0.1625])
MAX_REACH = 0.9                # m from the shoulder: inside the arm's ~1 m reach, wrist included


def arm_observation(state) -> np.ndarray:
    """
    arm-reach: cos q (6), sin q (6), joint velocities / velocity limits (6), tool position (3), goal (3), goal.

    Tool (3). RobotState.sensors holds the goal (x, y, z) in the base frame.
    """
    arm = default_arm()
    q = np.asarray(state.position, dtype=np.float64)
    tool = arm.forward(q)
    goal = np.asarray(state.sensors, dtype=np.float64)
    return np.concatenate([np.cos(q), np.sin(q), np.asarray(state.velocity) / arm.velocity, tool, goal,
                           goal - tool]).astype(DTYPE)


def sample_goal(rng: np.random.Generator, arm: ArmDescription | None = None) -> np.ndarray:
    """Draw a goal uniform in the table-top workspace, within MAX_REACH of the shoulder."""
    while True:
        p = rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH)
        if np.linalg.norm(p - SHOULDER) <= MAX_REACH:
            return p


# --- MuJoCo ----------------------------------------------------------------------------------

def build_mujoco_model(urdf: Path | str | None = None):
    """
    urdf/arm.urdf in MuJoCo, with what MuJoCo needs added here and only here.

    A position servo per joint (force limited to the URDF's effort), gravity compensation (a real
    arm's controller does it), a floor, a tool0 site, and a mocap target marker.
    """
    import mujoco

    arm = load_arm(urdf or arm_urdf_path())
    spec = mujoco.MjSpec.from_file(str(arm.path))
    spec.option.timestep = ARM_PHYSICS_DT
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.compiler.autolimits = True
    for body in spec.bodies:
        if body.name != "world":
            body.gravcomp = 1.0
    # the links touch the floor, not each other (the URDF's collision cylinders overlap at
    # every joint; self-collision is the planner's business, not the reaching policy's)
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = 1, 0
    world = spec.worldbody
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2, 2, 0.05], rgba=[0.3, 0.3, 0.3, 1],
                   contype=0, conaffinity=1)
    wrist = spec.body(arm.chain[-1].parent)       # tool0 hangs off the last link by a fixed joint
    wrist.add_site(name="tool0", pos=arm.chain[-1].xyz.tolist(), size=[0.01, 0, 0])
    target = world.add_body(name="target", mocap=True)
    target.add_geom(name="target", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[SUCCESS_RADIUS, 0, 0],
                    rgba=[0.9, 0.2, 0.2, 0.4], contype=0, conaffinity=0)
    for j in arm.joints:
        # half the effort limit for a full step of MAX_STEP_FRACTION x velocity x dt (stiffer
        # servos oscillate at the light wrists with this damping); it covers about half a full
        # step per period, the policy learns that
        kp = 0.5 * j.effort / (MAX_STEP_FRACTION * j.velocity * ARM_CONTROL_DT)
        spec.add_actuator(name=j.name, target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                          gaintype=mujoco.mjtGain.mjGAIN_FIXED, biastype=mujoco.mjtBias.mjBIAS_AFFINE,
                          gainprm=[kp] + [0] * 9, biasprm=[0, -kp, -2.0 * math.sqrt(kp)] + [0] * 7,
                          forcerange=[-j.effort, j.effort], forcelimited=True,
                          ctrlrange=[j.lower, j.upper], ctrllimited=True)
    return spec.compile(), arm


class ArmReachEnv(TaskEnv):
    """
    Goal-conditioned reaching in MuJoCo, the TaskEnv interface.

    reward = -distance(tool, goal) in metres per step, +1 per step inside SUCCESS_RADIUS.
    Episodes are truncated after `episode_steps`; nothing terminates them.
    """

    def __init__(self, spec, seed: int, episode_steps: int):
        import mujoco

        super().__init__(spec, episode_steps)
        self.model, self.arm = build_mujoco_model()
        self.data = mujoco.MjData(self.model)
        self._mj = mujoco
        self._substeps = int(round(ARM_CONTROL_DT / ARM_PHYSICS_DT))
        self._tool = self.model.site("tool0").id
        self._target = self.model.body("target").mocapid[0]
        self._qadr = np.array([self.model.joint(n).qposadr[0] for n in spec.joint_names])
        self._vadr = np.array([self.model.joint(n).dofadr[0] for n in spec.joint_names])
        self._act = np.array([self.model.actuator(n).id for n in spec.joint_names])
        self.rng = np.random.default_rng(seed)
        self.goal = np.zeros(3)

    def reseed(self, seed: int) -> None:
        """Reseed: the next reset() draws its start pose and goal from `seed` again."""
        self.rng = np.random.default_rng(int(seed))

    def robot_state(self) -> RobotState:
        return RobotState(self.data.qpos[self._qadr].copy(), self.data.qvel[self._vadr].copy(), self.goal.copy())

    def native_observation(self) -> np.ndarray:
        """Return the observation from MuJoCo's own kinematics (the tool0 site), to check arm_observation."""
        q, v, tool = self.data.qpos[self._qadr], self.data.qvel[self._vadr], self.tool_position()
        return np.concatenate([np.cos(q), np.sin(q), v / self.arm.velocity, tool, self.goal, self.goal - tool])

    def tool_position(self) -> np.ndarray:
        return self.data.site_xpos[self._tool].copy()

    def distance(self) -> float:
        return float(np.linalg.norm(self.tool_position() - self.goal))

    def set_goal(self, goal) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).copy()
        self.data.mocap_pos[self._target] = self.goal

    def reset(self) -> np.ndarray:
        self._mj.mj_resetData(self.model, self.data)
        q0 = np.clip(HOME + self.rng.uniform(-0.3, 0.3, size=6), self.arm.lower, self.arm.upper)
        self.data.qpos[self._qadr] = q0
        self.data.ctrl[self._act] = q0
        self.set_goal(sample_goal(self.rng, self.arm))
        self._mj.mj_forward(self.model, self.data)
        self.t = 0
        return self.observation()

    def hold_target(self, target: np.ndarray) -> None:
        """Joint position targets (task order) for the position servos, held until the next."""
        self.data.ctrl[self._act] = target

    def advance(self) -> None:
        """One control period of physics under the held targets."""
        for _ in range(self._substeps):
            self._mj.mj_step(self.model, self.data)
        self._mj.mj_kinematics(self.model, self.data)  # positions of the new state, not the last substep's
        self.t += 1

    def step(self, action: np.ndarray, observe: bool = True):
        self.hold_target(action_to_target(action, self.data.qpos[self._qadr], self.arm))
        self.advance()
        d = self.distance()
        reward = -d + (1.0 if d < SUCCESS_RADIUS else 0.0)
        truncated = self.t >= self.episode_steps
        return self.observation() if observe else None, float(reward), False, bool(truncated)

    def rng_state(self) -> str:
        import json
        return json.dumps(self.rng.bit_generator.state)

    def set_rng_state(self, text: str) -> None:
        import json
        self.rng.bit_generator.state = json.loads(text)


ENV_FACTORIES["arm"] = ArmReachEnv

# Not in the paper: goal-conditioned reaching with the package's 6-DoF arm.
# Widths 8 and 64 as for walker-stand (c_large 17.5). lambda 1e-1: measured (docs/benchmarks.md,
# 50 reaches each), 1e-3 / 1e-2 / 1e-1 give 98% / 100% / 100% success at 1.9 / 1.8 / 1.1 cm with
# the large sub-policy on 82% / 16% / 0% of the steps: S-only reaches as well as L-only here, and
# at 1e-1 the master has learned to hand the small one everything (88% fewer FLOPs than L-only).
# Critics 256 wide (training only, no inference cost): with critics as narrow as the actors the
# goal-conditioned value is not learned (L-only, 60k steps: 20% success with 64-wide critics,
# 80% with 128 and 90% with 256 at 30k steps).
register_task(TaskSpec(
    "arm-reach", "arm", "urdf/arm.urdf", 27, 6, ARM_JOINTS, GOAL_NAMES,
    arm_observation, 8, 64, 1e-1, ARM_CONTROL_DT, ARM_EPISODE_STEPS, {}, actuator_names=ARM_JOINTS,
    critic_units=256))
