"""
Where the package's data lives.

The repository (a source checkout or an editable install) or the share directory of a ROS (colcon)
install. ROS-free, imported by everything that reads config/, urdf/ or checkpoints/.
"""

from __future__ import annotations

from pathlib import Path


def package_root() -> Path:
    """Return the repository root (source checkout) or the package's share directory (installed)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "config").is_dir():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("asym_control"))
    except Exception:  # noqa: BLE001 - not installed with ament either
        return here
