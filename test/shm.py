"""Fast DDS's shared-memory files in /dev/shm: which of them nobody holds any more."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

SHM = Path("/dev/shm")
# a participant's segment and its ports: each has a lock file (`_el`) its owner holds while alive
LOCK = re.compile(r"^fastdds_(port\d+|[0-9a-z]{16})_el$")


def lock_files() -> set[str]:
    return {f for f in os.listdir(SHM) if LOCK.match(f)} if SHM.is_dir() else set()


def abandoned(names) -> set[str]:
    """Return those of the lock files `names` that still exist and that no process holds (a zombie)."""
    out = set()
    for name in names:
        try:
            fd = os.open(SHM / name, os.O_RDONLY)
        except FileNotFoundError:
            continue            # removed: its owner cleaned up
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.add(name)
        except OSError:
            pass                # held by a live participant
        finally:
            os.close(fd)        # closing releases our own lock
    return out


def held_here() -> set[str]:
    """Return the Fast DDS lock files this process has open (its live participants hold theirs open)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{SHM}/") and LOCK.match(target[len(str(SHM)) + 1:]):
            out.add(target[len(str(SHM)) + 1:])
    return out


class LeftBehind:
    """
    Fast DDS files made since construction that outlive a run: call it once the run is over.

    Those nobody holds (their owner died without removing them) and those this process still holds
    (a participant of the run not freed). Another program's live participants do not count.
    """

    def __init__(self):
        self.before = lock_files()

    def __call__(self) -> set[str]:
        new = lock_files() - self.before
        return abandoned(new) | (new & held_here())
