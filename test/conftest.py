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


def pytest_sessionstart(session):
    """
    Clear Fast DDS's shared-memory files that no process holds any more, with its own tool.

    A process killed before it freed its participant (a crash, a SIGKILL, here or in any earlier
    run on this machine) leaves its segment and ports in /dev/shm, and a later participant that
    reopens such a port may not hear, or be heard by, the others. `fastdds shm clean` removes only
    the files whose owner is gone. test_graph checks that the graph itself leaves none.
    """
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"
    if tool.is_file():
        done = subprocess.run([sys.executable, str(tool), "shm", "clean"], capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            warnings.warn(f"fastdds shm clean failed: {(done.stdout + done.stderr).strip()}")


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


@pytest.fixture
def cluster():
    """Two Ray nodes of one CPU each on 127.0.0.1 (ray.cluster_utils.Cluster), shut down afterwards."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()
