"""
Re-run the evaluation recorded in every shipped checkpoint's provenance and compare.

    python scripts/check_shipped.py [checkpoints] [--episodes N] [--source OLD_CHECKOUT]

Each checkpoints/<task>/<name>/provenance.json holds the `asym-control eval` command that made
its figures and their JSON. This runs that command again and prints, per checkpoint, whether the
JSON is identical (every key of the recorded evaluation); exit status 1 if any differs.

The recorded figures come from the machine that shipped the checkpoint; MuJoCo's arithmetic can
differ in the last bits between CPUs, and a walker that falls amplifies that, so on another
machine compare two versions of the code instead: with --source DIR (a checkout of another
commit, e.g. `git worktree add /tmp/old COMMIT`) the same command also runs with DIR's package,
and the two JSONs are compared. With --episodes N it only checks that the command runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import os
import subprocess
import sys
from pathlib import Path

# run asym_control from a given source tree, not from the editable install of this venv
_FROM_SOURCE = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__.lower()"
    " and 'editable' not in getattr(f, '__name__', '').lower()]; "
    "sys.path.insert(0, sys.argv.pop(1)); "
    "import asym_control.cli as c; assert c.__file__.startswith(sys.path[0]), c.__file__; "
    "sys.argv[0] = 'asym-control'; sys.exit(c.main())"
)


def run_eval(argv: list[str], source: Path | None = None) -> dict:
    if source is None:
        cmd = [sys.executable, "-m", "asym_control.cli", *argv]
    else:
        cmd = [sys.executable, "-c", _FROM_SOURCE, str(source.resolve()), *argv]
    env = dict(os.environ, PYTHONPATH="")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise EvalFailed((r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1])
    return json.loads(r.stdout)


class EvalFailed(RuntimeError):
    pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent / "checkpoints")
    p.add_argument("--episodes", type=int, default=None, help="override the recorded episode count (smoke test)")
    p.add_argument("--source", type=Path, default=None,
                   help="a checkout of another commit: compare its evaluation with this one's")
    a = p.parse_args()
    provenances = sorted(a.root.glob("*/*/provenance.json"))
    if not provenances:
        print(f"no provenance.json under {a.root}", file=sys.stderr)
        return 2
    differ = 0
    for prov_file in provenances:
        prov = json.loads(prov_file.read_text())
        argv = shlex.split(prov["eval_command"])
        assert argv[:2] == ["asym-control", "eval"], prov["eval_command"]
        argv[2] = str(prov_file.parent)     # the checkpoint where it is now
        if a.episodes is not None:
            argv[argv.index("--episodes") + 1] = str(a.episodes)
        name = prov_file.parent.relative_to(a.root)
        try:
            got = run_eval(argv[1:])
            want = prov["eval"] if a.source is None else run_eval(argv[1:], a.source)
        except EvalFailed as e:
            differ += 1
            print(f"{name}: FAILED: {e}")
            continue
        diff = {k: (want[k], got.get(k)) for k in want if got.get(k) != want[k]}
        if a.episodes is not None:
            print(f"{name}: ran ({a.episodes} episodes): return {got['return_mean']:.1f}")
        elif diff:
            differ += 1
            was = "recorded" if a.source is None else str(a.source)
            print(f"{name}: DIFFERS: " + "; ".join(f"{k}: {was} {w!r}, now {g!r}" for k, (w, g) in diff.items()))
        else:
            print(f"{name}: identical ({len(want)} keys; return {want['return_mean']:.1f}, "
                  f"{want.get('flops_reduction', 0.0):.1%} fewer FLOPs)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
