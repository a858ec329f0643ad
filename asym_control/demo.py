"""
The demo behind `make demo`: one episode of the walker graph, its recording, and Table III.

One episode of the walker graph (real ROS 2 nodes, headless, shipped checkpoint) with its summary,
recorded to MCAP and drawn as the paper's Fig. 4 timeline; then the shipped walker-stand
checkpoints evaluated beside the paper's Table III row.

    python -m asym_control.demo [--checkpoints checkpoints/walker-stand] [--episodes 20] [--seed 0]
                                [--out demo-output]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def main(argv=None) -> int:
    from asym_control.training.checkpoint import CheckpointError, load_policy
    from asym_control.evaluation.evaluate import evaluate
    from asym_control.flops import CONVENTION
    from asym_control.tasks.registry import get_task

    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints/walker-stand"))
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-graph", action="store_true", help="skip the ROS 2 graph episode")
    p.add_argument("--out", type=Path, default=Path("demo-output"),
                   help="where the recording (.mcap) and the timeline figure (.png, .svg) go")
    a = p.parse_args(argv)
    if not a.no_graph:
        import os

        from asym_control.deploy.launcher import GraphError, format_summary, run_graph
        os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 200))
        print("running the walker graph (sim, master, small, large, cost_monitor as separate ROS 2 nodes) "
              "for one lockstep episode ...", file=sys.stderr)
        mcap = a.out / "walker-episode.mcap"
        try:
            a.out.mkdir(parents=True, exist_ok=True)
            mcap.unlink(missing_ok=True)
            outcome = run_graph("walker", episodes=1, lockstep=True, checkpoint_dir=str(a.checkpoints / "asym"),
                                seed=a.seed, timeout_s=300, record=mcap)
        except (GraphError, OSError) as e:
            print(f"demo: error: {e}", file=sys.stderr)
            return 2
        print(format_summary(outcome))
        figures = _timeline_from_recording(mcap, a.out / "walker-timeline")
        print(f"  recording           {mcap} (every topic, MCAP, ROS 2 profile: ros2 bag play / Foxglove)")
        print(f"  timeline            {figures[0]} (+ .svg): white = small, yellow = large")
        print()
    results = {}
    for mode in ("small", "large", "asym"):
        try:
            cfg, policy = load_policy(a.checkpoints / mode)
        except CheckpointError as e:
            print(f"demo: error: {e}", file=sys.stderr)
            return 2
        print(f"evaluating {a.checkpoints / mode} over {a.episodes} episodes ...", file=sys.stderr)
        results[mode], _ = evaluate(cfg, policy, a.episodes, a.seed)
    spec = get_task(cfg.task)
    paper = spec.paper
    r = results
    print()
    print(f"{spec.name}: Table III of the paper (200 episodes x 5 seeds, 2.5M steps) beside the shipped "
          f"checkpoints ({a.episodes} episodes, evaluation seed {a.seed})")
    print()
    head = f"{'':8} {'S-only':>16} {'L-only':>16} {'Ours':>16} {'% on large':>11} {'% FLOPs cut':>12}"
    print(head)
    print("-" * len(head))
    print(f"{'paper':8} {paper['s_only']:>16.1f} {paper['l_only']:>16.1f} {paper['ours']:>16.1f} "
          f"{paper['large_pct']:>10.1f}% {paper['flops_reduction_pct']:>11.1f}%")

    def cell(m):
        return f"{r[m]['return_mean']:.1f} +- {r[m]['return_std']:.1f}"
    print(f"{'ours':8} {cell('small'):>16} {cell('large'):>16} {cell('asym'):>16} "
          f"{100 * r['asym']['large_fraction']:>10.1f}% {100 * r['asym']['flops_reduction']:>11.1f}%")
    print()
    print(f"FLOPs per inference: L-only {r['large']['flops_per_inference']:.0f}, "
          f"ours {r['asym']['flops_per_inference']:.0f} (master amortised over n_omega={cfg.n_omega}), "
          f"S-only {r['small']['flops_per_inference']:.0f}")
    print(f"({CONVENTION})")
    return 0


def _timeline_from_recording(mcap: Path, out: Path) -> list[Path]:
    """Draw the paper's Fig. 4 for the recorded episode: selections and forwarded commands."""
    import numpy as np

    from asym_control.evaluation import plots
    from asym_control.evaluation.recording import read_episode
    from asym_control.tasks.registry import get_task

    options, actions = read_episode(mcap)
    spec = get_task("walker-stand")
    title = (f"walker-stand through the ROS 2 graph: {100 * np.mean(options == 1):.1f}% of steps on large "
             f"(recording {mcap.name})")
    return plots.timeline(options, actions, spec.control_dt, title, out, None, list(spec.actuator_names))


if __name__ == "__main__":
    sys.exit(main())
