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


@pytest.mark.linter
def test_package_xml_is_a_valid_format_3_manifest_and_the_urdfs_are_well_formed_xml():
    # catkin_pkg is what colcon and rosdep read package.xml with; its parser validates the
    # manifest (format 3 fields, version, maintainers, licence, dependency names); xmllint is
    # not a PyPI package, so the URDFs are checked for well-formed XML with a robot root
    import xml.etree.ElementTree as ET
    from pathlib import Path

    from catkin_pkg.package import parse_package
    root = Path(__file__).resolve().parent.parent
    pkg = parse_package(str(root / "package.xml"))
    pkg.validate()
    assert pkg.name == "asym_control" and pkg.package_format == 3
    assert pkg.get_build_type() == "ament_python"
    import asym_control
    import re
    setup_version = re.search(r'version="([^"]+)"', (root / "setup.py").read_text()).group(1)
    assert pkg.version == asym_control.__version__ == setup_version
    for urdf in sorted((root / "urdf").glob("*.urdf")):
        tree = ET.parse(urdf)
        assert tree.getroot().tag == "robot", urdf
