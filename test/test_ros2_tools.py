"""
The package as a ROS 2 user meets it: `colcon build`, the real `ros2 launch`, and the `ros2` CLI.

The tools come from a ROS 2 distribution where one is installed, else from ../shared/ros2-cli-kit
(installed into the test venv by `make test`); only where neither is there do these tests skip.
Each test runs on this process's own ROS_DOMAIN_ID (conftest.py), with discovery on loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOOLS = {t: shutil.which(t, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") for t in ("colcon", "ros2")}
pytestmark = pytest.mark.skipif(
    not all(TOOLS.values()), reason="neither a ROS 2 distribution's ros2 and colcon nor ../shared/ros2-cli-kit "
    "(make test installs it) are in this environment")
FIVE_NODES = ("/asym/sim", "/asym/master", "/asym/small", "/asym/large", "/asym/cost_monitor")


def _source_files() -> list[str]:
    """List the package's files as a clone has them (tracked and new, not ignored)."""
    r = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [f for f in r.stdout.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Build a colcon workspace with this package in src/, built as a ROS user builds it."""
    ws = tmp_path_factory.mktemp("ws")
    for f in _source_files():
        (ws / "src" / "asym_control" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, ws / "src" / "asym_control" / f)
    r = subprocess.run([TOOLS["colcon"], "build"], cwd=ws, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return ws


# Ctrl-C must reach `ros2 launch` as it does in a terminal: a test run started in the background
# by a non-interactive shell (CI) inherits SIGINT ignored, and an ignored signal stays ignored
# across exec; this restores the default before bash and `ros2 launch` start
_DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execvp('bash', ['bash', '-c', sys.argv[1]])")


def _shell(ws: Path, command: str, **kw) -> subprocess.Popen:
    """`command` in bash after `source install/setup.bash`, in its own process group."""
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    script = f"source {ws}/install/setup.bash && exec {command}"
    return subprocess.Popen([sys.executable, "-c", _DEFAULT_SIGINT, script], cwd=ws, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def _ros2(ws: Path, args: str, timeout: float = 60) -> str:
    p = _shell(ws, f"ros2 {args}")
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise AssertionError(f"ros2 {args} timed out: {out}")
    return out


class _Launch:
    """A running `ros2 launch`, its output collected in the background."""

    def __init__(self, ws: Path, args: str):
        self.proc = _shell(ws, f"ros2 launch asym_control {args}")
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")),
                                       daemon=True)
        self.reader.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"process started with pid \[(\d+)\]", self.text)]

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"ros2 launch did not end within {timeout:.0f} s:\n{self.text[-4000:]}")
        self.reader.join(timeout=5)
        return rc

    def interrupt(self) -> None:
        """Ctrl-C, as a user stops a launch: SIGINT to `ros2 launch` itself."""
        self.proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its parent has exited too
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _until(condition, timeout: float, what: str, interval: float = 0.2, log: "_Launch | None" = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    tail = f"\nthe launch's output:\n{log.text[-4000:]}" if log is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")


def test_colcon_build_installs_what_a_ros_package_installs(workspace):
    prefix = workspace / "install" / "asym_control"
    exes = {p.name for p in (prefix / "lib" / "asym_control").iterdir()}
    assert {"asym_sim", "asym_master", "asym_subpolicy", "asym_cost_monitor", "asym_safety",
            "asym_lifecycle_manager", "asym_standin"} <= exes
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "asym_control").is_file()
    share = prefix / "share" / "asym_control"
    for f in ("package.xml", "launch/walker.launch.py", "launch/arm.launch.py", "config/walker.yaml",
              "config/arm.yaml", "urdf/arm.urdf", "checkpoints/walker-stand/asym/policy.safetensors",
              "checkpoints/arm-reach/asym/config.json"):
        assert (share / f).is_file(), f
    out = _ros2(workspace, "pkg prefix asym_control")
    assert out.strip() == str(prefix)


def test_ros2_launch_walker_runs_the_evaluators_episode_and_exits_0(workspace):
    from asym_control.training.checkpoint import load_policy
    from asym_control.evaluation.evaluate import run_episode

    cfg, policy = load_policy(ROOT / "checkpoints" / "walker-stand" / "asym")
    ref = run_episode(cfg, policy, cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps))
    launch = _Launch(workspace, "walker.launch.py")   # the YAML's defaults: lockstep, 1 episode, seed 0
    try:
        rc = launch.wait(timeout=240)
    finally:
        launch.kill()
    assert rc == 0, launch.text[-4000:]
    m = re.search(r"episode 1: return (-?[\d.]+), on large ([\d.]+)%", launch.text)
    assert m, launch.text[-4000:]
    assert float(m.group(1)) == pytest.approx(ref.ret, abs=0.05)
    assert float(m.group(2)) == pytest.approx(100 * ref.large_steps / ref.steps, abs=0.05)
    assert len(launch.pids()) == 5
    _until(lambda: not any(_alive(p) for p in launch.pids()), 10, "every node process to end")


def test_ros2_cli_sees_the_real_time_graph(workspace):
    launch = _Launch(workspace, "walker.launch.py lockstep:=false episodes:=0 precision:=int8")
    try:
        def listed():
            nodes = _ros2(workspace, "node list --no-daemon --spin-time 3").split()
            return set(FIVE_NODES) <= set(nodes)
        _until(listed, 120, f"ros2 node list to show {FIVE_NODES}", interval=0.5, log=launch)
        out = _ros2(workspace, "topic echo --no-daemon --once /asym/selection std_msgs/msg/UInt8", timeout=60)
        assert re.search(r"data: [01]\b", out), out
        out = _ros2(workspace, "param get --no-daemon --spin-time 3 /asym/master command_timeout_s")
        assert "Double value is: 0.05" in out, out
        out = _ros2(workspace, "param get --no-daemon --spin-time 3 /asym/large precision")
        assert "String value is: int8" in out, out      # the launch argument reached the sub-policies
        launch.interrupt()
        rc = launch.wait(timeout=60)
    finally:
        launch.kill()
    assert rc == 0, launch.text[-4000:]
    _until(lambda: not any(_alive(p) for p in launch.pids()), 10, "every node process to end")


def test_ros2_lifecycle_and_estop_on_the_arm(workspace):
    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import Float64MultiArray

    from asym_control.nodes.common import CONTROL_QOS

    launch = _Launch(workspace, "arm.launch.py standin:=true")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    node = Node("estop_watch", context=context)
    controller, gate = [], []
    node.create_subscription(Float64MultiArray, "/forward_position_controller/commands",
                             lambda m: controller.append(time.monotonic()), CONTROL_QOS)
    node.create_subscription(Float64MultiArray, "/asym/actuator_command",
                             lambda m: gate.append(time.monotonic()), CONTROL_QOS)
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=lambda: _spin(executor, context), daemon=True)
    spinner.start()
    try:
        # `ros2 lifecycle get` prints the state and its id: "active [3]" ("inactive [2]" contains "active")
        def active():
            out = _ros2(workspace, "lifecycle get --no-daemon --spin-time 3 /asym/safety")
            return re.search(r"^active \[3\]", out, re.M)
        _until(active, 120, "ros2 lifecycle get /asym/safety to say active", interval=0.5, log=launch)
        _until(lambda: len(controller) >= 5, 60, "commands to the controller", log=launch)
        out = _ros2(workspace, "service call /asym/safety/estop std_srvs/srv/Trigger", timeout=60)
        assert "success=True" in out, out
        t_answer = time.monotonic()
        n_gate = len(gate)
        # the gate goes on commanding for 25 more periods: none of it reaches the controller,
        # except the one hold that the e-stop sent before the service answered
        _until(lambda: len(gate) >= n_gate + 25, 60, "25 more gate commands", log=launch)
        assert len([t for t in controller if t > t_answer]) <= 1   # at most the hold, delivered late
        assert "E-STOP (service)" in launch.text
        launch.interrupt()
        assert launch.wait(timeout=60) == 0, launch.text[-4000:]
    finally:
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5)
        launch.kill()
        _ros2(workspace, "daemon stop")   # `ros2 service call` started it (it has no --no-daemon)
    assert "lifecycle_manager" in launch.text and "is active" in launch.text
    # one line while it waited for the driver, not a retry storm
    assert launch.text.count("refused to activate") <= 2, launch.text[-4000:]
    _until(lambda: not any(_alive(p) for p in launch.pids()), 10, "every node process to end")


def _spin(executor, context):
    from rclpy.executors import ExternalShutdownException
    try:
        while context.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ExternalShutdownException, Exception):  # noqa: BLE001 - the context went down under us
        pass


def test_launch_arguments_default_to_the_yaml():
    import importlib.util

    from asym_control.deploy.graph import load_graph

    spec = importlib.util.spec_from_file_location("walker_launch", ROOT / "launch" / "walker.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    args = {a.name: a.default_value for a in mod.generate_launch_description().get_launch_arguments()}
    sim = {n.name: n for n in load_graph("walker")}["sim"].parameters
    from launch import LaunchContext
    ctx = LaunchContext()
    performed = {k: "".join(s.perform(ctx) for s in v) for k, v in args.items()}
    assert performed["lockstep"] == ("true" if sim["lockstep"] else "false")
    assert int(performed["episodes"]) == sim["episodes"] and int(performed["seed"]) == sim["seed"]
    assert float(performed["rate_hz"]) == sim["rate_hz"]
