"""
launch_testing, as ROS packages test their launch files.

Launch/walker.launch.py runs (lockstep, episodes until stopped), the cost monitor reports an
episode with the evaluator's return, and every process exits cleanly when launch_testing shuts the
launch down.

launch_testing is not on PyPI: it comes from a ROS 2 distribution or ../shared/ros2-cli-kit
(`make test` installs the kit); without either this module skips.
"""

import os
import re
import unittest
from pathlib import Path

import pytest

launch_testing = pytest.importorskip(
    "launch_testing", reason="launch_testing is not installed (it comes with a ROS 2 distribution, or with "
    "../shared/ros2-cli-kit, which make test installs)")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.launch_test
def generate_test_description():
    walker = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(ROOT / "launch" / "walker.launch.py")),
        launch_arguments={"episodes": "0", "lockstep": "true"}.items())
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return launch.LaunchDescription([walker, launch_testing.actions.ReadyToTest()])


class TestWalkerGraph(unittest.TestCase):

    def test_the_first_episode_has_the_evaluators_return(self, proc_output):
        from asym_control.training.checkpoint import load_policy
        from asym_control.evaluation.evaluate import run_episode

        cfg, policy = load_policy(ROOT / "checkpoints" / "walker-stand" / "asym")
        ref = run_episode(cfg, policy, cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps))
        pattern = re.compile(r"episode 1: return (-?[\d.]+)")
        proc_output.assertWaitFor(expected_output=pattern, timeout=240)
        text = "".join(o.text.decode(errors="replace") for o in proc_output)
        self.assertAlmostEqual(float(pattern.search(text).group(1)), ref.ret, delta=0.05)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_every_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
