"""
The large sub-policy's learner in a second process, over the shared replay buffer.

Why: the machine has two cores and one Python interpreter per process; the large SAC update
is the longest piece of work per control step, so it runs in a forked process while this
process steps MuJoCo and updates the small sub-policy and the master. The replay buffer and the
large actor's weights live in shared memory: the learner samples the buffer and writes the
actor's weights in place, this process reads them to act.

The results are bit-identical to updating in one process: the learner owns its own random
stream, samples the buffer only after this process has added the step's transition, and this
process waits for the update to finish before it acts again.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from asym_control.learning.buffers import ReplayBuffer
from asym_control.learning.sac import SAC


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the training process dies, however it dies."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _serve(conn, parent_end, parent_pid: int, sac: SAC, buffer: ReplayBuffer, rng: np.random.Generator,
           batch_size: int) -> None:
    from threadpoolctl import threadpool_limits

    # the fork copied the parent's end of the pipe: closed here, the parent's death is an EOF
    parent_end.close()
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the line above
        return
    with threadpool_limits(1):
        while True:
            try:
                msg = conn.recv()
            except EOFError:  # the training process is gone: stop with it
                return
            kind = msg[0]
            if kind == "update":
                buffer.size = msg[1]
                metrics = sac.update(buffer.sample(batch_size, rng), rng)
                conn.send(metrics if msg[2] else None)
            elif kind == "state":
                conn.send((sac.state(msg[1]), rng.bit_generator.state))
            elif kind == "load":
                sac.load_state(msg[1], msg[2])
                rng.bit_generator.state = msg[3]
                conn.send(True)
            elif kind == "stop":
                return


class LearnerProcess:
    """Runs `sac.update` on batches of `buffer` in a forked child; same API as a local update."""

    def __init__(self, sac: SAC, buffer: ReplayBuffer, rng: np.random.Generator, batch_size: int):
        sac.share_actor()   # the child writes these weights, the parent acts with them
        self.sac, self.buffer, self.rng = sac, buffer, rng
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self._conn, os.getpid(), sac, buffer, rng, batch_size),
                                 name="asym-large-learner", daemon=True)
        self._proc.start()
        child.close()
        self._pending = False

    def start_update(self, want_metrics: bool) -> None:
        self._conn.send(("update", self.buffer.size, want_metrics))
        self._pending = True

    def finish_update(self):
        self._pending = False
        return self._conn.recv()

    def state(self, prefix: str) -> tuple[dict, dict]:
        self._conn.send(("state", prefix))
        return self._conn.recv()

    def load_state(self, tensors: dict, prefix: str, rng_state: dict) -> None:
        self._conn.send(("load", tensors, prefix, rng_state))
        self._conn.recv()

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                if self._pending:
                    self._conn.recv()
                self._conn.send(("stop",))
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self._conn.close()
