"""urdf/arm.urdf, its MuJoCo model and the arm-reach task."""

import math

import numpy as np
import pytest

from asym_control.robot.arm import (ARM_JOINTS, MAX_STEP_FRACTION, SUCCESS_RADIUS, UrdfError, action_to_target,
                                    arm_urdf_path, default_arm, load_arm)
from asym_control.tasks.arm import build_mujoco_model, sample_goal
from asym_control.tasks.registry import RobotState, get_task


def test_urdf_is_a_realistic_six_dof_arm():
    arm = default_arm()
    assert arm.joint_names == ARM_JOINTS
    assert all(j.type == "revolute" for j in arm.joints)
    # UR5e-class: reach about 1 m from the shoulder, 150 / 28 N m, 3.14 rad/s, +-pi
    reach = np.linalg.norm(arm.forward(np.zeros(6)) - np.array([0, 0, 0.1625]))
    assert 0.9 < reach < 1.3
    np.testing.assert_allclose(arm.effort, [150, 150, 150, 28, 28, 28])
    np.testing.assert_allclose(arm.velocity, 3.14)
    assert np.all(arm.lower < 0) and np.all(arm.upper > 0) and np.all(arm.upper <= math.pi + 1e-6)


def test_mujoco_model_matches_the_urdf():
    import mujoco

    model, arm = build_mujoco_model()
    data = mujoco.MjData(model)
    assert tuple(model.joint(i).name for i in range(model.njnt)) == ARM_JOINTS
    for j in arm.joints:
        mj = model.joint(j.name)
        np.testing.assert_allclose(model.jnt_range[mj.id], [j.lower, j.upper], atol=1e-9)
        body_axis = model.jnt_axis[mj.id]
        np.testing.assert_allclose(body_axis, j.axis / np.linalg.norm(j.axis), atol=1e-9)
        act = model.actuator(j.name)
        np.testing.assert_allclose(model.actuator_forcerange[act.id], [-j.effort, j.effort])
    # link masses from the URDF (the base is fixed to the world)
    import xml.etree.ElementTree as ET
    masses = {link.get("name"): float(link.find("inertial/mass").get("value"))
              for link in ET.parse(arm_urdf_path()).getroot().findall("link") if link.find("inertial") is not None}
    for name, m in masses.items():
        if name != "base_link":
            assert model.body(name).mass[0] == pytest.approx(m)
    # the NumPy forward kinematics is MuJoCo's, for any configuration
    rng = np.random.default_rng(0)
    tool = model.site("tool0").id
    for _ in range(20):
        q = rng.uniform(arm.lower, arm.upper)
        data.qpos[:] = q
        mujoco.mj_forward(model, data)
        np.testing.assert_allclose(arm.forward(q), data.site_xpos[tool], atol=1e-12)


def test_bad_urdfs_are_rejected_clearly(tmp_path):
    with pytest.raises(UrdfError, match="cannot read"):
        load_arm(tmp_path / "missing.urdf")
    bad = tmp_path / "bad.urdf"
    bad.write_text("<sdf/>")
    with pytest.raises(UrdfError, match="not a URDF"):
        load_arm(bad)
    with pytest.raises(UrdfError, match="no joint leads to link 'gripper'"):
        load_arm(arm_urdf_path(), tip="gripper")
    text = arm_urdf_path().read_text()
    nolimit = tmp_path / "nolimit.urdf"
    start = text.index('<limit', text.index('name="elbow_joint"'))
    nolimit.write_text(text[:start] + text[text.index("/>", start) + 2:])
    with pytest.raises(UrdfError, match="'elbow_joint'.*no <limit>"):
        load_arm(nolimit)


def test_actions_become_bounded_position_targets():
    arm = default_arm()
    q = np.array([3.1, 0.0, -2.79, 0.0, 0.0, 0.0])
    step = MAX_STEP_FRACTION * arm.velocity * 0.04
    target = action_to_target(np.array([1.0, -1.0, -1.0, 5.0, -7.0, np.float64(0.5)]), q, arm, dt=0.04)
    assert np.all(target <= arm.upper) and np.all(target >= arm.lower)
    assert target[0] == pytest.approx(min(3.1 + step[0], arm.upper[0]))
    assert target[2] == pytest.approx(arm.lower[2])   # clamped at the limit
    assert target[3] == pytest.approx(step[3])        # the action is clipped to [-1, 1] first
    assert target[5] == pytest.approx(0.5 * step[5])


def test_goals_are_reachable_and_above_the_table():
    rng = np.random.default_rng(3)
    goals = np.array([sample_goal(rng) for _ in range(200)])
    assert np.all(goals[:, 2] >= 0.1) and np.all(goals[:, 0] >= 0.25)   # in front, above the table
    assert np.all(np.linalg.norm(goals - np.array([0, 0, 0.1625]), axis=1) <= 0.9)
    assert goals[:, 1].min() < -0.3 and goals[:, 1].max() > 0.3          # the whole width
    # and the arm can get there: some configuration inside the limits puts the tool on each goal
    arm = default_arm()
    qs = rng.uniform(arm.lower, arm.upper, size=(20000, 6))
    tools = np.array([arm.forward(q) for q in qs])
    for g in goals[:20]:
        assert np.linalg.norm(tools - g, axis=1).min() < 0.08


def test_arm_reach_observation_and_reward():
    spec = get_task("arm-reach")
    env = spec.make_env(seed=1)
    obs = env.reset()
    assert obs.shape == (spec.obs_dim,)
    st = env.robot_state()
    assert st.sensors.shape == (3,)
    # the observation from the robot's state alone (what the master node sees)
    again = spec.observation(RobotState(st.position, st.velocity, st.sensors))
    np.testing.assert_array_equal(obs, again)
    np.testing.assert_allclose(obs[18:21], env.tool_position(), atol=1e-6)
    np.testing.assert_allclose(obs[24:27], env.goal - env.tool_position(), atol=1e-6)
    _, r, terminated, truncated = env.step(np.zeros(6))
    d = env.distance()
    assert r == pytest.approx(-d + (1.0 if d < SUCCESS_RADIUS else 0.0))
    assert not terminated and not truncated
    # the same seed gives the same episode
    a = spec.make_env(seed=1)
    a.reset()
    np.testing.assert_array_equal(a.goal, env.goal)
