"""
What the hypervisor took: the share of CPU time stolen from this VM (/proc/stat's `steal`) over a measurement.

On a shared host, latency figures taken with a high steal share measure the neighbours, not the
program.
"""

from __future__ import annotations


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot; None where /proc/stat is not Linux's."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    values = [int(v) for v in fields[1:]]
    return values[7], sum(values[:8])      # user nice system idle iowait irq softirq steal


def steal_share(before, after) -> float | None:
    """Share of CPU time stolen between two `cpu_times()` readings."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 4)


def node_cpu_seconds() -> dict[str, float]:
    """
    CPU seconds used so far by each running node process of the package, by node name.

    User + system, every thread; the name is its `__node:=` remapping.
    """
    import os

    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
            if not any("asym_control.nodes" in a or "/asym_" in a for a in args):
                continue
            name = next((a.split(":=", 1)[1] for a in args if a.startswith("__node:=")), None)
            if name is None:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


class NodeCpu:
    """
    The cores each node process used over the middle of a run.

    Readings at `start` and `start + span` seconds from now, on a background thread.
    """

    def __init__(self, start: float, span: float):
        import threading

        self.cores: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, args=(start, span), daemon=True)
        self._thread.start()

    def _run(self, start: float, span: float) -> None:
        import time

        time.sleep(start)
        before, t0 = node_cpu_seconds(), time.monotonic()
        time.sleep(span)
        after, dt = node_cpu_seconds(), time.monotonic() - t0
        self.cores = {n: round((after[n] - before[n]) / dt, 3) for n in sorted(after) if n in before}
