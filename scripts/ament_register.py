"""
Register an editable (pip -e) install of asym_control in its environment's ament prefix.

    python scripts/ament_register.py [PREFIX]     (default: this interpreter's sys.prefix)

`make setup` runs it. An editable install puts the console scripts in PREFIX/bin and nothing in
the ament index, while `ros2 launch` and `ros2 run` look up the package in
PREFIX/share/ament_index and its executables in PREFIX/lib/asym_control/. This writes, as
colcon's install does:
- PREFIX/share/ament_index/resource_index/packages/asym_control (the index marker),
- PREFIX/share/asym_control/{package.xml, launch/, config/, urdf/, checkpoints/}: the folders
  made, each file a symbolic link to the source tree's, so that edits take effect as the
  editable install's do (ros2 launch walks the share folder without following folder links);
  a file added to those folders appears after the next run (`make setup` reruns it),
- PREFIX/lib/asym_control/<executable>: links to PREFIX/bin/<executable>.
Idempotent; `--remove` takes it all out again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PACKAGE = "asym_control"
ROOT = Path(__file__).resolve().parent.parent
SHARED = ("package.xml", "launch", "config", "urdf", "checkpoints")


def executables() -> list[str]:
    """List the console scripts of setup.py (read from the installed distribution's entry points)."""
    from importlib.metadata import distribution

    return sorted(ep.name for ep in distribution(PACKAGE).entry_points if ep.group == "console_scripts")


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise SystemExit(f"ament_register: {link} exists and is not a link; remove it first")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def register(prefix: Path) -> list[Path]:
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    made = [marker]
    share = prefix / "share" / PACKAGE
    for name in SHARED:
        files = [ROOT / name] if (ROOT / name).is_file() else sorted(p for p in (ROOT / name).rglob("*") if p.is_file())
        for f in files:
            _link(f, share / f.relative_to(ROOT))
            made.append(share / f.relative_to(ROOT))
    for exe in executables():
        script = prefix / "bin" / exe
        if not script.is_file():
            raise SystemExit(f"ament_register: {script} is missing: install the package first (pip install -e .)")
        _link(script, prefix / "lib" / PACKAGE / exe)
        made.append(prefix / "lib" / PACKAGE / exe)
    return made


def remove(prefix: Path) -> None:
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.unlink(missing_ok=True)
    for folder in (prefix / "share" / PACKAGE, prefix / "lib" / PACKAGE):
        if not folder.is_dir():
            continue
        for p in sorted(folder.rglob("*"), reverse=True):   # files before their folders
            if p.is_symlink():
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        if not any(folder.iterdir()):
            folder.rmdir()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prefix", nargs="?", type=Path, default=Path(sys.prefix))
    p.add_argument("--remove", action="store_true")
    a = p.parse_args(argv)
    if a.remove:
        remove(a.prefix)
        return 0
    made = register(a.prefix)
    print(f"ament_register: {PACKAGE} registered in {a.prefix} ({len(made)} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
