"""The package's command line run as a user runs it: `python -m asym_control.cli ARGS`, output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def asym_cli(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `asym-control ARGS` in a child process; `env` adds to this process's environment."""
    return subprocess.run([sys.executable, "-m", "asym_control.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
