"""
urdf/walker.urdf against the MuJoCo walker.

Joint names, types, axes, limits, and the joint positions (hence link lengths) in the world for
random configurations.
"""

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from asym_control.tasks.registry import WALKER_JOINTS, get_task

URDF = Path(__file__).resolve().parent.parent / "urdf" / "walker.urdf"


def rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    x, y, z = axis
    c, s, C = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


class Urdf:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.joints = {}
        for j in root.findall("joint"):
            origin = j.find("origin")
            limit = j.find("limit")
            self.joints[j.get("name")] = dict(
                type=j.get("type"), parent=j.find("parent").get("link"), child=j.find("child").get("link"),
                xyz=np.array([float(v) for v in origin.get("xyz").split()]),
                axis=np.array([float(v) for v in j.find("axis").get("xyz").split()]),
                lower=float(limit.get("lower")) if limit is not None else None,
                upper=float(limit.get("upper")) if limit is not None else None,
                effort=float(limit.get("effort")) if limit is not None else None)
        self.by_child = {j["child"]: name for name, j in self.joints.items()}

    def anchors(self, q: dict):
        """World position and axis of every joint for joint values q."""
        out = {}

        def frame(link):  # pose of a link frame in the world
            if link not in self.by_child:
                return np.zeros(3), np.eye(3)
            name = self.by_child[link]
            j = self.joints[name]
            p, R = frame(j["parent"])
            p_joint = p + R @ j["xyz"]
            axis_world = R @ j["axis"]
            out[name] = (p_joint, axis_world)
            if j["type"] == "prismatic":
                return p_joint + axis_world * q[name], R
            return p_joint, R @ rot(j["axis"], q[name])

        for name, j in self.joints.items():
            frame(j["child"])
        return out


@pytest.fixture(scope="module")
def models():
    env = get_task("walker-stand").make_env(seed=0)
    return Urdf(URDF), env.physics


def test_same_joints_types_and_limits(models):
    urdf, physics = models
    assert set(urdf.joints) == set(WALKER_JOINTS)
    m = physics.model
    for name in WALKER_JOINTS:
        j = urdf.joints[name]
        jid = m.name2id(name, "joint")
        mj_type = {2: "prismatic", 3: "revolute"}[int(m.jnt_type[jid])]
        if name == "rooty":
            assert j["type"] == "continuous" and not m.jnt_limited[jid]
            continue
        assert j["type"] == mj_type
        if m.jnt_limited[jid]:
            lo, hi = m.jnt_range[jid]
            assert (j["lower"], j["upper"]) == pytest.approx((lo, hi), abs=1e-6)
            # effort limit = the motor's gear: a command of 1 is this torque
            aid = m.name2id(name, "actuator")
            assert j["effort"] == pytest.approx(m.actuator_gear[aid, 0])


def test_joint_positions_and_axes_match_mujoco_in_random_configurations(models):
    urdf, physics = models
    rng = np.random.default_rng(0)
    m, d = physics.model, physics.data
    for _ in range(20):
        q = {}
        with physics.reset_context():
            for name in WALKER_JOINTS:
                jid = m.name2id(name, "joint")
                lo, hi = m.jnt_range[jid] if m.jnt_limited[jid] else (-1.0, 1.0)
                value = rng.uniform(lo, hi)
                d.qpos[m.jnt_qposadr[jid]] = value
                q[name] = value
        anchors = urdf.anchors(q)
        for name in WALKER_JOINTS:
            jid = m.name2id(name, "joint")
            pos, axis = anchors[name]
            # slide joints' anchors move with the joint in MuJoCo; compare after the motion
            if urdf.joints[name]["type"] == "prismatic":
                continue
            np.testing.assert_allclose(pos, d.xanchor[jid], atol=1e-9, err_msg=name)
            np.testing.assert_allclose(axis, d.xaxis[jid], atol=1e-9, err_msg=name)
        # the torso (rooty) ends where MuJoCo puts it: the slides are right
        np.testing.assert_allclose(anchors["rooty"][0], d.xpos[m.name2id("torso", "body")], atol=1e-9)


def test_link_lengths(models):
    urdf, _ = models
    for side in ("right", "left"):
        assert np.linalg.norm(urdf.joints[f"{side}_knee"]["xyz"]) == pytest.approx(0.45)   # hip -> knee
        assert np.linalg.norm(urdf.joints[f"{side}_ankle"]["xyz"]) == pytest.approx(0.5)   # knee -> ankle


@pytest.mark.parametrize("robot,topics", [
    ("walker", {"/robot_description", "/asym/timeline"}),
    ("arm", {"/robot_description", "/asym/timeline", "/asym/goal"}),
])
def test_rviz_config_shows_what_the_graph_publishes_in_a_frame_of_the_urdf(robot, topics):
    import yaml

    root = URDF.parent.parent
    rviz = yaml.safe_load((root / "config" / f"{robot}.rviz").read_text())
    manager = rviz["Visualization Manager"]
    shown = set()
    for d in manager["Displays"]:
        for key in ("Topic", "Description Topic"):
            if key in d:
                shown.add(d[key]["Value"])
    assert topics <= shown
    links = {link.get("name") for link in ET.parse(root / "urdf" / f"{robot}.urdf").getroot().findall("link")}
    assert manager["Global Options"]["Fixed Frame"] in links
    # the launch file opens this config
    assert f'"{robot}.rviz"' in (root / "launch" / f"{robot}.launch.py").read_text()
