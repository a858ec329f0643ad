"""asym_control: an ament_python package that also installs with pip."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "asym_control"


def _tree(top):
    """data_files entries installing every file under `top` into share/asym_control/<top>/..."""
    return [(os.path.join("share", PACKAGE, folder), [os.path.join(folder, f) for f in sorted(files)])
            for folder, _, files in sorted(os.walk(top)) if files]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*")),
        # the shipped checkpoints (weights + JSON, 0.3 MB): the configs name them relative to
        # the share directory
        *_tree("checkpoints"),
    ],
    python_requires=">=3.10",
    # torch is used only by the tests (gradient checks) and TensorBoard logging; it is pinned
    # in requirements.txt (the CPU wheel), never pulled in here, where a bare spec would fetch a
    # multi-GB CUDA build.
    install_requires=[
        "numpy>=1.24",
        "mujoco==3.17.0",
        "dm_control>=1.0.20",
        "gymnasium[mujoco]>=1.0",
        "safetensors>=0.4",
        "tqdm",
        "threadpoolctl",
        "tensorboard",
        "pyyaml",
        "matplotlib",
        "mcap",
        "mcap-ros2-support",
    ],
    zip_safe=True,
    maintainer="asym_control maintainers",
    maintainer_email="maintainers@asym-control.dev",
    description="Cost-aware asymmetric deep-RL control for ROS 2 (master + small/large sub-policies)",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "asym-control = asym_control.cli:main",
            "asym_sim = asym_control.nodes.sim:main",
            "asym_master = asym_control.nodes.master:main",
            "asym_subpolicy = asym_control.nodes.subpolicy:main",
            "asym_cost_monitor = asym_control.nodes.cost_monitor:main",
            "asym_safety = asym_control.nodes.safety:main",
            "asym_standin = asym_control.nodes.standin:main",
            "asym_lifecycle_manager = asym_control.nodes.lifecycle_manager:main",
        ],
    },
)
