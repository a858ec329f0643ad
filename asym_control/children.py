"""
Child processes of `asym-control` commands that die with their parent.

A sweep's trial and a many-seed run start `asym-control train` / `eval` as child processes. They
start through a trampoline that asks the kernel to kill the child when its parent dies
(PR_SET_PDEATHSIG, kept across exec), so a killed parent leaves no training process behind that
would go on writing into a run folder.
"""

from __future__ import annotations

import os
import subprocess
import sys

_TRAMPOLINE = ("import ctypes, os, signal, sys; "
               "ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGKILL); "
               "os.getppid() == int(sys.argv[1]) or sys.exit(1); "
               "sys.argv[2] and os.sched_setaffinity(0, {int(c) for c in sys.argv[2].split(',')}); "
               "os.execv(sys.executable, [sys.executable] + sys.argv[3:])")


def python_command(args: list[str], cpus: set[int] | None = None) -> list[str]:
    """
    Return the command line that runs `python ARGS` as a child that dies with this process.

    On `cpus` only, if given (sched_setaffinity before the exec, as `taskset`).
    """
    cpu_list = ",".join(str(c) for c in sorted(cpus)) if cpus else ""
    return [sys.executable, "-c", _TRAMPOLINE, str(os.getpid()), cpu_list, *args]


def cli_command(argv: list[str]) -> list[str]:
    """Return the command line that runs `asym-control ARGV` as a child of this process."""
    return python_command(["-m", "asym_control.cli", *argv])


def split_flags(argv: list[str], arity: dict[str, int]) -> tuple[dict[str, str | None], list[str]]:
    """
    Split a command's arguments into the flags named in `arity` and the rest, in order.

    `arity[flag]` is 1 for a flag with a value (`--seed 3` or `--seed=3`), 0 for a switch. Returns
    ({flag: value, or None for a switch}, every other argument).
    """
    found: dict[str, str | None] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        if flag in arity:
            if eq:
                found[flag] = value
                i += 1
            elif arity[flag]:
                found[flag] = argv[i + 1] if i + 1 < len(argv) else None
                i += 2
            else:
                found[flag] = None
                i += 1
        else:
            rest.append(argv[i])
            i += 1
    return found, rest


def start(argv: list[str], **popen) -> subprocess.Popen:
    """Start `asym-control ARGV` as a child of this process (subprocess.Popen's keywords)."""
    return subprocess.Popen(cli_command(argv), **popen)
