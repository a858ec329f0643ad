"""
Where a control period's time goes: an opt-in trace of the real-time graph, hop by hop.

With ASYM_HOP_TRACE=DIR in the environment, the simulator, master and sub-policy nodes note the
moments of each control period (`mark`) with the monotonic clock (the same clock in every process
of one machine) into DIR/<pid>.txt, one "tag stamp seconds" line each, written by a background
thread once a second and at exit (about 200 kB a second per process at 500 Hz; nothing piles up
in memory). Without it `mark` returns at once. `breakdown` reads the files back and splits every answered
state's latency into its hops (bench/latency.py --hops prints it):

    tick -> state out          the simulator's tick until it publishes the state (building the
                               message; the period's physics too when its command was late)
    state -> master            publish, DDS, the master's wake-up and deserialisation
    master: state -> forward   joint map, observation and DQN (at decisions), checks
    forward -> sub-policy      publish, DDS, wake-up
    sub-policy                 joint map, observation, actor, building the command
    command -> master          publish, DDS, wake-up, deserialisation
    master: command -> actuator  the gate's checks
    actuator -> simulator      publish, DDS, wake-up (the latency's end)
"""

from __future__ import annotations

import atexit
import bisect
import collections
import os
import threading
import time
from pathlib import Path

import numpy as np

_DIR = os.environ.get("ASYM_HOP_TRACE") or None
_lines: collections.deque[str] = collections.deque()   # append and popleft are thread-safe
_lock = threading.Lock()                                # one writer at a time
_writer: threading.Thread | None = None

# (tag, what it marks); the tags in order along the control path
TAGS = {
    "tick": "simulator: a tick begins",
    "state": "simulator: publishing the state (stamp)",
    "m_state": "master: the state read (stamp)",
    "fwd": "master: forwarding it to the selected sub-policy (stamp)",
    "s_state": "sub-policy: the state read (stamp)",
    "s_pub": "sub-policy: publishing its command (stamp)",
    "m_cmd": "master: a sub-policy's command read (stamp)",
    "act": "master: publishing the actuator command (stamp)",
    "cmd": "simulator: an actuator command received",
}
_ALONG = ("m_state", "fwd", "s_state", "s_pub", "m_cmd", "act")   # the stamped marks between state and cmd
HOPS = ("tick -> state out", "state -> master", "master: state -> forward", "forward -> sub-policy",
        "sub-policy", "command -> master", "master: command -> actuator", "actuator -> simulator")


def enable(directory: str | None) -> None:
    """
    Trace into `directory` from now on, in this process and in the processes it starts afterwards (None: stop).

    What was noted before goes to the former directory first.
    """
    global _DIR
    _write()
    _DIR = str(directory) if directory is not None else None
    if _DIR is None:
        os.environ.pop("ASYM_HOP_TRACE", None)
    else:
        os.environ["ASYM_HOP_TRACE"] = _DIR
        _start_writer()


def mark(tag: str, stamp: int = -1) -> None:
    """Note that `tag` happened now (for the state stamped `stamp`), if tracing is on."""
    if _DIR is not None:
        _lines.append(f"{tag} {stamp} {time.perf_counter():.7f}\n")


@atexit.register
def _write() -> None:
    with _lock:
        batch = [_lines.popleft() for _ in range(len(_lines))]
        if _DIR is not None and batch:
            with open(Path(_DIR) / f"{os.getpid()}.txt", "a") as f:
                f.writelines(batch)


def _start_writer() -> None:
    global _writer
    if _writer is None:
        def run() -> None:
            while True:
                time.sleep(1.0)
                _write()
        _writer = threading.Thread(target=run, name="hoptrace-writer", daemon=True)
        _writer.start()


if _DIR is not None:
    _start_writer()


def read(directory) -> dict[str, list[tuple[int, float]]]:
    """Every process's marks, by tag: (stamp, time) in time order."""
    events: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(directory).glob("*.txt")):
        for line in path.read_text().splitlines():
            tag, stamp, t = line.split()
            events.setdefault(tag, []).append((int(stamp), float(t)))
    for v in events.values():
        v.sort(key=lambda e: e[1])
    return events


def breakdown(events: dict[str, list[tuple[int, float]]], skip: int = 100) -> dict:
    """
    Per hop, p50/p90/p99 in ms over the answered states (after the first `skip`).

    Also separately for those whose command came after the next tick (missed); how many states
    the master forwarded whose command it then dropped (a newer state had come); and how often
    a state missed its deadline after its predecessor had (`missed_after_missed`) and after it
    had not (`missed_after_answered`), unanswered states counted as missed.
    """
    first = {}
    for tag in _ALONG:
        first[tag] = {}
        for stamp, t in events.get(tag, []):
            first[tag].setdefault(stamp, t)     # a stamp seen twice (a resend): its first time
    ticks = np.array([t for _, t in events.get("tick", [])])
    cmds = np.array([t for _, t in events.get("cmd", [])])

    def next_after(a: np.ndarray, t: float) -> float:
        i = bisect.bisect_right(a, t)
        return a[i] if i < len(a) else np.nan

    def last_before(a: np.ndarray, t: float) -> float:
        i = bisect.bisect_right(a, t)
        return a[i - 1] if i > 0 else np.nan

    rows = []
    late = []     # every state in order: missed (unanswered ones too)?
    for stamp, t_state in events.get("state", [])[skip:]:
        times = [first[tag].get(stamp) for tag in _ALONG]
        t_next = next_after(ticks, t_state)
        if any(x is None for x in times):
            late.append(True)   # not answered: its command was dropped, or never came
            continue
        t_cmd = next_after(cmds, times[-1])
        late.append(not t_cmd <= t_next)
        path = [last_before(ticks, t_state), t_state, *times, t_cmd]
        rows.append([b - a for a, b in zip(path, path[1:])] + [t_cmd - t_state, t_next - t_state])
    r = np.array(rows, dtype=float).reshape(-1, len(HOPS) + 2)
    ok = np.all(np.isfinite(r), axis=1)
    r = r[ok]
    missed = r[:, -2] > r[:, -1]

    def stats(x: np.ndarray) -> dict:
        if len(x) == 0:
            return {}
        return {q: round(1e3 * float(np.percentile(x, int(q[1:]))), 3) for q in ("p50", "p90", "p99")}

    names = HOPS + ("latency", "window to the next tick")
    dropped = len(set(first["fwd"]) - set(first["act"]))
    # does one late period make the next one late too?
    late = np.array(late, dtype=bool)
    prev, cur = late[:-1], late[1:]
    cascade = {"missed_after_missed": round(float(cur[prev].mean()), 3) if prev.any() else None,
               "missed_after_answered": round(float(cur[~prev].mean()), 3) if (~prev).any() else None}
    return {"states": int(len(r)), "missed": int(missed.sum()), "forwarded_then_dropped": dropped, **cascade,
            "hops_ms": {n: stats(r[:, j]) for j, n in enumerate(names)},
            "hops_ms_missed": {n: stats(r[missed, j]) for j, n in enumerate(names)}}
