"""
Keep the CPUs awake while a real-time graph runs: a Linux PM QoS CPU latency request.

While a `CpuLatencyRequest(us)` is open, the kernel puts no CPU in an idle state that takes
longer than `us` microseconds to leave; with 0, idle CPUs poll instead of halting. This is what
real-time Linux practice does for a control loop (cyclictest holds the same request by default,
tuned's latency-performance profile sets it), and here it matters: this machine's vCPUs halt when
idle (cpuidle haltpoll, polling off), and each wake-up then waits for the hypervisor. It costs
power, and on a VM the idle vCPUs stay busy for the host. The request ends when it is closed or
the process exits; nothing on the machine stays changed.

Writing /dev/cpu_dma_latency takes root (or a udev rule giving a group write access to it).
"""

from __future__ import annotations

import os
import struct

PATH = "/dev/cpu_dma_latency"


class CpuLatencyError(Exception):
    """The request cannot be made here (one line, for the user)."""


class CpuLatencyRequest:
    def __init__(self, microseconds: int, path: str = PATH):
        if isinstance(microseconds, bool) or not isinstance(microseconds, int) or microseconds < 0:
            raise CpuLatencyError(f"the CPU latency must be a whole number of microseconds >= 0, got {microseconds!r}")
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            raise CpuLatencyError(f"{path} does not exist: this system has no PM QoS CPU latency "
                                  "request (Linux only)") from None
        except PermissionError:
            raise CpuLatencyError(f"cannot write {path}: it takes root, or a udev rule that gives "
                                  "your group write access to it") from None
        except OSError as e:
            raise CpuLatencyError(f"cannot open {path}: {e.strerror}") from None
        try:
            os.write(self._fd, struct.pack("i", microseconds))
        except OSError as e:
            self.close()
            raise CpuLatencyError(f"{path} refused the request: {e.strerror}") from None
        self.microseconds = microseconds

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "CpuLatencyRequest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def current(path: str = PATH) -> int:
    """Return the latency (us) the kernel currently holds the CPUs to: the smallest open request."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack("i", os.read(fd, 4))[0]
    finally:
        os.close(fd)
