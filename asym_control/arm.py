"""The arm: kinematics and limits from urdf/arm.urdf, the reaching task's observation, and the
MuJoCo model built from the same URDF.

One source of truth: MuJoCo loads urdf/arm.urdf, and `build_mujoco_model` adds, in this one
place, what MuJoCo needs and a URDF cannot say (position servos, gravity compensation, a floor,
the target marker, the tool0 site). The safety layer reads its limits from the same file, and the
observation's forward kinematics is computed from it with NumPy, so it runs in a ROS node from
sensor_msgs/JointState and a geometry_msgs/PointStamped goal alone.

Actions: a in [-1, 1]^6 moves each joint's position target by at most `MAX_STEP_FRACTION` of its
velocity limit times the control period from the measured position (a velocity-bounded
position command, what a ros2_control position interface takes).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ARM_CONTROL_DT = 0.04          # s: the policy's control period (25 Hz)
ARM_PHYSICS_DT = 0.002         # s
ARM_EPISODE_STEPS = 100        # 4 s per reach
SUCCESS_RADIUS = 0.05          # m: a reach succeeds when the tool ends this close to the goal
MAX_STEP_FRACTION = 0.5        # of velocity limit x control period per step
HOME = np.array([0.0, -0.7, 2.1, 0.2, 0.0, 0.0])   # ready pose: the tool at (0.45, 0, 0.55) m
# goals: a table-top workspace in front of the arm (base frame, m), where a reach is reachable
WORKSPACE_LOW = np.array([0.25, -0.45, 0.10])
WORKSPACE_HIGH = np.array([0.75, 0.45, 0.70])
SHOULDER = np.array([0.0, 0.0, 0.1625])
MAX_REACH = 0.9                # m from the shoulder: inside the arm's ~1 m reach, wrist included


class UrdfError(ValueError):
    pass


@dataclass(frozen=True)
class Joint:
    name: str
    type: str
    parent: str
    child: str
    xyz: np.ndarray
    rpy: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    velocity: float
    effort: float


@dataclass(frozen=True)
class ArmDescription:
    """The chain from the base to `tip` of a URDF: movable joints in order, with limits."""

    path: Path
    chain: tuple[Joint, ...]        # every joint from the root link to tip, fixed ones included
    tip: str

    @property
    def joints(self) -> tuple[Joint, ...]:
        return tuple(j for j in self.chain if j.type in ("revolute", "continuous", "prismatic"))

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def velocity(self) -> np.ndarray:
        return np.array([j.velocity for j in self.joints])

    @property
    def effort(self) -> np.ndarray:
        return np.array([j.effort for j in self.joints])

    def forward(self, q: np.ndarray) -> np.ndarray:
        """Position of `tip` in the root frame for joint positions q (URDF convention: a joint's
        frame is its origin in the parent's frame, then the motion about/along its axis)."""
        T = np.eye(4)
        i = 0
        for j in self.chain:
            T = T @ _origin(j.xyz, j.rpy)
            if j.type in ("revolute", "continuous"):
                T = T @ _rotation4(j.axis, q[i])
                i += 1
            elif j.type == "prismatic":
                M = np.eye(4)
                M[:3, 3] = j.axis * q[i]
                T = T @ M
                i += 1
        return T[:3, 3].copy()


def _rpy_matrix(rpy) -> np.ndarray:
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def _origin(xyz, rpy) -> np.ndarray:
    M = np.eye(4)
    M[:3, :3] = _rpy_matrix(rpy)
    M[:3, 3] = xyz
    return M


def _rotation4(axis, angle) -> np.ndarray:
    x, y, z = axis / np.linalg.norm(axis)
    c, s, C = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    M = np.eye(4)
    M[:3, :3] = [[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                 [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                 [z * x * C - y * s, z * y * C + x * s, c + z * z * C]]
    return M


def _floats(text: str | None, n: int, default: float = 0.0) -> np.ndarray:
    if text is None:
        return np.full(n, default)
    values = [float(v) for v in text.split()]
    if len(values) != n:
        raise UrdfError(f"expected {n} numbers, got {text!r}")
    return np.array(values)


def load_arm(path: Path | str, tip: str = "tool0") -> ArmDescription:
    """Parse the kinematic chain from the URDF's root link to `tip`; clear errors for a file
    that is not a URDF, a missing tip, or a movable joint without limits."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise UrdfError(f"cannot read URDF {path}: {e}") from None
    if root.tag != "robot":
        raise UrdfError(f"{path} is not a URDF (root element <{root.tag}>, expected <robot>)")
    by_child: dict[str, Joint] = {}
    for j in root.findall("joint"):
        name, jtype = j.get("name"), j.get("type")
        origin, axis, limit = j.find("origin"), j.find("axis"), j.find("limit")
        movable = jtype in ("revolute", "prismatic")
        if movable and limit is None:
            raise UrdfError(f"{path}: joint {name!r} ({jtype}) has no <limit>")
        lim = (lambda k, d: float(limit.get(k, d))) if limit is not None else (lambda k, d: d)
        joint = Joint(
            name=name, type=jtype, parent=j.find("parent").get("link"), child=j.find("child").get("link"),
            xyz=_floats(origin.get("xyz") if origin is not None else None, 3),
            rpy=_floats(origin.get("rpy") if origin is not None else None, 3),
            axis=_floats(axis.get("xyz") if axis is not None else None, 3, 0.0) if axis is not None
            else np.array([1.0, 0.0, 0.0]),
            lower=lim("lower", -math.inf if jtype == "continuous" else 0.0),
            upper=lim("upper", math.inf if jtype == "continuous" else 0.0),
            velocity=lim("velocity", math.inf), effort=lim("effort", math.inf))
        by_child[joint.child] = joint
    if tip not in by_child:
        raise UrdfError(f"{path}: no joint leads to link {tip!r}")
    chain = []
    link = tip
    while link in by_child:
        chain.append(by_child[link])
        link = by_child[link].parent
    return ArmDescription(path=path, chain=tuple(reversed(chain)), tip=tip)


def arm_urdf_path() -> Path:
    from .graph import package_root
    return package_root() / "urdf" / "arm.urdf"


@lru_cache(maxsize=1)
def default_arm() -> ArmDescription:
    return load_arm(arm_urdf_path())


ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
              "wrist_3_joint")
GOAL_NAMES = ("goal_x", "goal_y", "goal_z")


def arm_observation(state) -> np.ndarray:
    """arm-reach: cos q (6), sin q (6), joint velocities / velocity limits (6), tool position (3),
    goal (3), goal - tool (3). RobotState.sensors holds the goal (x, y, z) in the base frame."""
    from .nets import DTYPE

    arm = default_arm()
    q = np.asarray(state.position, dtype=np.float64)
    tool = arm.forward(q)
    goal = np.asarray(state.sensors, dtype=np.float64)
    return np.concatenate([np.cos(q), np.sin(q), np.asarray(state.velocity) / arm.velocity, tool, goal,
                           goal - tool]).astype(DTYPE)


def action_to_target(action: np.ndarray, position: np.ndarray, arm: ArmDescription | None = None,
                     dt: float = ARM_CONTROL_DT) -> np.ndarray:
    """The joint position target for a normalised action: at most MAX_STEP_FRACTION of the
    velocity limit times dt from the measured position, inside the position limits."""
    arm = arm or default_arm()
    step = MAX_STEP_FRACTION * arm.velocity * dt
    target = np.asarray(position) + np.clip(action, -1.0, 1.0) * step
    return np.clip(target, arm.lower, arm.upper)


def sample_goal(rng: np.random.Generator, arm: ArmDescription | None = None) -> np.ndarray:
    """A goal uniform in the table-top workspace in front of the arm, within MAX_REACH of the
    shoulder."""
    while True:
        p = rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH)
        if np.linalg.norm(p - SHOULDER) <= MAX_REACH:
            return p


# --- MuJoCo ----------------------------------------------------------------------------------

def build_mujoco_model(urdf: Path | str | None = None):
    """urdf/arm.urdf in MuJoCo, with what MuJoCo needs added here and only here: a position servo
    per joint (force limited to the URDF's effort), gravity compensation (a real arm's
    controller does it), a floor, a tool0 site, and a mocap target marker."""
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


class ArmReachEnv:
    """Goal-conditioned reaching in MuJoCo, the TaskEnv interface.

    reward = -distance(tool, goal) in metres per step, +1 per step inside SUCCESS_RADIUS.
    Episodes are truncated after `episode_steps`; nothing terminates them.
    """

    def __init__(self, spec, seed: int, episode_steps: int):
        import mujoco

        self.spec = spec
        self.episode_steps = int(episode_steps)
        self.t = 0
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
        """The next reset() draws its start pose and goal from `seed` again."""
        self.rng = np.random.default_rng(int(seed))

    def robot_state(self):
        from .tasks import RobotState
        return RobotState(self.data.qpos[self._qadr].copy(), self.data.qvel[self._vadr].copy(), self.goal.copy())

    def observation(self) -> np.ndarray:
        return self.spec.observation(self.robot_state())

    def native_observation(self) -> np.ndarray:
        """The observation from MuJoCo's own kinematics (the tool0 site), to check arm_observation."""
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

    def step(self, action: np.ndarray, observe: bool = True):
        q = self.data.qpos[self._qadr]
        self.data.ctrl[self._act] = action_to_target(action, q, self.arm)
        for _ in range(self._substeps):
            self._mj.mj_step(self.model, self.data)
        self._mj.mj_kinematics(self.model, self.data)  # positions of the new state, not the last substep's
        self.t += 1
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
