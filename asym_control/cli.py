"""`asym-control`: train, eval, flops and launch.

Every failure a user can cause (unknown task, bad numbers, missing or damaged checkpoints) ends
in one line on stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    pass


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .tasks import TASKS

    p = argparse.ArgumentParser(prog="asym-control", description=(
        "Cost-aware deep-RL control: a master policy switching between a small and a large "
        "sub-policy (Chang et al., ICRA 2021)."))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an agent in MuJoCo")
    t.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    t.add_argument("--mode", default="asym", help="asym (master + small + large), large (L-only), small (S-only)")
    t.add_argument("--seed", type=_nonnegative_int, default=0)
    t.add_argument("--steps", type=_positive(int), required=True, help="control steps to train for")
    t.add_argument("--out", type=Path, required=True, help="run directory (config, checkpoints, TensorBoard)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--n-omega", type=_positive(int), default=5, help="control steps per master decision")
    t.add_argument("--lambda", dest="cost_lambda", type=float, default=None,
                   help="cost coefficient (default: the task's, paper Table II)")
    t.add_argument("--small", type=_positive(int), default=None, help="small sub-policy width")
    t.add_argument("--large", type=_positive(int), default=None, help="large sub-policy width")
    t.add_argument("--no-cost", action="store_true", help="ablation: no cost term in the master's reward")
    t.add_argument("--separate-buffers", action="store_true",
                   help="ablation: each sub-policy learns only from its own transitions")
    t.add_argument("--checkpoint-every", type=_positive(int), default=10_000,
                   help="checkpoint at the first episode end after every this many steps")
    t.add_argument("--eval-every", type=_nonnegative_int, default=10_000,
                   help="evaluate at the first episode end after every this many steps (0: never)")
    t.add_argument("--eval-episodes", type=_positive(int), default=5)
    t.add_argument("--learning-starts", type=_nonnegative_int, default=1_000)
    t.add_argument("--episode-steps", type=_positive(int), default=None,
                   help="cut episodes at this many control steps (default: the task's)")
    t.add_argument("--single-process", action="store_true",
                   help="update every learner in this process (same results, slower)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("eval", help="evaluate a trained run directory")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--episodes", type=_positive(int), default=10)
    e.add_argument("--seed", type=_nonnegative_int, default=0)
    e.add_argument("--task", default=None, help="refuse a checkpoint of any other task")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    f = sub.add_parser("flops", help="FLOPs per inference of the sub-policies and the master")
    f.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    f.add_argument("--small", type=_positive(int), default=None)
    f.add_argument("--large", type=_positive(int), default=None)
    f.add_argument("--n-omega", type=_positive(int), default=5)
    la = sub.add_parser("launch", help="run a robot's ROS 2 graph (config/<robot>.yaml) and summarise it")
    la.add_argument("robot", help="walker")
    la.add_argument("--episodes", type=_positive(int), default=1)
    mode = la.add_mutually_exclusive_group()
    mode.add_argument("--lockstep", dest="lockstep", action="store_true", default=None,
                      help="one control step per command (deterministic)")
    mode.add_argument("--real-time", dest="lockstep", action="store_false", help="fixed control rate")
    la.add_argument("--rate", type=_positive(float), default=None, help="real-time control rate in Hz (<= 1000)")
    la.add_argument("--checkpoint-dir", default=None, help="checkpoint for every node (default: the YAML's)")
    la.add_argument("--seed", type=_nonnegative_int, default=None, help="simulator seed (default: the YAML's)")
    la.add_argument("--single-process", action="store_true",
                    help="all nodes in one process on a multi-threaded executor")
    la.add_argument("--timeout", type=_positive(float), default=600.0, help="give up after this many seconds")
    la.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def cmd_launch(a) -> int:
    from .launcher import main_launch

    return main_launch(a.robot, a.episodes, a.lockstep, a.json, a.single_process, a.checkpoint_dir,
                       a.rate, a.seed, a.timeout)


def cmd_train(a) -> int:
    from .config import TrainConfig
    from .train import prepare_run_dir, train

    cfg = TrainConfig(task=a.task, mode=a.mode, seed=a.seed, steps=a.steps, n_omega=a.n_omega,
                      cost_lambda=a.cost_lambda, small_units=a.small, large_units=a.large,
                      no_cost=a.no_cost, separate_buffers=a.separate_buffers,
                      checkpoint_every=a.checkpoint_every, learning_starts=a.learning_starts,
                      episode_steps=a.episode_steps, parallel=not a.single_process,
                      eval_every=a.eval_every, eval_episodes=a.eval_episodes)
    cfg = prepare_run_dir(a.out, cfg, a.resume)
    _record_invocation(a.out, argv=sys.argv)
    summary = train(cfg, a.out, resume=a.resume, progress=not a.no_progress)
    print(json.dumps(summary))
    return 0


def _record_invocation(run_dir: Path, argv: list[str]) -> None:
    """Append the command line and the source commit to run_dir/invocations.jsonl (provenance)."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    run_dir.mkdir(parents=True, exist_ok=True)
    entry = {"command": " ".join(["asym-control"] + argv[1:]), "commit": commit,
             "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with open(run_dir / "invocations.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def cmd_eval(a) -> int:
    from .checkpoint import load_policy
    from .evaluate import evaluate

    cfg, policy = load_policy(a.run_dir, expect_task=a.task)
    result, _ = evaluate(cfg, policy, a.episodes, a.seed)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{cfg.task} [{cfg.mode}] over {a.episodes} episodes (seed {a.seed}):")
        print(f"  return              {result['return_mean']:.1f} +- {result['return_std']:.1f}")
        print(f"  on large            {100 * result['large_fraction']:.1f}% of control steps")
        print(f"  FLOPs / inference   {result['flops_per_inference']:.0f} "
              f"(L-only {result['flops_large_only']})")
        print(f"  FLOPs reduction     {100 * result['flops_reduction']:.1f}% vs L-only")
        print(f"  ({result['flops_convention']})")
    return 0


def cmd_flops(a) -> int:
    from .flops import cost_table
    from .tasks import get_task

    spec = get_task(a.task)
    table = cost_table(spec.obs_dim, spec.act_dim, a.small or spec.small_units,
                       a.large or spec.large_units, a.n_omega)
    d = table.as_dict()
    d.update(task=spec.name, obs_dim=spec.obs_dim, act_dim=spec.act_dim,
             small_units=a.small or spec.small_units, large_units=a.large or spec.large_units)
    print(json.dumps(d))
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*DISPLAY.*")  # glfw, imported by the MuJoCo envs
    parser = build_parser()
    a = parser.parse_args(argv)
    from .checkpoint import CheckpointError
    from .launcher import GraphError
    from .tasks import UnknownTask

    try:
        return {"train": cmd_train, "eval": cmd_eval, "flops": cmd_flops, "launch": cmd_launch}[a.command](a)
    except (UnknownTask, CheckpointError, UserError, ValueError, GraphError) as e:
        print(f"asym-control {a.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"asym-control {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
