"""Waiting on a condition, never on a fixed sleep: a loaded machine takes what it takes."""

from __future__ import annotations

import time


def wait_until(condition, what: str, timeout_s: float, poll_s: float = 0.01) -> None:
    """Return once `condition()` is true; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_s)
