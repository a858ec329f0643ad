"""
Recording the graph to MCAP in the ROS 2 profile, and reading an episode back.

CDR messages and ros2msg schemas, so that `ros2 bag play`, Foxglove and the mcap readers open it.

Messages are written as they arrive, already CDR-serialised (rclpy raw subscriptions): what is in
the file is byte for byte what was on the wire. Topics whose writers keep only the newest sample
(states and commands, RELIABLE/KEEP_LAST 1: a controller wants the newest) can lose samples when
the recorder falls behind; every step is always in /asym/selection, /asym/command (the stamped
copy of each forwarded command) and /asym/reward, whose writers keep all. Schemas are the
installed .msg definitions with their dependencies appended, as rosbag2 writes them.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np


class RecordingError(ValueError):
    """A recording that does not hold what is asked of it."""


# every topic of the walker graph and its type
GRAPH_TOPICS = {
    "/joint_states": "sensor_msgs/msg/JointState",
    "/asym/small/joint_states": "sensor_msgs/msg/JointState",
    "/asym/large/joint_states": "sensor_msgs/msg/JointState",
    "/asym/small/command": "sensor_msgs/msg/JointState",
    "/asym/large/command": "sensor_msgs/msg/JointState",
    "/asym/command": "sensor_msgs/msg/JointState",
    "/asym/actuator_command": "std_msgs/msg/Float64MultiArray",
    "/asym/selection": "std_msgs/msg/UInt8",
    "/asym/reward": "std_msgs/msg/Float64MultiArray",
    "/asym/episode_summary": "std_msgs/msg/String",
    "/asym/sim_done": "std_msgs/msg/String",
    "/asym/timeline": "visualization_msgs/msg/MarkerArray",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
# written BEST_EFFORT (the master's hops to and from the sub-policies): a RELIABLE reader would
# not match them
BEST_EFFORT_TOPICS = ("/asym/small/joint_states", "/asym/large/joint_states", "/asym/small/command",
                      "/asym/large/command")
# written by KEEP_ALL writers once per control step: a complete recording holds every one
EVERY_STEP_TOPICS = ("/asym/selection", "/asym/command", "/asym/reward")

PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
              "uint32", "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def _msg_file(package: str, name: str) -> Path:
    candidates = [Path(sys.prefix) / "share" / package / "msg" / f"{name}.msg"]
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(package)) / "msg" / f"{name}.msg")
    except Exception:  # noqa: BLE001 - not in an ament index
        pass
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"no .msg definition found for {package}/msg/{name}")


def msgdef(type_name: str) -> str:
    """Return the ros2msg schema of `pkg/msg/Type`: its .msg text, then each dependency once."""
    package, _, name = type_name.split("/")
    seen: list[str] = []
    texts: dict[str, str] = {}

    def visit(pkg: str, nm: str) -> None:
        key = f"{pkg}/{nm}"
        if key in texts:
            return
        text = _msg_file(pkg, nm).read_text()
        texts[key] = text
        seen.append(key)
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) < 2:
                continue
            ftype = re.sub(r"\[.*\]$", "", parts[0])
            ftype = re.sub(r"<=\d+$", "", ftype)
            if ftype in PRIMITIVES:
                continue
            if "/" in ftype:
                dep_pkg, dep_name = ftype.split("/")[0], ftype.split("/")[-1]
            else:
                dep_pkg, dep_name = pkg, ftype
            visit(dep_pkg, dep_name)

    visit(package, name)
    out = texts[seen[0]].rstrip("\n")
    for key in seen[1:]:
        out += f"\n{SEPARATOR}\nMSG: {key}\n" + texts[key].rstrip("\n")
    return out + "\n"


def message_class(type_name: str):
    """Return the rclpy message class of `pkg/msg/Type`."""
    import importlib

    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class McapRecorder:
    """
    Subscribes (raw) to the graph's topics on `node` and writes every message to `path`.

    The simulator starts once the recorder reads `gate` (the reward; the launcher asks it for one
    more reward reader when recording), and that reader is made only after every other topic has
    a writer this node has discovered (or `wait_s` passed, with a warning naming the ones without):
    otherwise a node discovered late loses its first messages to the file, its best-effort ones
    for good.
    """

    def __init__(self, node, path: Path, topics: dict[str, str] = GRAPH_TOPICS, gate: str = "/asym/reward",
                 wait_s: float = 15.0):
        from mcap.writer import Writer
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self.writer = Writer(self._file)
        self.writer.start(profile="ros2", library="asym_control")
        self.counts: dict[str, int] = {}
        self.last_ns = 0
        reliable = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_ALL, depth=1000)
        best_effort = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_ALL,
                                 depth=1000)
        self._channels = {}
        schemas = {}
        for topic, type_name in topics.items():
            if type_name not in schemas:
                schemas[type_name] = self.writer.register_schema(
                    name=type_name, encoding="ros2msg", data=msgdef(type_name).encode())
            self._channels[topic] = self.writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=schemas[type_name])
            self.counts[topic] = 0
        self.node, self.topics, self.gate = node, topics, gate
        self._qos = {t: best_effort if t in BEST_EFFORT_TOPICS else reliable for t in topics}
        for topic in topics:
            if topic != gate:
                self._subscribe(topic)
        self._wait_until = time.monotonic() + wait_s
        self._gate_timer = node.create_timer(0.05, self._open_gate) if gate in topics else None

    def _subscribe(self, topic: str) -> None:
        self.node.create_subscription(message_class(self.topics[topic]), topic,
                                      lambda data, t=topic: self.write(t, data), self._qos[topic], raw=True)

    def _open_gate(self) -> None:
        missing = [t for t in self.topics if t != self.gate and self.node.count_publishers(t) == 0]
        if missing and time.monotonic() < self._wait_until:
            return
        if missing:
            self.node.get_logger().warning(f"recording although no writer was found on {', '.join(missing)}")
        self.node.destroy_timer(self._gate_timer)
        self._gate_timer = None
        self._subscribe(self.gate)

    def write(self, topic: str, data: bytes) -> None:
        t = max(time.time_ns(), self.last_ns)  # log times never go back
        self.last_ns = t
        self.writer.add_message(channel_id=self._channels[topic], log_time=t, publish_time=t, data=data,
                                sequence=self.counts[topic])
        self.counts[topic] += 1

    def has_every_step(self, steps: int) -> bool:
        """Whether every step of the KEEP_ALL topics (one message per control step) is written."""
        return all(self.counts.get(t, steps) >= steps for t in EVERY_STEP_TOPICS)

    def close(self) -> None:
        self.writer.finish()
        self._file.close()


def read_messages(path: Path):
    """(topic, decoded message, log_time_ns) for every message of an MCAP file, in log-time order."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            yield channel.topic, decoded, message.log_time


def read_episode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """
    Read the first episode of a recording: the selection and the forwarded command of every step.

    Its length is the step index of its last reward + 1: messages of different writers arrive
    in no guaranteed order, so the last reward may be logged before the last selection.
    """
    options, actions = [], []
    steps = None
    for topic, msg, _ in read_messages(path):
        if topic == "/asym/selection":
            options.append(int(msg.data))
        elif topic == "/asym/command":
            actions.append(list(msg.effort))
        elif topic == "/asym/reward" and steps is None and (msg.data[3] or msg.data[4]):
            steps = int(msg.data[1]) + 1
    n = min(len(options), len(actions), steps if steps is not None else len(options))
    if n == 0:
        raise RecordingError(f"{path} holds no /asym/selection and /asym/command messages")
    return np.array(options[:n]), np.array(actions[:n])
