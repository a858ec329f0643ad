import os
import warnings

# the MuJoCo gymnasium envs import glfw, which warns without a display; the tests need none
os.environ.setdefault("MUJOCO_GL", "egl")
warnings.filterwarnings("ignore", message=".*DISPLAY.*")
# every test process on its own DDS domain, so parallel test runs (and anything else running
# ROS 2 on this machine) never hear each other; child processes inherit it
os.environ["ROS_DOMAIN_ID"] = str(20 + os.getpid() % 200)
# DDS discovery on loopback only (it otherwise multicasts on the machine's network interface)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray binds to 127.0.0.1 (test_sweep)

import itertools  # noqa: E402

import pytest  # noqa: E402

_domains = itertools.count()


@pytest.fixture(autouse=True)
def ros_domain(monkeypatch) -> int:
    """
    Give every test a fresh DDS domain.

    A node that a test killed (or that refused to start) stays in discovery until its lease
    expires, and must not count as a reader in the next test's graph.
    """
    domain = 20 + (os.getpid() + 37 * next(_domains)) % 200
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    return domain
