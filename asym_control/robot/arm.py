"""
The arm as a robot (ROS-free, no simulator).

Kinematics and limits read from urdf/arm.urdf, its joints, and how a normalised action becomes a
position target. The safety layer reads its limits from here; the reaching task
(asym_control.tasks.arm) computes its observation with this forward kinematics, and builds its
MuJoCo model from the same URDF.

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
ARM_EPISODE_STEPS = 100        # 4 s per reach
SUCCESS_RADIUS = 0.05          # m: a reach succeeds when the tool ends this close to the goal
MAX_STEP_FRACTION = 0.5        # of velocity limit x control period per step


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
        """
        Position of `tip` in the root frame for joint positions q.

        URDF convention: a joint's frame is its origin in the parent's frame, then the
        motion about/along its axis.
        """
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
    """
    Parse the kinematic chain from the URDF's root link to `tip`.

    Clear errors for a file that is not a URDF, a missing tip, or a movable joint without limits.
    """
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
    from asym_control.paths import package_root
    return package_root() / "urdf" / "arm.urdf"


@lru_cache(maxsize=1)
def default_arm() -> ArmDescription:
    return load_arm(arm_urdf_path())


ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
              "wrist_3_joint")
GOAL_NAMES = ("goal_x", "goal_y", "goal_z")


def action_to_target(action: np.ndarray, position: np.ndarray, arm: ArmDescription | None = None,
                     dt: float = ARM_CONTROL_DT) -> np.ndarray:
    """
    Return the joint position target for a normalised action.

    At most MAX_STEP_FRACTION of the velocity limit times dt from the measured position, inside the
    position limits.
    """
    arm = arm or default_arm()
    step = MAX_STEP_FRACTION * arm.velocity * dt
    target = np.asarray(position) + np.clip(action, -1.0, 1.0) * step
    return np.clip(target, arm.lower, arm.upper)
