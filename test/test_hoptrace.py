"""
The hop trace of the real-time graph.

Marks written per process, read back, and each answered state's latency split into its hops, with
explicit timelines.
"""

from __future__ import annotations

import os
import time

import pytest

from asym_control.deploy import hoptrace


def period(events, stamp, t0, gaps, dropped=False):
    """One period from t0 (the tick): each mark `gaps` ms after the one before."""
    tags = ["tick", "state", "m_state", "fwd", "s_state", "s_pub", "m_cmd", "act", "cmd"]
    t = t0
    for tag, gap in zip(tags, gaps):
        t += gap / 1e3
        if dropped and tag in ("act", "cmd"):
            break
        events.setdefault(tag, []).append((-1 if tag in ("tick", "cmd") else stamp, t))


def test_breakdown_splits_each_answered_state_into_its_hops():
    ev = {}
    fast = [0, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]            # 0.7 ms from the state out
    slow = [0, 0.05, 0.1, 0.1, 0.1, 2.0, 0.1, 0.1, 0.1]            # 2.6 ms: past the next tick
    period(ev, 0, 0.000, fast)
    period(ev, 1, 0.002, slow)
    period(ev, 2, 0.004, fast, dropped=True)                      # forwarded, its command dropped
    period(ev, 3, 0.006, fast)
    ev["tick"].append((-1, 0.008))
    for v in ev.values():
        v.sort(key=lambda e: e[1])
    b = hoptrace.breakdown(ev, skip=0)
    assert b["states"] == 3 and b["missed"] == 1 and b["forwarded_then_dropped"] == 1
    # in order: answered, missed, missed (dropped), answered
    assert b["missed_after_missed"] == 0.5 and b["missed_after_answered"] == 1.0
    hops = b["hops_ms"]
    assert hops["sub-policy"]["p50"] == pytest.approx(0.1)
    assert hops["latency"]["p50"] == pytest.approx(0.7)
    assert b["hops_ms_missed"]["sub-policy"]["p50"] == pytest.approx(2.0)
    assert b["hops_ms_missed"]["latency"]["p50"] == pytest.approx(2.6)
    # the window: from the state out to the next tick
    assert b["hops_ms_missed"]["window to the next tick"]["p50"] == pytest.approx(1.95)
    assert hops["tick -> state out"]["p50"] == pytest.approx(0.05)


def test_marks_go_to_one_file_per_process_and_read_back(tmp_path):
    hoptrace.enable(tmp_path)
    try:
        hoptrace.mark("state", 7)
        hoptrace.mark("cmd")
        deadline = time.monotonic() + 5
        while not list(tmp_path.glob("*.txt")) and time.monotonic() < deadline:
            time.sleep(0.1)     # the writer thread writes them while tracing goes on
        assert [p.name for p in tmp_path.glob("*.txt")] == [f"{os.getpid()}.txt"]
    finally:
        hoptrace.enable(None)
    hoptrace.mark("state", 8)               # tracing off: not noted
    ev = hoptrace.read(tmp_path)
    assert [s for s, _ in ev["state"]] == [7] and [s for s, _ in ev["cmd"]] == [-1]
    assert ev["state"][0][1] <= ev["cmd"][0][1]
