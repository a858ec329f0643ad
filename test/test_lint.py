"""
Run ament_flake8 and ament_pep257 over the package, as ROS 2 packages run their linters.

The package, its launch files, tests, benchmarks and scripts; lines up to 120 columns (the
package's choice).
"""

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


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(capsys):
    from pathlib import Path
    from ament_pep257.main import main
    root = Path(__file__).resolve().parent.parent
    rc = main(argv=[str(root / p) for p in PATHS])
    captured = capsys.readouterr()
    report = [line for line in (captured.out + captured.err).splitlines()
              if line.strip() and not line.startswith("checking ")]
    assert rc == 0, "ament_pep257 found:\n" + "\n".join(report)
