"""The package's command line run as a user runs it: `python -m asym_control.cli ARGS`, output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def asym_cli(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `asym-control ARGS` in a child process; `env` adds to this process's environment."""
    return subprocess.run([sys.executable, "-m", "asym_control.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def tiny_run(out, task: str, mode: str, steps: int) -> subprocess.CompletedProcess:
    """Train a few steps of TASK in MODE into OUT (50-step episodes, learning from step 50, no evaluations)."""
    return asym_cli("train", "--task", task, "--mode", mode, "--steps", str(steps), "--episode-steps", "50",
                    "--learning-starts", "50", "--eval-every", "0", "--no-progress", "--single-process",
                    "--out", str(out))
