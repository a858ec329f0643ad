"""
The simulator's whole state, saved and restored: branches rolled out from one state repeat exactly.

Used by the gate fit (asym_control.asym.gate_fit) and by scripts/master_gap.py. dm_control's
`physics.get_state()` alone does not replay a branch exactly (the warm start and the contact
solver's data are not in it); a copy of all of MuJoCo's data does (test/test_master_gap.py).
"""

from __future__ import annotations


def _mujoco_data(model, data):
    """Return a copy of all of MuJoCo's data, the warm start and the solver's state included."""
    import mujoco
    snap = mujoco.MjData(model)
    mujoco.mj_copyData(snap, model, data)
    return snap


def simulator_state(env, task: str):
    """Return (save, restore) of the simulator's whole state and the episode's clock, or None."""
    import copy

    from mujoco import mj_copyData
    if hasattr(env, "physics"):                        # dm_control: all of MuJoCo's data, warm start included
        model, data = env.physics.model.ptr, env.physics.data.ptr

        def save():
            return _mujoco_data(model, data), env.t

        def restore(s):
            mj_copyData(data, model, s[0])
            env.t = s[1]
        return save, restore
    if hasattr(env, "achieved_goal") and hasattr(getattr(env, "_env", None), "goal"):
        # gymnasium-robotics' Fetch: all of MuJoCo's data (the mocap target of the gripper is in it),
        # the episode's goal and the last observation; stepping draws no random numbers
        inner = env._env
        model, data = inner.model, inner.data

        def save():
            return _mujoco_data(model, data), inner.goal.copy(), copy.deepcopy(env._obs), env.t

        def restore(s):                                # one state is restored once per branch: copies again
            mj_copyData(data, model, s[0])
            inner.goal = s[1].copy()
            env._obs = copy.deepcopy(s[2])
            env.t = s[3]
        return save, restore
    if task.startswith("MountainCar"):                 # gymnasium's (position, velocity)
        def save():
            return env._env.state.copy(), env.t

        def restore(s):
            env._env.state = s[0].copy()
            env.t = s[1]
        return save, restore
    return None
