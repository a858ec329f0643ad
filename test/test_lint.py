"""ament_flake8 over the package, its launch files, tests, benchmarks and scripts, as ROS 2
packages run their linters as tests; lines up to 120 columns (the package's choice)."""

import pytest
from ament_flake8.main import main_with_errors

PATHS = ["asym_control", "launch", "test", "bench", "scripts", "setup.py"]
LINE_LENGTH = "120"


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    rc, errors = main_with_errors(argv=["--linelength", LINE_LENGTH, *[str(root / p) for p in PATHS]])
    assert rc == 0, f"{len(errors)} flake8 error(s):\n" + "\n".join(errors)
