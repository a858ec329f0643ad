"""What the hypervisor took: the share of CPU time stolen from this VM (/proc/stat's `steal`)
over a measurement. On a shared host, latency figures taken with a high steal share measure the
neighbours, not the program."""

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
