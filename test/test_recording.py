"""Recording the graph to MCAP and reading it back with the mcap reader."""

import os
from pathlib import Path

import numpy as np

from asym_control.training.checkpoint import load_policy
from asym_control.evaluation.evaluate import run_episode
from asym_control.deploy.launcher import run_graph
from asym_control.evaluation.recording import GRAPH_TOPICS, msgdef, read_episode

ROOT = Path(__file__).resolve().parent.parent
CKPT = Path(os.environ.get("ASYM_TEST_CKPT", ROOT / "checkpoints" / "walker-stand" / "asym"))


def test_msgdef_carries_every_dependency_once():
    text = msgdef("visualization_msgs/msg/MarkerArray")
    deps = [line for line in text.splitlines() if line.startswith("MSG: ")]
    assert len(deps) == len(set(deps))
    for dep in ("visualization_msgs/Marker", "std_msgs/Header", "builtin_interfaces/Time", "geometry_msgs/Pose",
                "std_msgs/ColorRGBA"):
        assert f"MSG: {dep}" in deps
    assert msgdef("std_msgs/msg/UInt8").strip().endswith("uint8 data")


def test_recorded_episode_reads_back_complete_and_in_order(tmp_path):
    from mcap.reader import make_reader

    out = tmp_path / "walker.mcap"
    outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(CKPT), seed=0, timeout_s=240,
                        record=out, extra={"sim": {"episode_steps": 100}})
    assert outcome.summaries
    with open(out, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        header = reader.get_header()
        assert header.profile == "ros2"
        channels = {c.id: c for c in summary.channels.values()}
        schemas = summary.schemas
        assert {c.topic for c in channels.values()} == set(GRAPH_TOPICS)
        for c in channels.values():
            assert c.message_encoding == "cdr"
            schema = schemas[c.schema_id]
            assert schema.encoding == "ros2msg" and schema.name == GRAPH_TOPICS[c.topic]
        counts = {channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        last = 0
        for _, channel, message in reader.iter_messages(log_time_order=False):
            assert message.log_time >= last  # written in arrival order, never back in time
            last = message.log_time
    # KEEP_ALL writers: every step is in the file
    for topic in ("/asym/selection", "/asym/command", "/asym/reward"):
        assert counts[topic] == 100, (topic, counts[topic])
    # KEEP_LAST 1 writers (states, actuator and sub-policy commands: only the newest matters to a
    # controller) may drop samples for a reader that falls behind, the recorder included
    for topic in ("/joint_states", "/asym/actuator_command"):
        assert 0 < counts[topic] <= 100, (topic, counts[topic])
    assert 0 < counts.get("/asym/small/command", 0) + counts.get("/asym/large/command", 0) <= 100
    assert counts["/asym/episode_summary"] == 1
    # the recorded episode is the evaluator's episode
    options, actions = read_episode(out)
    cfg, policy = load_policy(CKPT)
    ref = run_episode(cfg, policy, cfg.spec.make_env(seed=0, episode_steps=100), record=True)
    np.testing.assert_array_equal(options, ref.options)
    np.testing.assert_allclose(actions, ref.actions, atol=1e-6)
