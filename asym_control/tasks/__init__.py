"""
Tasks: one registry, one observation function per task, their environments.

An observation is a function of the robot's state; every task is also a gymnasium.Env (`gym_env`).

The registry is re-exported here: `from asym_control.tasks import register_task, get_task`.
"""

from asym_control.tasks.registry import (  # noqa: F401 - the public API of the registry
    TASKS, RobotState, TaskEnv, TaskSpec, UnknownTask, get_task, register_task)
import asym_control.tasks.arm  # noqa: E402,F401 - registers arm-reach
import asym_control.tasks.fetch  # noqa: E402,F401 - registers FetchPickAndPlace-v4
