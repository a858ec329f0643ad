"""
Ray, started or joined the one way the package does it (the experiment runner and the actor-learner mode).

`start(address, num_cpus)`: without an address, a local Ray on this machine's cores; with one, the
cluster there, after checking that its head answers (Ray itself retries an unreachable address
for minutes without a word to the user). A local Ray runs its workers at niceness 0 instead of
Ray's 15: here they are the run's own work, and a busy process at niceness 0 beside them (the
actor-learner mode's learner) otherwise starves them.
"""

from __future__ import annotations

import socket


class RayAddressError(ValueError):
    """An address where no Ray head answers."""


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Refuse HOST:PORT if nothing accepts a connection there ("auto" and ray:// are left to Ray)."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayAddressError(f"--address must be HOST:PORT (a Ray head, e.g. 10.0.0.1:6379) or auto, got {address!r}")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise RayAddressError(f"no Ray cluster answers at {address} ({e.strerror or e}); start one there with "
                              "`ray start --head`, or leave --address out to run on this machine") from None


def start(address: str | None, num_cpus: int | None) -> None:
    import ray

    common = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING", configure_logging=True)
    if address is not None:
        check_address(address)
        ray.init(address=address, **common)
    else:
        ray.init(num_cpus=num_cpus, _system_config={"worker_niceness": 0}, **common)
