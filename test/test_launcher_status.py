"""What a graph that timed out says about the nodes that decide whether an episode is summarised."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from asym_control.deploy.launcher import Outcome, _Watcher


def status(name: str, message: str, **values) -> DiagnosticArray:
    st = DiagnosticStatus(name=name, message=message)
    st.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    return DiagnosticArray(status=[st])


def test_the_timeout_message_names_the_cost_monitors_counters_and_a_silent_node():
    w = _Watcher(node=None, outcome=Outcome())
    w.on_diagnostics(status("asym/cost_monitor", "12.0% on large", episodes=1, rewards_received=49,
                            episode_ends_pending=1, **{"large.inferences": 7}))
    lines = w.status_lines()
    assert "asym/cost_monitor status" in lines and "s ago: 12.0% on large" in lines
    assert "rewards_received=49" in lines and "episode_ends_pending=1" in lines
    assert "large.inferences" not in lines           # the other nodes' counters it relays are left out
    assert "asym/master: no status received" in lines
    # the newest status replaces the older one
    w.on_diagnostics(status("asym/cost_monitor", "ok", rewards_received=50))
    assert "rewards_received=50" in w.status_lines() and "rewards_received=49" not in w.status_lines()
