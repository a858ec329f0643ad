"""
Tasks: one registry, one observation function per task, and the environments behind them.

Every task's observation is a pure function of the robot's state -- joint positions and
velocities in the task's joint order (root/base joints included), plus the task's extra sensors
(touch, contact forces) -- so the same function runs in training and, later, in a ROS node fed
by sensor_msgs/JointState. Tests check each function against the simulator's own observation.

Actions are always in [-1, 1]^A (the SAC actor's tanh range) and scaled to the actuator range
by the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from asym_control.learning.nets import DTYPE


@dataclass(frozen=True)
class RobotState:
    """What a robot reports: positions and velocities in the task's joint order, extra sensors."""

    position: np.ndarray
    velocity: np.ndarray
    sensors: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class HerSpec:
    """
    A goal-conditioned task's goals, for hindsight experience replay.

    `desired`: the desired goal's slice of the observation; `achieved`: the achieved goal's;
    `reward(achieved, desired)`: the task's reward of rows of goals (vectorised).
    """

    desired: slice
    achieved: slice
    reward: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TaskSpec:
    """A task's fixed description (paper Table II for widths and lambda)."""

    name: str
    suite: str                       # "dm_control", "gymnasium" or "arm" (urdf/arm.urdf in MuJoCo)
    env_id: str                      # dm_control "domain/task" or gymnasium id
    obs_dim: int
    act_dim: int
    joint_names: tuple[str, ...]     # order of RobotState.position / .velocity
    sensor_names: tuple[str, ...]    # order of RobotState.sensors
    observation: Callable[[RobotState], np.ndarray]
    small_units: int
    large_units: int
    cost_lambda: float
    control_dt: float
    episode_steps: int
    paper: dict                      # Table III row: s_only, l_only, ours, large_pct, flops_reduction_pct
    actuator_names: tuple[str, ...] = ()
    critic_units: int | None = None  # critics' width in training; None: each actor's (the paper's)
    note: str = ""                   # where this task differs from the paper's, printed with its figures
    noise_rho: float = 0.0           # training's exploration noise correlation (SACConfig.noise_rho)
    her: HerSpec | None = None       # goal-conditioned: where the goals are, for HER (learning/buffers.py)

    def make_env(self, seed: int, episode_steps: int | None = None) -> "TaskEnv":
        return ENV_FACTORIES[self.suite](self, seed, episode_steps or self.episode_steps)


# --- observation functions -------------------------------------------------------------------

WALKER_JOINTS = ("rootz", "rootx", "rooty", "right_hip", "right_knee", "right_ankle",
                 "left_hip", "left_knee", "left_ankle")
WALKER_TORSO_Z0 = 1.3  # torso body's rest height in walker.xml; height = 1.3 + rootz


def walker_observation(state: RobotState) -> np.ndarray:
    """
    dm_control walker: orientations (14), torso height (1), velocities (9).

    Orientations are the (xx, xz) entries of each body's rotation matrix. In the planar walker
    every joint turns about the y axis: rooty about +y, the leg joints about -y, so a body's
    pitch is rooty minus the hinge angles above it.
    """
    q = state.position
    rooty = q[2]
    pitch = np.empty(7)
    pitch[0] = rooty                                    # torso
    for side, base in ((0, 3), (1, 6)):                 # right leg, left leg
        angle = rooty
        for k in range(3):                              # thigh, leg, foot
            angle = angle - q[base + k]
            pitch[1 + 3 * side + k] = angle
    orient = np.empty(14)
    orient[0::2] = np.cos(pitch)
    orient[1::2] = np.sin(pitch)
    return np.concatenate([orient, [WALKER_TORSO_Z0 + q[0]], state.velocity]).astype(DTYPE)


FINGER_JOINTS = ("proximal", "distal", "hinge")
FINGER_TIP_RADIUS = 0.13  # the 'tip' site's distance from the spinner's hinge in finger.xml


def finger_observation(state: RobotState) -> np.ndarray:
    """dm_control finger: joint angles (2), tip relative to hinge (2), velocities (3), touch (2)."""
    q = state.position
    tip = FINGER_TIP_RADIUS * np.array([-np.sin(q[2]), np.cos(q[2])])
    return np.concatenate([q[:2], tip, state.velocity, np.log1p(state.sensors)]).astype(DTYPE)


def mountaincar_observation(state: RobotState) -> np.ndarray:
    """MountainCarContinuous: car position and velocity."""
    return np.array([state.position[0], state.velocity[0]], dtype=DTYPE)


def qpos_qvel_observation(skip: int) -> Callable[[RobotState], np.ndarray]:
    """Gymnasium MuJoCo locomotion: qpos without the first `skip` (x, y) entries, qvel, sensors."""
    def observation(state: RobotState) -> np.ndarray:
        return np.concatenate([state.position[skip:], state.velocity, state.sensors]).astype(DTYPE)
    return observation


def ant_observation(state: RobotState) -> np.ndarray:
    """Ant-v5: qpos[2:] (13), qvel (14), external contact forces of the bodies clipped to [-1, 1] (78)."""
    return np.concatenate([state.position[2:], state.velocity,
                           np.clip(state.sensors, -1.0, 1.0)]).astype(DTYPE)


def _paper(s_only, l_only, ours, large_pct, flops_reduction_pct, table4=None, table5=None, table6=None):
    """
    Return the paper's figures of a task: Table III, IV's matched-FLOPs comparison, V and VI's ablations.

    table4: (ours' Avg-FLOPs/Inf, the students' FLOPs/Inf, pi_fit, GAIL, BC), best of 5 runs each.
    table5 (without the cost term) and table6 (separate buffers): (return with, % on large with,
    return without, % on large without).
    """
    out = dict(s_only=s_only, l_only=l_only, ours=ours, large_pct=large_pct, flops_reduction_pct=flops_reduction_pct)
    if table4 is not None:
        out["table4"] = dict(zip(("avg_flops", "student_flops", "pi_fit", "gail", "bc"), table4))
    for name, t in (("table5", table5), ("table6", table6)):
        if t is not None:
            out[name] = dict(zip(("with", "with_large_pct", "without", "without_large_pct"), t))
    return out


TASKS: dict[str, TaskSpec] = {}


# the environment of each suite, (spec, seed, episode_steps) -> TaskEnv; asym_control.tasks.arm adds
# "arm" (the classes below are looked up when an environment is made)
ENV_FACTORIES = {"dm_control": lambda *args: DMControlEnv(*args), "gymnasium": lambda *args: GymnasiumEnv(*args)}


def register_task(spec: TaskSpec, replace: bool = False) -> TaskSpec:
    """
    Add a task from a user's own code: train, evaluate, deploy and `gymnasium.make` it like the paper's.

    `spec.observation` is the one function of the robot's state that training and the nodes use;
    for a dm_control task, `suite="dm_control"`, `env_id="domain/task"`, and `joint_names` /
    `sensor_names` name the model's joints and sensors. A name already taken is refused unless
    `replace`.
    """
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task takes a TaskSpec, got {type(spec).__name__}")
    if spec.name in TASKS and not replace:
        raise ValueError(f"a task named {spec.name!r} is already registered (pass replace=True)")
    if spec.suite not in ENV_FACTORIES:
        raise ValueError(f"suite must be one of {', '.join(ENV_FACTORIES)}, got {spec.suite!r}")
    TASKS[spec.name] = spec
    import sys
    adapter = sys.modules.get("asym_control.tasks.gym_env")
    if hasattr(adapter, "register_with_gymnasium"):     # registered with gymnasium too, once imported
        adapter.register_with_gymnasium(spec.name)
    return spec


_register = register_task


_register(TaskSpec(
    "walker-stand", "dm_control", "walker/stand", 24, 6, WALKER_JOINTS, (),
    walker_observation, 8, 64, 1e-2, 0.025, 1000,
    _paper(330.0, 977.7, 967.2, 5.7, 82.3, table4=(2266, 2397, 819.5, 596.6, 159.1),
           table5=(943.8, 19.7, 961.8, 100.0), table6=(943.8, 19.7, 910.1, 25.1)),
    actuator_names=WALKER_JOINTS[3:]))
_register(TaskSpec(
    "finger-spin", "dm_control", "finger/spin", 9, 2, FINGER_JOINTS, ("touchtop", "touchbottom"),
    finger_observation, 8, 64, 1e-2, 0.02, 1000,
    _paper(32.9, 978.0, 871.2, 55.2, 37.5, table4=(6162, 6303, 848.1, 536.8, 7.6),
           table5=(829.6, 38.6, 907.4, 100.0), table6=(829.6, 38.6, 865.9, 70.7)),
    actuator_names=FINGER_JOINTS[:2]))
_register(TaskSpec(
    "MountainCarContinuous-v0", "gymnasium", "MountainCarContinuous-v0", 2, 1, ("car",), (),
    mountaincar_observation, 8, 64, 1e-4, 1.0, 999,
    _paper(-11.6, 93.6, 93.5, 44.5, 49.0, table4=(4440, 4603, 90.5, -99.9, 93.3),
           table5=(35.5, 50.4, 66.3, 59.0), table6=(35.5, 50.4, 0.0, 59.8)),
    # with SAC's white exploration noise the car never leaves the valley (3 of 3 seeds at 150k steps:
    # return 0.0, the do-nothing optimum); rl-baselines-zoo's SAC there explores with gSDE, a push
    # held over the episode. Correlated noise does the same: solved by 10k steps (docs/master-collapse.md)
    noise_rho=0.95))
_register(TaskSpec(
    "Swimmer-v5", "gymnasium", "Swimmer-v5", 8, 2,
    ("slider1", "slider2", "free_body_rot", "motor1_rot", "motor2_rot"), (),
    qpos_qvel_observation(2), 8, 256, 1e-4, 0.04, 1000,
    _paper(35.5, 84.1, 108.8, 54.9, 44.6, table4=(76019, 76763, 66.2, 63.2, 59.7),
           table5=(98.9, 65.2, 71.5, 99.5), table6=(98.9, 65.2, 61.1, 50.8))))
_register(TaskSpec(
    "Ant-v5", "gymnasium", "Ant-v5", 105, 8,
    ("root_x", "root_y", "root_z", "root_qw", "root_qx", "root_qy", "root_qz",
     "hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4"),
    tuple(f"cfrc_ext_{b}_{i}" for b in range(1, 14) for i in range(6)),
    ant_observation, 64, 256, 1e-1, 0.05, 1000,
    _paper(1690.4, 3927.2, 3564.8, 53.9, 39.3, table4=(119032, 119451, 2553.0, -15.6, 1373.7),
           table5=(2558.8, 47.8, 2625.8, 80.9), table6=(2558.8, 47.8, 1270.1, 23.8)),
    note="Ant-v5's observation has 105 entries, the paper's Ant-v3 111 (v5 dropped the world body's "
         "contact forces, always 0): its FLOPs and c_large are not Table IV's and Table II's (large: 193,027 FLOPs, "
         "c_large 8.15; paper: 196,099 and 8.0)"))


class UnknownTask(ValueError):
    pass


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


# --- environments ----------------------------------------------------------------------------

class TaskEnv:
    """
    reset() -> obs; step(a in [-1,1]^A) -> (obs, reward, terminated, truncated).

    step(a, observe=False) returns None for obs: the simulator node publishes the robot state,
    not the observation, and saves computing it every control step.

    Episodes are cut at `episode_steps` control steps (truncation, not termination).
    rng_state()/set_rng_state() capture what decides the next episode, so that a run resumed
    at an episode boundary continues exactly as the uninterrupted run.
    """

    def __init__(self, spec: TaskSpec, episode_steps: int):
        self.spec = spec
        self.episode_steps = int(episode_steps)
        self.t = 0

    def observation(self) -> np.ndarray:
        return self.spec.observation(self.robot_state())


class DMControlEnv(TaskEnv):
    def __init__(self, spec: TaskSpec, seed: int, episode_steps: int):
        super().__init__(spec, episode_steps)
        from dm_control import suite
        domain, task = spec.env_id.split("/")
        # the suite's own time limit is lifted: episodes are cut here, by episode_steps
        self._env = suite.load(domain, task, task_kwargs={"random": int(seed)},
                               environment_kwargs={"flat_observation": False})
        self._env._step_limit = float("inf")
        self.physics = self._env.physics
        self._jnt = [self.physics.model.name2id(n, "joint") for n in spec.joint_names]
        self._qadr = self.physics.model.jnt_qposadr[self._jnt]
        self._vadr = self.physics.model.jnt_dofadr[self._jnt]
        self._sensors = [self.physics.model.name2id(n, "sensor") for n in spec.sensor_names]
        self._sadr = self.physics.model.sensor_adr[self._sensors] if self._sensors else []

    def robot_state(self) -> RobotState:
        d = self.physics.data
        return RobotState(d.qpos[self._qadr].copy(), d.qvel[self._vadr].copy(),
                          d.sensordata[self._sadr].copy() if self._sensors else np.zeros(0))

    def native_observation(self) -> np.ndarray:
        obs = self._env.task.get_observation(self.physics)
        return np.concatenate([np.ravel(v) for v in obs.values()])

    def reset(self) -> np.ndarray:
        self._env.reset()
        self.t = 0
        return self.observation()

    def step(self, action: np.ndarray, observe: bool = True):
        ts = self._env.step(np.asarray(action, dtype=np.float64))
        self.t += 1
        terminated = ts.discount == 0.0  # dm_control signals a true termination by discount 0
        truncated = (not terminated) and self.t >= self.episode_steps
        return self.observation() if observe else None, float(ts.reward), bool(terminated), bool(truncated)

    def reseed(self, seed: int) -> None:
        """Reseed: the next reset() starts the task's own random stream again from `seed`."""
        self._env.task.random.seed(int(seed))

    def rng_state(self) -> str:
        name, keys, pos, has_gauss, cached = self._env.task.random.get_state()
        return json.dumps([name, keys.tolist(), int(pos), int(has_gauss), float(cached)])

    def set_rng_state(self, text: str) -> None:
        name, keys, pos, has_gauss, cached = json.loads(text)
        self._env.task.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


class GymnasiumEnv(TaskEnv):
    def __init__(self, spec: TaskSpec, seed: int, episode_steps: int):
        super().__init__(spec, episode_steps)
        import gymnasium as gym
        self._env = gym.make(spec.env_id, max_episode_steps=None).unwrapped
        self._seed = int(seed)
        self._seeded = False
        low, high = self._env.action_space.low, self._env.action_space.high
        self._scale, self._offset = (high - low) / 2.0, (high + low) / 2.0
        self._last_obs = None

    def robot_state(self) -> RobotState:
        env = self._env
        if self.spec.env_id.startswith("MountainCar"):
            return RobotState(np.array([env.state[0]]), np.array([env.state[1]]))
        sensors = np.zeros(0)
        if self.spec.sensor_names:
            sensors = env.data.cfrc_ext[1:].ravel().copy()
        return RobotState(env.data.qpos.copy(), env.data.qvel.copy(), sensors)

    def native_observation(self) -> np.ndarray:
        return np.asarray(self._last_obs, dtype=np.float64)

    def reset(self) -> np.ndarray:
        if not self._seeded:
            self._last_obs, _ = self._env.reset(seed=self._seed)
            self._seeded = True
        else:
            self._last_obs, _ = self._env.reset()
        self.t = 0
        return self.observation()

    def step(self, action: np.ndarray, observe: bool = True):
        a = self._offset + self._scale * np.asarray(action, dtype=np.float64)
        self._last_obs, reward, terminated, _, _ = self._env.step(a.astype(self._env.action_space.dtype))
        self.t += 1
        truncated = (not terminated) and self.t >= self.episode_steps
        return self.observation() if observe else None, float(reward), bool(terminated), bool(truncated)

    def reseed(self, seed: int) -> None:
        """Reseed: the next reset() starts the environment's random stream again from `seed`."""
        self._seed, self._seeded = int(seed), False

    def rng_state(self) -> str:
        return json.dumps([self._seeded, self._env.np_random.bit_generator.state])

    def set_rng_state(self, text: str) -> None:
        seeded, state = json.loads(text)
        if seeded:
            self._env.reset(seed=self._seed)  # creates the generator, then its state is restored
            self._env.np_random.bit_generator.state = state
        self._seeded = seeded
