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
               "os.execv(sys.executable, [sys.executable, '-m', 'asym_control.cli'] + sys.argv[2:])")


def cli_command(argv: list[str]) -> list[str]:
    """Return the command line that runs `asym-control ARGV` as a child of this process."""
    return [sys.executable, "-c", _TRAMPOLINE, str(os.getpid()), *argv]


def start(argv: list[str], **popen) -> subprocess.Popen:
    """Start `asym-control ARGV` as a child of this process (subprocess.Popen's keywords)."""
    return subprocess.Popen(cli_command(argv), **popen)
