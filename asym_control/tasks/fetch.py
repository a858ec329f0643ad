"""
FetchPickAndPlace-v4 (gymnasium-robotics) as a goal-conditioned task, with what HER needs.

The robot's state, as its state estimator would give it: RobotState.sensors holds Fetch's own
observation (gripper and block positions and velocities, 25 entries), the achieved goal (the
block's position, 3) and the desired goal (3), in that order; the observation is all of it, the
31 entries of the paper's network (its large actor, 31 -> 128 -> 128 -> 8, is Table IV's 42,755
FLOPs). The reward is Fetch's sparse one, -1 per step until the block is within 5 cm of the goal,
0 there; success is being there at the episode's end (50 steps). `her` describes where the
desired goal sits in the observation and how a reward follows from (achieved, desired), so that
the shared buffer can relabel transitions with goals achieved later (learning/buffers.py).

gymnasium-robotics 1.4.2 cannot build its Fetch environments with MuJoCo 3.17 (the version
dm_control 1.0.50 needs): its joint helpers test `joint_type in (mjJNT_HINGE, mjJNT_SLIDE)`, and
a mujoco 3.17 enum does not compare equal to the numpy integer MuJoCo's model returns, so every
hinge or slide joint fails an assertion when the environment is made. The environment here is
gymnasium-robotics' own, its helpers for joints replaced by ones that compare the type as an
integer; nothing else of it changes.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings

import numpy as np

from asym_control.tasks.registry import ENV_FACTORIES, HerSpec, RobotState, TaskEnv, TaskSpec, register_task

GOAL_DIM = 3
DISTANCE_THRESHOLD = 0.05      # m, gymnasium-robotics' Fetch default


def _sensor_names(n_obs: int) -> tuple[str, ...]:
    return tuple(f"fetch_obs_{i}" for i in range(n_obs)) + (
        "achieved_x", "achieved_y", "achieved_z", "goal_x", "goal_y", "goal_z")


def fetch_observation(state: RobotState) -> np.ndarray:
    """Fetch: the environment's observation (25 picking, 10 reaching), achieved goal (3), desired goal (3)."""
    return np.asarray(state.sensors, dtype=np.float32)


def sparse_reward(achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """Return Fetch's sparse reward, vectorised over rows: 0 within DISTANCE_THRESHOLD of the goal, else -1."""
    d = np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1)
    return -(d > DISTANCE_THRESHOLD).astype(np.float32)


def _her(n_obs: int) -> HerSpec:
    return HerSpec(desired=slice(n_obs + GOAL_DIM, n_obs + 2 * GOAL_DIM), achieved=slice(n_obs, n_obs + GOAL_DIM),
                   reward=sparse_reward)


class _JointHelpers:
    """gymnasium_robotics.utils.mujoco_utils, with the joint type compared as an integer."""

    def __init__(self, utils):
        self._utils = utils

    def __getattr__(self, name):
        return getattr(self._utils, name)

    @staticmethod
    def _span(model, name: str, position: bool) -> tuple[int, int]:
        import mujoco
        j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if j == -1:
            raise KeyError(f"joint {name!r} is not part of the model")
        kind = int(model.jnt_type[j])
        width = {int(mujoco.mjtJoint.mjJNT_FREE): (7, 6), int(mujoco.mjtJoint.mjJNT_BALL): (4, 3)}.get(kind, (1, 1))
        start = int(model.jnt_qposadr[j] if position else model.jnt_dofadr[j])
        return start, width[0] if position else width[1]

    def get_joint_qpos(self, model, data, name):
        a, n = self._span(model, name, True)
        return data.qpos[a:a + n].copy()

    def get_joint_qvel(self, model, data, name):
        a, n = self._span(model, name, False)
        return data.qvel[a:a + n].copy()

    def set_joint_qpos(self, model, data, name, value):
        a, n = self._span(model, name, True)
        data.qpos[a:a + n] = value

    def set_joint_qvel(self, model, data, name, value):
        a, n = self._span(model, name, False)
        data.qvel[a:a + n] = value

    def robot_get_obs(self, model, data, joint_names):
        names = [n for n in joint_names if n.startswith("robot")]
        if data.qpos is None or not names:
            return np.zeros(0), np.zeros(0)
        return (np.squeeze(np.array([self.get_joint_qpos(model, data, n) for n in names])),
                np.squeeze(np.array([self.get_joint_qvel(model, data, n) for n in names])))


@functools.lru_cache(maxsize=None)
def _fetch_class(env_id: str):
    """Return gymnasium-robotics' class of `env_id`, its joint helpers replaced (see the module's docstring)."""
    # its import prints a notice about the Adroit hand tasks' reward versions (not used here)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from gymnasium_robotics.envs.fetch.pick_and_place import MujocoFetchPickAndPlaceEnv
        from gymnasium_robotics.envs.fetch.reach import MujocoFetchReachEnv
    base = {"FetchPickAndPlace-v4": MujocoFetchPickAndPlaceEnv, "FetchReach-v4": MujocoFetchReachEnv}[env_id]

    class Fetch(base):
        # the base class assigns self._utils = mujoco_utils in its __init__: the property wraps it
        @property
        def _utils(self):
            return self.__dict__["_joint_helpers"]

        @_utils.setter
        def _utils(self, utils):
            self.__dict__["_joint_helpers"] = _JointHelpers(utils)
    Fetch.__name__ = Fetch.__qualname__ = base.__name__.replace("Mujoco", "")
    return Fetch


class FetchEnv(TaskEnv):
    """FetchPickAndPlace-v4 behind the package's TaskEnv interface (reset/step/robot_state/distance)."""

    def __init__(self, spec: TaskSpec, seed: int, episode_steps: int):
        super().__init__(spec, episode_steps)
        self._env = _fetch_class(spec.env_id)(reward_type="sparse")
        self._seed = int(seed)
        self._first = True
        self._obs: dict | None = None

    def reseed(self, seed: int) -> None:
        self._seed, self._first = int(seed), True

    def reset(self) -> np.ndarray:
        self._obs, _ = self._env.reset(seed=self._seed if self._first else None)
        self._first = False
        self.t = 0
        return self.observation()

    def robot_state(self) -> RobotState:
        o = self._obs
        sensors = np.concatenate([o["observation"], o["achieved_goal"], o["desired_goal"]])
        return RobotState(np.zeros(0), np.zeros(0), sensors)

    def native_observation(self) -> np.ndarray:
        """gymnasium-robotics' own observation dict, flattened in the order of the sensors."""
        o = self._obs
        return np.concatenate([o["observation"], o["achieved_goal"], o["desired_goal"]])

    def step(self, action: np.ndarray, observe: bool = True):
        self._obs, reward, terminated, _, info = self._env.step(np.asarray(action, dtype=np.float64))
        self.t += 1
        truncated = (not terminated) and self.t >= self.episode_steps
        return self.observation() if observe else None, float(reward), bool(terminated), bool(truncated)

    def rng_state(self) -> str:
        return json.dumps([self._first, self._env.np_random.bit_generator.state])

    def set_rng_state(self, text: str) -> None:
        first, state = json.loads(text)
        if not first:
            self._env.reset(seed=self._seed)   # creates the generator, then its state is restored
            self._env.np_random.bit_generator.state = state
        self._first = first

    def achieved_goal(self) -> np.ndarray:
        return np.asarray(self._obs["achieved_goal"], dtype=np.float32)

    def distance(self) -> float:
        """Block to goal, m: the evaluator's success is this below 5 cm at the episode's end."""
        return float(np.linalg.norm(self._obs["achieved_goal"] - self._obs["desired_goal"]))


ENV_FACTORIES["fetch"] = FetchEnv

# paper Table II: widths 32 and 128, lambda 2e-4; 50 steps of 0.04 s (20 MuJoCo substeps of 2 ms)
FETCH_PICK_AND_PLACE = register_task(TaskSpec(
    "FetchPickAndPlace-v4", "fetch", "FetchPickAndPlace-v4", 25 + 2 * GOAL_DIM, 4, (), _sensor_names(25),
    fetch_observation, 32, 128, 2e-4, 0.04, 50,
    dict(s_only=0.351, l_only=0.980, ours=0.935, large_pct=46.5, flops_reduction_pct=46.4, metric="success rate",
         table4=dict(avg_flops=22917, student_flops=23223, pi_fit=0.920, gail=0.078, bc=0.153),
         table5={"with": 0.822, "with_large_pct": 51.3, "without": 0.785, "without_large_pct": 44.2},
         table6={"with": 0.822, "with_large_pct": 51.3, "without": 0.377, "without_large_pct": 63.0}),
    her=_her(25)))
# Not in the paper: Fetch moving its gripper to a goal, HER's easiest task, where our SAC + HER is set
# beside Stable-Baselines3's (bench/her_sb3.py); the widths and lambda of FetchPickAndPlace
FETCH_REACH = register_task(TaskSpec(
    "FetchReach-v4", "fetch", "FetchReach-v4", 10 + 2 * GOAL_DIM, 4, (), _sensor_names(10),
    fetch_observation, 32, 128, 2e-4, 0.04, 50, {"metric": "success rate"}, her=_her(10)))
