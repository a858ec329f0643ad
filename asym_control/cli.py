"""
`asym-control`: train, eval, flops, launch, record and plot.

Every failure a user can cause (unknown task, bad numbers, missing or damaged checkpoints, a
configuration that cannot run) ends in one line on stderr and exit status 2; no traceback. Any
other error is the package's own and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    pass


def _number(kind, ok, requirement: str, expected: str = "a number"):
    """Return an argparse type: `kind(text)`, refused in one line unless ok(value) ("must be <requirement>")."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


def _positive(kind):
    return _number(kind, lambda v: not v <= 0, "positive")


_nonnegative_float = _number(float, lambda v: v >= 0 and v != math.inf, "a finite number >= 0")
_at_least_one = _number(float, lambda v: math.isfinite(v) and v >= 1.0, "a finite number >= 1")
_discount = _number(float, lambda v: 0.0 < v < 1.0, "in (0, 1)")
_nonnegative_int = _number(int, lambda v: v >= 0, ">= 0", expected="an integer")


def _match_arguments(p, help_text: str) -> None:
    p.add_argument("--match", type=Path, default=None, metavar="RESULTS_DIR", help=help_text)
    p.add_argument("--match-args", default=None, metavar="FLAGS",
                   help="with --match: the agent's variant, by its extra train flags (e.g. \"--schedule curriculum\")")
    p.add_argument("--match-steps", type=_positive(int), default=None, help="with --match: the variant's budget")


def _matched(a, task: str) -> dict:
    from asym_control.baselines.matched import matched_to_results, matched_width
    from asym_control.flops import actor_flops
    from asym_control.tasks.registry import get_task

    spec = get_task(task)
    mean, per_seed, variant = matched_to_results(a.match, task, a.match_args, a.match_steps)
    width = matched_width(spec.obs_dim, spec.act_dim, mean)
    return {"flops": mean, "per_seed": per_seed, "variant": variant, "width": width,
            "width_flops": actor_flops(spec.obs_dim, spec.act_dim, width)}


def build_parser() -> argparse.ArgumentParser:
    from asym_control.a2d.search import DEFAULT_WIDTHS
    from asym_control.baselines.distill import METHODS
    from asym_control.deploy.quantized import PRECISIONS, RUNTIMES
    from asym_control.tasks.registry import TASKS
    from asym_control.training.config import DEFAULT_SCHEDULE, FIT_GATE_LOSSES, SCHEDULES

    p = argparse.ArgumentParser(prog="asym-control", description=(
        "Cost-aware deep-RL control: a master policy switching between a small and a large "
        "sub-policy (Chang et al., ICRA 2021)."))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an agent in MuJoCo")
    t.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    t.add_argument("--mode", default="asym", help="asym (master + small + large), large (L-only), small (S-only)")
    t.add_argument("--seed", type=_nonnegative_int, default=0)
    t.add_argument("--seeds", default=None, metavar="0-4",
                   help="several seeds in one run (0,1,2 or 0-4): each in OUT/seed<k>, as many at once as "
                        "there are cores, each equal to its single-seed run")
    t.add_argument("--steps", type=_positive(int), required=True, help="control steps to train for")
    t.add_argument("--out", type=Path, required=True, help="run directory (config, checkpoints, TensorBoard)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--n-omega", type=_positive(int), default=5, help="control steps per master decision")
    t.add_argument("--lambda", dest="cost_lambda", type=float, default=None,
                   help="cost coefficient (default: the task's, paper Table II)")
    t.add_argument("--small", type=_positive(int), default=None, help="small sub-policy width")
    t.add_argument("--large", type=_positive(int), default=None, help="large sub-policy width")
    t.add_argument("--critic-units", type=_positive(int), default=None,
                   help="hidden units of every critic (training only; default: the task's, else the actor's width)")
    t.add_argument("--noise-rho", type=_nonnegative_float, default=None,
                   help="correlation of the training's exploration noise between consecutive steps, in [0, 1) "
                        "(0: white, SAC's; default: the task's)")
    t.add_argument("--gamma", type=_discount, default=None,
                   help="discount of the sub-policies and the master (default: Table I's 0.99)")
    t.add_argument("--lr", type=_positive(float), default=None,
                   help="Adam learning rate of the sub-policies' actors, critics and entropy coefficient "
                        "(default: Table I's 3e-4)")
    t.add_argument("--tau", type=_number(float, lambda v: 0.0 < v <= 1.0, "in (0, 1]"), default=None,
                   help="Polyak coefficient of the sub-policies' target critics (default: Table I's 0.005)")
    t.add_argument("--random-actions", type=_number(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)"), default=None,
                   help="share of training steps whose action is uniformly random instead of the actor's "
                        "(HER's reference implementation's random_eps, 0.3 on Fetch; default 0)")
    t.add_argument("--normalize-obs", action="store_true",
                   help="standardise the sub-policies' inputs with running statistics of what they learn from "
                        "(HER's reference implementation does); folded into the saved actors")
    t.add_argument("--master-gamma", type=_discount, default=None,
                   help="the master's discount per control step, in place of --gamma's (a macro step of k "
                        "control steps is discounted by its k-th power)")
    t.add_argument("--no-cost", action="store_true", help="ablation: no cost term in the master's reward")
    t.add_argument("--schedule", choices=SCHEDULES, default=DEFAULT_SCHEDULE,
                   help="the master's schedules: curriculum (the default: lambda 0 for the first third, then a "
                        "linear ramp over the second, epsilon over two thirds, exploratory choices held 10 "
                        "decisions, the master's replay 10%% of the run) or paper (Table I's: lambda from the "
                        "start, epsilon over 10%% of the run, plain epsilon-greedy, which lets the master "
                        "settle on small before large is any good: docs/master-collapse.md); the flags below "
                        "override either")
    t.add_argument("--exploration-steps", type=_positive(int), default=None,
                   help="control steps over which the master's epsilon decays (default: 10%% of --steps)")
    t.add_argument("--exploration-unit", choices=("macro", "episode"), default="macro",
                   help="macro: epsilon-greedy per decision; episode: per episode, one sub-policy throughout")
    t.add_argument("--exploration-hold", type=_at_least_one, default=None,
                   help="mean macro steps an exploratory choice is held (unit macro; 1: plain epsilon-greedy)")
    t.add_argument("--master-train-freq", choices=("control", "macro"), default="control",
                   help="the master's gradient steps: one per control step, or one per macro transition")
    t.add_argument("--master-target-update", type=_positive(int), default=None,
                   help="the master's gradient steps between copies into its target network (default: Table "
                        "I's 500)")
    t.add_argument("--master-batch", type=_positive(int), default=None,
                   help="macro transitions in each of the master's gradient steps (default: Table I's 32)")
    t.add_argument("--master-gradient-steps", type=_positive(int), default=None,
                   help="the master's gradient steps each time it trains (per control step or per macro "
                        "transition, --master-train-freq; default: Table I's 1)")
    t.add_argument("--fit-gate", action="store_true",
                   help="after training, refit the master from paired simulator branches (asym-control fit-gate's "
                        "defaults, docs/master-collapse.md); the TD-trained master's policy is kept in OUT/td_master")
    t.add_argument("--fit-gate-loss", choices=FIT_GATE_LOSSES, default="huber",
                   help="with --fit-gate: the fit's loss on its labels (fit-gate --loss; default huber)")
    t.add_argument("--master-dueling", action="store_true",
                   help="the master learns V(s) and each option's advantage (dueling, Wang et al. 2016); "
                        "deployed as the same two-output network")
    t.add_argument("--master-buffer", type=_positive(int), default=None,
                   help="macro transitions the master's replay keeps (default: Table I's 50,000; curriculum: "
                        "10%% of the run)")
    t.add_argument("--cost-free", type=_nonnegative_int, default=None,
                   help="control steps at the start with lambda = 0")
    t.add_argument("--cost-warmup", type=_nonnegative_int, default=None,
                   help="control steps over which lambda rises linearly from 0 to its value")
    t.add_argument("--her-goals", type=_nonnegative_int, default=4,
                   help="goal-conditioned tasks: hindsight goals per real one (HER's k, future strategy; 0: none)")
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
    al = t.add_argument_group("actor-learner mode (ActorQ's scheme, on Ray: docs/actor-learner.md)")
    al.add_argument("--actors", type=_positive(int), default=None,
                    help="N Ray actors gather experience, this process learns in fp32 (default: the "
                         "single-process loop)")
    al.add_argument("--actor-precision", choices=PRECISIONS, default=None,
                    help="the actors' networks: fp32 (NumPy, the default), fp16 or int8 (onnxruntime)")
    al.add_argument("--sync-every", type=_positive(int), default=None,
                    help="control steps an actor runs between pulls of the learner's weights (default 1000)")
    al.add_argument("--weights-comm", choices=PRECISIONS, default=None,
                    help="precision of the weights sent to the actors (default fp32)")
    al.add_argument("--update-ratio", type=_positive(float), default=None,
                    help="the learner's gradient steps per control step received (default 1)")
    al.add_argument("--address", default=None,
                    help="a Ray cluster's address (HEAD:6379, or auto); default: a local Ray on this machine")
    al.add_argument("--stop-at-return", type=float, default=None,
                    help="stop at the first evaluation with at least this mean return (time to reward)")

    e = sub.add_parser("eval", help="evaluate a trained run directory")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--episodes", type=_positive(int), default=10)
    e.add_argument("--seed", type=_nonnegative_int, default=0)
    e.add_argument("--task", default=None, help="refuse a checkpoint of any other task")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--precision", choices=RUNTIMES, default="numpy",
                   help="the actors' runtime: the package's NumPy fp32 (default, as the nodes), or onnxruntime "
                        "fp32 or dynamic int8 (the master stays fp32)")

    g = sub.add_parser("fit-gate", help="refit a trained run's master from paired simulator branches "
                       "(docs/master-collapse.md); the sub-policies stay as trained")
    g.add_argument("run_dir", type=Path, help="an asym run with its training checkpoint (for the large critic)")
    g.add_argument("--out", type=Path, required=True, help="a new folder for the policy with the fitted master")
    g.add_argument("--rounds", type=_positive(int), default=None, help="label-and-fit rounds (default 4)")
    g.add_argument("--labels", type=_positive(int), default=None,
                   help="labelled decisions per round, in whole episodes (default 4000)")
    g.add_argument("--horizon", type=_positive(int), default=None,
                   help="control steps per branch before the large critic closes it (default 30)")
    g.add_argument("--no-tail", action="store_true",
                   help="no critic: a branch's value is its horizon's discounted return alone")
    g.add_argument("--updates", type=_positive(int), default=None, help="Adam steps per fit (default 20000)")
    g.add_argument("--loss", choices=FIT_GATE_LOSSES, default=None,
                   help="the fit's loss on the labels: huber (the DQN's, delta 1; the default) or mse (squared "
                        "error, whose fit is the labels' mean where huber's leans to their median)")
    g.add_argument("--seed", type=_nonnegative_int, default=None,
                   help="the labelled episodes' seeds start at 20000 + SEED, the validation's at 30000 + SEED "
                        "(default 0)")
    g.add_argument("--validate", type=_nonnegative_int, default=None, metavar="STEPS",
                   help="keep the best of the trained master and every round's fit by the master's objective "
                        "(return - lambda x FLOPs) over the same episodes, STEPS control steps of them each "
                        "(default 0: keep the last round's fit)")

    f = sub.add_parser("flops", help="FLOPs per inference of the sub-policies and the master")
    f.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    f.add_argument("--small", type=_positive(int), default=None)
    f.add_argument("--large", type=_positive(int), default=None)
    f.add_argument("--n-omega", type=_positive(int), default=5)
    _match_arguments(f, "also the width whose actor FLOPs equal the asymmetric agent's average over "
                        "its results in this folder (Table IV's matched FLOPs: the width of pi_fit, BC and GAIL)")

    d = sub.add_parser("distill", help="distil a teacher into a small actor: behaviour cloning, GAIL (Table IV) "
                                       "or A2D's actor + critic distillation")
    d.add_argument("--teacher", type=Path, required=True,
                   help="a trained run directory (the L-only policy; a2d: with its training checkpoint)")
    d.add_argument("--method", choices=METHODS, required=True,
                   help="bc, gail (the teacher's demonstrations), a2d (SAC + the teacher's KL and Q), a2d-actor "
                        "(SAC + KL only)")
    d.add_argument("--width", type=_positive(int), default=None, help="the student's hidden units")
    _match_arguments(d, "the student's width: the one whose FLOPs equal the asymmetric agent's average "
                        "over its results in this folder for the teacher's task")
    d.add_argument("--out", type=Path, required=True, help="the student's run directory")
    d.add_argument("--seed", type=_nonnegative_int, default=0)
    d.add_argument("--trajectories", type=_positive(int), default=25, help="teacher episodes (paper: 25)")
    d.add_argument("--length", type=_positive(int), default=50,
                   help="consecutive state-action pairs kept from each (paper: 50)")
    d.add_argument("--updates", type=_positive(int), default=10_000, help="bc: gradient steps")
    d.add_argument("--steps", type=_positive(int), default=300_000,
                   help="gail, a2d: the student's environment steps")
    d.add_argument("--kl-coef", type=_nonnegative_float, default=1.0, help="a2d: weight of the actor's KL term")
    d.add_argument("--q-coef", type=_nonnegative_float, default=1.0, help="a2d: weight of the critics' MSE term")
    d.add_argument("--disc-every", type=_positive(int), default=50,
                   help="gail: environment steps between discriminator updates")
    d.add_argument("--eval-every", type=_nonnegative_int, default=10_000,
                   help="gail: evaluate the generator (5 episodes) every this many steps (0: never)")
    d.add_argument("--eval-episodes", type=_positive(int), default=50, help="episodes of the final evaluation")
    d.add_argument("--results", type=Path, default=None, metavar="DIR",
                   help="also write the student's result file into this results folder (for asym-control report)")
    d.add_argument("--json", action="store_true", help="print distill.json")
    se = sub.add_parser("search", help="choose a sub-policy width by a FLOPs-penalised search (A2D), then distil it")
    se.add_argument("--teacher", type=Path, required=True,
                    help="a trained run directory (the L-only policy, with its training checkpoint for a2d)")
    se.add_argument("--out", type=Path, required=True,
                    help="a new folder: search.json, and with --steps the student's run directory OUT/student")
    budget = se.add_mutually_exclusive_group()
    budget.add_argument("--flops-lambda", type=_nonnegative_float, default=1.0,
                        help="weight of the expected FLOPs in the loss, per teacher's FLOPs")
    budget.add_argument("--flops-budget", type=_positive(float), default=None,
                        help="FLOPs per inference: only the expected FLOPs above it are penalised")
    se.add_argument("--widths", default=",".join(str(w) for w in DEFAULT_WIDTHS), help="candidate widths")
    se.add_argument("--search-updates", type=_positive(int), default=6000)
    se.add_argument("--states", type=_positive(int), default=20_000, help="teacher states the search fits")
    se.add_argument("--method", choices=("a2d", "a2d-actor"), default="a2d",
                    help="the chosen width's distillation: actor + critic, or actor only")
    se.add_argument("--steps", type=_nonnegative_int, default=300_000,
                    help="the distilled student's environment steps (0: the search only)")
    se.add_argument("--seed", type=_nonnegative_int, default=0)
    se.add_argument("--eval-episodes", type=_positive(int), default=50)
    se.add_argument("--results", type=Path, default=None, metavar="DIR",
                    help="also write the student's result file into this results folder")
    se.add_argument("--json", action="store_true", help="print search.json")
    pl = sub.add_parser("plot", help="the paper's figures: timeline (Fig. 4), scatter (Fig. 6), lambda sweep (Fig. 2)")
    pl.add_argument("kind", choices=["timeline", "scatter", "sweep"])
    pl.add_argument("run_dirs", type=Path, nargs="+", help="checkpoint/run directories (several for sweep)")
    pl.add_argument("--out", type=Path, required=True, help="output path without extension (.png and .svg)")
    pl.add_argument("--episodes", type=_positive(int), default=20, help="scatter/sweep: episodes per run")
    pl.add_argument("--seed", type=_nonnegative_int, default=0)
    pl.add_argument("--episode-steps", type=_positive(int), default=None, help="timeline: cut the episode")
    pl.add_argument("--unselected", action="store_true",
                    help="timeline: also the actions of the unselected sub-policy (offline analysis)")
    pl.add_argument("--large-ckpt", type=Path, default=None,
                    help="scatter: the L-only checkpoint whose mean return scales performance to 1")
    pl.add_argument("--from-mcap", type=Path, default=None,
                    help="timeline: read selections and commands from a recording instead of evaluating")

    ex = sub.add_parser("export", help="ONNX models of a checkpoint and the JSON contract a runtime needs")
    ex.add_argument("run_dir", type=Path)
    ex.add_argument("--onnx", type=Path, required=True, help="output folder")

    rc = sub.add_parser("record", help="run the walker graph and record every topic to MCAP (ROS 2 profile)")
    rc.add_argument("--out", type=Path, required=True, help="the .mcap file to write")
    rc.add_argument("--episodes", type=_positive(int), default=1)
    rc.add_argument("--robot", default="walker")
    rc.add_argument("--real-time", action="store_true", help="real time instead of lockstep")
    rc.add_argument("--checkpoint-dir", default=None)
    rc.add_argument("--seed", type=_nonnegative_int, default=None)
    rc.add_argument("--timeout", type=_positive(float), default=600.0)

    sw = sub.add_parser("sweep", help="a grid of training runs on Ray: this machine's cores, or a cluster",
                        description="Train and evaluate every trial of tasks x modes x seeds x lambda x n_omega "
                                    "as Ray tasks of one CPU; one JSON per finished trial in --results; run "
                                    "again to continue an interrupted grid.")
    sw.add_argument("--tasks", required=True, help="comma-separated task names")
    sw.add_argument("--modes", default="asym,large,small", help="comma-separated: asym, large, small")
    sw.add_argument("--seeds", default="0-2", help="0,1,2 or 0-4 (default 0-2)")
    sw.add_argument("--steps", type=_positive(int), required=True, help="control steps per trial")
    sw.add_argument("--lambdas", default=None, help="comma-separated lambdas of the asym trials (default: the task's)")
    sw.add_argument("--n-omegas", default=None, help="comma-separated n_omega of the asym trials (default 5)")
    sw.add_argument("--asym-args", default="", metavar="FLAGS",
                    help="more `asym-control train` flags for the asym trials, as "
                         "--asym-args=\"--cost-free 100000 ...\"")
    sw.add_argument("--train-args", default="", metavar="FLAGS",
                    help="more `asym-control train` flags for every trial, as --train-args=\"...\"")
    sw.add_argument("--ablations", default="", metavar="NAMES",
                    help="comma-separated: no-cost (Table V), separate-buffers (Table VI); each adds a variant "
                         "of every asym trial with that flag")
    sw.add_argument("--results", type=Path, required=True, help="folder of the results (a small JSON per trial)")
    sw.add_argument("--work-dir", type=Path, default=Path("runs/sweep"),
                    help="run folders (checkpoints, buffers), on each node that runs a trial (default runs/sweep)")
    sw.add_argument("--address", default=None,
                    help="a running Ray cluster (the address `ray start --head` prints, or auto); default: "
                         "start Ray on this machine")
    sw.add_argument("--cpus", type=_positive(int), default=None, help="CPUs of the local Ray (default: all cores)")
    sw.add_argument("--eval-episodes", type=_positive(int), default=50)
    sw.add_argument("--eval-seed", type=_nonnegative_int, default=0)
    sw.add_argument("--dry-run", action="store_true", help="list the trials and whether each has a result, then stop")

    rp = sub.add_parser("report", help="Table III and Table IV's FLOPs beside the paper's, from a results folder")
    rp.add_argument("results", type=Path, help="a folder of result files (asym-control sweep --results)")
    rp.add_argument("--out", type=Path, default=Path("results.md"), help="the Markdown file (default results.md)")
    rp.add_argument("--figures", type=Path, default=None,
                    help="folder of the PNG figures (default: <out stem>-figures beside --out)")

    la = sub.add_parser("launch", help="run a robot's ROS 2 graph (config/<robot>.yaml) and summarise it")
    la.add_argument("robot", help="walker or arm")
    la.add_argument("--standin", action="store_true",
                    help="arm: the MuJoCo hardware stand-in instead of a real driver")
    la.add_argument("--latency", type=_nonnegative_float, default=None, help="stand-in: command latency (s)")
    la.add_argument("--jitter", type=_nonnegative_float, default=None, help="stand-in: + uniform [0, jitter] s")
    la.add_argument("--drop-rate", type=_nonnegative_float, default=None, help="stand-in: fraction of commands lost")
    la.add_argument("--noise", type=_nonnegative_float, default=None, help="stand-in: sensor noise std (rad)")
    la.add_argument("--episodes", type=_positive(int), default=1)
    mode = la.add_mutually_exclusive_group()
    mode.add_argument("--lockstep", dest="lockstep", action="store_true", default=None,
                      help="one control step per command (deterministic)")
    mode.add_argument("--real-time", dest="lockstep", action="store_false", help="fixed control rate")
    la.add_argument("--rate", type=_positive(float), default=None, help="real-time control rate in Hz (<= 1000)")
    la.add_argument("--checkpoint-dir", default=None, help="checkpoint for every node (default: the YAML's)")
    la.add_argument("--seed", type=_nonnegative_int, default=None, help="simulator seed (default: the YAML's)")
    la.add_argument("--precision", choices=RUNTIMES, default=None,
                    help="the sub-policies' actors: numpy (fp32), or fp32/fp16/int8 through onnxruntime "
                         "(default: the YAML's)")
    la.add_argument("--single-process", action="store_true",
                    help="all nodes in one process (one EventsExecutor; ASYM_EXECUTOR=multi for rclpy's "
                         "MultiThreadedExecutor)")
    la.add_argument("--record", type=Path, default=None, metavar="FILE.mcap",
                    help="also record every topic of the graph to this MCAP file (ROS 2 profile)")
    la.add_argument("--pin", action="append", default=None, metavar="NODES:CPUS",
                    help="run these nodes' processes on these CPUs only, e.g. --pin master,small,large:1 "
                         "--pin sim,cost_monitor:0 (repeatable; docs/benchmarks.md)")
    la.add_argument("--cpu-latency-us", type=_nonnegative_int, default=None, metavar="US",
                    help="while the graph runs, keep every CPU able to wake within US microseconds (Linux "
                         "PM QoS, /dev/cpu_dma_latency; 0: idle CPUs poll instead of halting; needs root)")
    la.add_argument("--use-sim-time", action="store_true",
                    help="every node but the simulator on the simulator's /clock (use_sim_time)")
    la.add_argument("--timeout", type=_positive(float), default=600.0, help="give up after this many seconds")
    la.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def cmd_plot(a) -> int:
    import dataclasses

    import numpy as np

    from asym_control.evaluation import plots
    from asym_control.training.checkpoint import load_policy
    from asym_control.evaluation.evaluate import evaluate

    written = []
    if a.kind == "timeline":
        cfg, policy = load_policy(a.run_dirs[0])
        if a.from_mcap is not None:
            from asym_control.evaluation.recording import read_episode
            options, actions = read_episode(a.from_mcap)
            unselected = None
            source = f"recording {a.from_mcap.name}"
        else:
            if a.episode_steps:
                cfg = dataclasses.replace(cfg, episode_steps=a.episode_steps)
            _, records = evaluate(cfg, policy, 1, a.seed, record=True)
            r = records[0]
            options, actions = r.options, r.actions
            unselected = plots.unselected_actions(policy, r.observations, r.options) if a.unselected else None
            source = f"evaluation, seed {a.seed}, return {r.ret:.1f}"
        title = (f"{cfg.task} [{cfg.mode}]: {100 * np.mean(options == 1):.1f}% of steps on large ({source})")
        written = plots.timeline(options, actions, cfg.spec.control_dt, title, a.out, unselected,
                                 list(cfg.spec.actuator_names) or None)
    elif a.kind == "scatter":
        cfg, policy = load_policy(a.run_dirs[0])
        result, _ = evaluate(cfg, policy, a.episodes, a.seed)
        per = [dict(e, flops_per_inference=policy.costs.per_step_of_mode(cfg.mode, e["large_fraction"]),
                    flops_large_only=policy.costs.large_flops)
               for e in result["per_episode"]]
        if a.large_ckpt is not None:
            lcfg, lpolicy = load_policy(a.large_ckpt, expect_task=cfg.task)
            l_only = evaluate(lcfg, lpolicy, a.episodes, a.seed)[0]["return_mean"]
        else:
            raise UserError("scatter needs --large-ckpt: the L-only run that scales performance to 1")
        rnd = plots.random_policy_return(cfg, max(3, a.episodes // 4), a.seed)
        title = f"{cfg.task}: {a.episodes} episodes of ours (random = 0, L-only {l_only:.0f} = 1)"
        written = plots.scatter(per, rnd, l_only, title, a.out)
    else:
        points = []
        for d in a.run_dirs:
            cfg, policy = load_policy(d)
            result, _ = evaluate(cfg, policy, a.episodes, a.seed)
            points.append(dict(result, cost_lambda=0.0 if cfg.no_cost else cfg.cost_lambda, steps=cfg.steps))
        if len({p["task"] for p in points}) > 1:
            raise UserError("sweep: all runs must be of one task")
        steps = sorted({p["steps"] for p in points})
        trained = f"{steps[0] // 1000}k steps each" if len(steps) == 1 else "steps differ"
        written = plots.sweep(points, f"{points[0]['task']}: lambda sweep, one run per lambda ({trained}), "
                                      f"{a.episodes} evaluation episodes each", a.out)
    for path in written:
        print(path)
    return 0


def cmd_export(a) -> int:
    from asym_control.deploy.export import export_onnx

    c = export_onnx(a.run_dir, a.onnx)
    files = sorted(p.name for p in Path(a.onnx).iterdir())
    print(f"{c['task']} [{c['mode']}] -> {a.onnx}: {', '.join(files)}")
    return 0


def cmd_record(a) -> int:
    import os

    from asym_control.deploy.launcher import format_summary, run_graph

    if a.out.suffix != ".mcap":
        raise UserError(f"--out must name a .mcap file, got {a.out}")
    os.environ.setdefault("ROS_DOMAIN_ID", "0")
    outcome = run_graph(a.robot, a.episodes, lockstep=not a.real_time, checkpoint_dir=a.checkpoint_dir,
                        seed=a.seed, timeout_s=a.timeout, record=a.out)
    print(format_summary(outcome))
    print(f"recorded to {a.out} (open with Foxglove, or `ros2 bag play {a.out}`)")
    return 0


def cmd_launch(a) -> int:
    from asym_control.deploy.launcher import main_launch, parse_pins

    if a.record is not None and a.record.suffix != ".mcap":
        raise UserError(f"--record must name a .mcap file, got {a.record}")
    faults = {k: v for k, v in (("latency_s", a.latency), ("jitter_s", a.jitter), ("drop_rate", a.drop_rate),
                                ("noise_std", a.noise)) if v is not None}
    if faults and not a.standin:
        raise UserError("--latency, --jitter, --drop-rate and --noise are the stand-in's: add --standin")
    if a.drop_rate is not None and a.drop_rate >= 1:
        raise UserError(f"--drop-rate must be below 1, got {a.drop_rate}")
    extra = {"standin": faults} if faults else {}
    if a.precision is not None:
        extra.update({option: {"precision": a.precision} for option in ("small", "large")})
    return main_launch(a.robot, a.episodes, a.lockstep, a.json, a.single_process, a.checkpoint_dir,
                       a.rate, a.seed, a.timeout, record=a.record, standin=a.standin,
                       extra=extra or None, pins=parse_pins(a.pin),
                       cpu_latency_us=a.cpu_latency_us, sim_time=a.use_sim_time)


def train_config(a):
    """Build the TrainConfig of parsed `asym-control train` arguments (also each sweep trial's)."""
    from asym_control.training.config import TrainConfig, schedule_settings
    from asym_control.learning.settings import DQNConfig, SACConfig

    sched = schedule_settings(a.schedule, a.steps, a.n_omega, a.master_batch, cost_free_steps=a.cost_free,
                              cost_warmup_steps=a.cost_warmup, exploration_steps=a.exploration_steps,
                              exploration_hold=a.exploration_hold, master_buffer=a.master_buffer)
    sub = {field: value for field, value in (("gamma", a.gamma), ("lr", a.lr), ("tau", a.tau),
                                             ("random_actions", a.random_actions)) if value is not None}
    if a.normalize_obs:
        sub["normalize_obs"] = True
    # the master's settings given on the command line; --master-gamma in place of --gamma's
    master = {field: value for field, value in (
        ("buffer_size", sched["master_buffer"]), ("gamma", a.gamma if a.master_gamma is None else a.master_gamma),
        ("target_update_interval", a.master_target_update), ("batch_size", a.master_batch),
        ("gradient_steps", a.master_gradient_steps)) if value is not None}
    return TrainConfig(task=a.task, mode=a.mode, seed=a.seed, steps=a.steps, n_omega=a.n_omega,
                       sac=SACConfig(critic_units=a.critic_units, noise_rho=a.noise_rho, **sub),
                       dqn=DQNConfig(exploration_steps=sched["exploration_steps"],
                                     exploration_unit=a.exploration_unit,
                                     exploration_hold=sched["exploration_hold"], train_freq_unit=a.master_train_freq,
                                     dueling=a.master_dueling, **master),
                       cost_lambda=a.cost_lambda, small_units=a.small, large_units=a.large,
                       no_cost=a.no_cost, separate_buffers=a.separate_buffers, her_goals=a.her_goals,
                       fit_gate=a.fit_gate, fit_gate_loss=a.fit_gate_loss,
                       cost_warmup_steps=sched["cost_warmup_steps"], cost_free_steps=sched["cost_free_steps"],
                       schedule=a.schedule,
                       checkpoint_every=a.checkpoint_every, learning_starts=a.learning_starts,
                       episode_steps=a.episode_steps, parallel=not a.single_process,
                       eval_every=a.eval_every, eval_episodes=a.eval_episodes)


def cmd_train(a) -> int:
    from asym_control.training.config import ConfigError
    from asym_control.training.train import prepare_run_dir, train

    if a.seeds is not None:
        from asym_control.experiments.grid import parse_seeds
        from asym_control.training.seeds import train_seeds

        train_config(a)                  # the settings are checked once, before any child starts
        seeds = parse_seeds(a.seeds)
        outcome = train_seeds(a.raw_argv[1:], seeds, a.out, a.steps)
        print(json.dumps(outcome))
        return 1 if outcome["failed"] else 0
    if a.actors is not None:
        return _train_actor_learner(a)
    actor_flags = [f for f, v in (("--actor-precision", a.actor_precision), ("--sync-every", a.sync_every),
                                  ("--weights-comm", a.weights_comm), ("--update-ratio", a.update_ratio),
                                  ("--address", a.address), ("--stop-at-return", a.stop_at_return)) if v is not None]
    if actor_flags:
        raise ConfigError(f"{', '.join(actor_flags)}: only with --actors N (the actor-learner mode)")
    cfg = prepare_run_dir(a.out, train_config(a), a.resume)
    _record_invocation(a.out, argv=sys.argv)
    summary = train(cfg, a.out, resume=a.resume, progress=not a.no_progress)
    print(json.dumps(summary))
    return 0


def _train_actor_learner(a) -> int:
    import inspect

    from asym_control.training.actors import check_settings, train_actor_learner
    from asym_control.training.config import ConfigError
    from asym_control.training.train import prepare_run_dir

    if a.resume:
        raise ConfigError("--resume: the actor-learner mode does not resume (the actors' episodes in flight are "
                          "not in a checkpoint); start a new run, or resume it without --actors")
    # the flags not given take train_actor_learner's defaults
    defaults = {k: p.default for k, p in inspect.signature(train_actor_learner).parameters.items()}
    given = {"precision": a.actor_precision, "sync_every": a.sync_every, "comm": a.weights_comm,
             "update_ratio": a.update_ratio}
    settings = {k: defaults[k] if v is None else v for k, v in given.items()}
    cfg = train_config(a)
    check_settings(cfg, a.actors, **settings)
    if a.address is not None:
        from asym_control.raynodes import check_address
        check_address(a.address)          # before the run folder is made
    cfg = prepare_run_dir(a.out, cfg, resume=False)
    _record_invocation(a.out, argv=sys.argv)
    summary = train_actor_learner(cfg, a.out, actors=a.actors, address=a.address, stop_at_return=a.stop_at_return,
                                  progress=not a.no_progress, **settings)
    print(json.dumps(summary))
    return 0


def cmd_sweep(a) -> int:
    import shlex

    from asym_control.experiments.grid import GridError, expand, parse_seeds
    from asym_control.experiments.results import finished_names
    from asym_control.experiments.sweep import sweep

    def numbers(text, kind, name):
        if text is None:
            return [None]
        try:
            values = [kind(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise GridError(f"{name}: expected comma-separated numbers, got {text!r}") from None
        if not values or any(not (v >= 0) for v in values) or (kind is int and any(v < 1 for v in values)):
            raise GridError(f"{name}: expected numbers {'>= 1' if kind is int else '>= 0'}, got {text!r}")
        return values

    asym_args, common_args = shlex.split(a.asym_args), shlex.split(a.train_args)
    parser = build_parser()
    for extra in (asym_args, common_args):   # a typo in the flags fails here, not in every trial
        try:
            train_config(parser.parse_args(["train", "--task", "walker-stand", "--steps", "1", "--out", "x",
                                            *extra]))
        except SystemExit:
            raise GridError(f"not valid `asym-control train` flags: {' '.join(extra)!r}") from None
    trials = expand([t for t in a.tasks.split(",") if t], [m for m in a.modes.split(",") if m],
                    parse_seeds(a.seeds), a.steps, numbers(a.lambdas, float, "--lambdas"),
                    numbers(a.n_omegas, int, "--n-omegas"), asym_args, common_args,
                    [x for x in a.ablations.split(",") if x])
    if a.dry_run:
        finished = finished_names(a.results)
        for t in trials:
            state = "done" if t.name in finished else "to run"
            print(f"{t.name}  [{state}]  asym-control train {' '.join(t.train_argv(a.work_dir / t.name))}")
        return 0
    try:
        outcome = sweep(trials, a.results, a.work_dir, address=a.address, num_cpus=a.cpus,
                        eval_episodes=a.eval_episodes, eval_seed=a.eval_seed)
    except KeyboardInterrupt:
        print("asym-control sweep: interrupted; the finished trials' results are written, run the same "
              "command again to do the rest", file=sys.stderr)
        return 130
    if outcome["failed"]:
        print(f"asym-control sweep: {len(outcome['failed'])} trial(s) failed (see their .failed.txt in "
              f"{a.results}): {', '.join(outcome['failed'])}", file=sys.stderr)
        return 1
    return 0


def cmd_report(a) -> int:
    from asym_control.experiments.report import report

    report(a.results, a.out, a.figures)
    print(f"wrote {a.out}")
    return 0


def source_commit() -> str | None:
    """Return the git commit of the package's source, or None outside a checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _record_invocation(run_dir: Path, argv: list[str]) -> None:
    """Append the command line and the source commit to run_dir/invocations.jsonl (provenance)."""
    import datetime

    commit = source_commit()
    run_dir.mkdir(parents=True, exist_ok=True)
    entry = {"command": " ".join(["asym-control"] + argv[1:]), "commit": commit,
             "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with open(run_dir / "invocations.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def cmd_eval(a) -> int:
    from asym_control.training.checkpoint import load_policy
    from asym_control.evaluation.evaluate import evaluate

    cfg, policy = load_policy(a.run_dir, expect_task=a.task)
    if a.precision != "numpy":
        from asym_control.deploy.quantized import quantized
        policy = quantized(policy, a.precision)
    result, _ = evaluate(cfg, policy, a.episodes, a.seed)
    result["precision"] = a.precision
    if cfg.spec.note:
        result["note"] = cfg.spec.note
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{cfg.task} [{cfg.mode}] over {a.episodes} episodes (seed {a.seed}), actors {a.precision}:")
        print(f"  return              {result['return_mean']:.1f} +- {result['return_std']:.1f}")
        if "success_rate" in result:     # a reaching or goal task: its metric
            print(f"  success             {result['success_rate']:.3f} (final distance to the goal "
                  f"{result['final_distance']:.3f} m on average)")
        print(f"  on large            {100 * result['large_fraction']:.1f}% of control steps")
        print(f"  FLOPs / inference   {result['flops_per_inference']:.0f} "
              f"(L-only {result['flops_large_only']})")
        print(f"  FLOPs reduction     {100 * result['flops_reduction']:.1f}% vs L-only")
        print(f"  ({result['flops_convention']})")
        if cfg.spec.note:
            print(f"  note: {cfg.spec.note}")
    return 0


def cmd_fit_gate(a) -> int:
    from asym_control.asym.gate_fit import GateFitConfig, fit_run
    from asym_control.training.checkpoint import POLICY_FILE

    if a.out.resolve() == a.run_dir.resolve():
        raise UserError("--out must name another folder than RUN (the trained policy stays as it is; "
                        "train --fit-gate fits in place)")
    if (a.out / POLICY_FILE).exists():
        raise UserError(f"{a.out} already holds a policy; remove it or choose another --out")
    given = {"rounds": a.rounds, "labels": a.labels, "horizon": a.horizon, "updates": a.updates, "seed": a.seed,
             "tail": False if a.no_tail else None, "loss": a.loss, "validate": a.validate}
    fc = GateFitConfig(**{k: v for k, v in given.items() if v is not None})   # the rest: train --fit-gate's
    record = fit_run(a.run_dir, a.out, fc, log=_print_gate_round, command="asym-control " + " ".join(a.raw_argv))
    if record["validation"] is not None:
        for c in record["validation"]["candidates"]:
            print(f"validation, {c['candidate']}: {c['episodes']} episodes, return {c['return_mean']:.2f}, "
                  f"{100 * c['large_fraction']:.1f}% on large, objective {c['objective']:.3f}")
        print(f"kept: the {record['validation']['chosen']}")
    print(f"wrote {a.out} (evaluate it with: asym-control eval {a.out} --episodes 50)")
    return 0


def _print_gate_round(row: dict) -> None:
    agree = row.get("held_out_choice_agreement")
    print(f"round {row['round']}: {row['episodes']} episodes under the {row['labelled_under']}: return "
          f"{row['return_mean']:.1f}, {100 * row['large_fraction']:.1f}% on large; large pays on "
          f"{100 * row['labels_large_pays']:.1f}% of its states; fit on {row['labels']} labels"
          + (f", held-out agreement {agree:.3f}" if agree is not None else ""), flush=True)


def cmd_flops(a) -> int:
    from asym_control.flops import cost_table
    from asym_control.tasks.registry import get_task

    spec = get_task(a.task)
    table = cost_table(spec.obs_dim, spec.act_dim, a.small or spec.small_units,
                       a.large or spec.large_units, a.n_omega)
    d = table.as_dict()
    d.update(task=spec.name, obs_dim=spec.obs_dim, act_dim=spec.act_dim,
             small_units=a.small or spec.small_units, large_units=a.large or spec.large_units)
    if spec.note:
        d["note"] = spec.note
    if a.match is not None:
        d["matched"] = _matched(a, spec.name)
    elif a.match_args is not None or a.match_steps is not None:
        raise UserError("--match-args and --match-steps choose among the results of --match")
    print(json.dumps(d))
    return 0


def cmd_distill(a) -> int:
    from asym_control.a2d.distillation import DistillConfig
    from asym_control.baselines.distill import distill
    from asym_control.baselines.imitation import BCConfig, GAILConfig
    from asym_control.training.checkpoint import load_config

    if (a.width is None) == (a.match is None):
        raise UserError("give the student's width: --width N, or --match RESULTS_DIR (the agent's average FLOPs)")
    task = load_config(a.teacher).task
    width = a.width if a.width is not None else _matched(a, task)["width"]
    command = " ".join(["asym-control"] + [shlex.quote(x) for x in a.raw_argv])
    summary = distill(a.teacher, a.method, width, a.out, seed=a.seed, trajectories=a.trajectories,
                      length=a.length, bc=BCConfig(updates=a.updates),
                      gail=GAILConfig(steps=a.steps, disc_every=a.disc_every),
                      eval_episodes=a.eval_episodes, eval_every=a.eval_every, command=command,
                      a2d_steps=a.steps, a2d=DistillConfig(actor_coef=a.kl_coef, critic_coef=a.q_coef))
    if a.results is not None:
        from asym_control.experiments.results import collect_distilled
        result = collect_distilled(a.out)
        a.results.mkdir(parents=True, exist_ok=True)
        (a.results / f"{result['name']}.json").write_text(json.dumps(result, indent=1) + "\n")
    e = summary["eval"]
    print(json.dumps(summary) if a.json else
          f"{a.method} student of {task}, width {width} ({summary['flops_per_inference']} FLOPs/inference): "
          f"return {e['return_mean']:.1f} +- {e['return_std']:.1f} over {e['episodes']} episodes -> {a.out}")
    return 0


def cmd_search(a) -> int:
    from asym_control.a2d.distillation import load_teacher
    from asym_control.a2d.search import SearchConfig, search
    from asym_control.baselines.distill import distill

    try:
        widths = tuple(int(w) for w in a.widths.split(",") if w.strip())
    except ValueError:
        raise UserError(f"--widths: expected comma-separated integers, got {a.widths!r}") from None
    # the critics are needed only to distil afterwards: a teacher without them is refused before the search
    cfg, teacher = load_teacher(a.teacher, need_critic=bool(a.steps) and a.method == "a2d")
    config = SearchConfig(widths=widths, flops_lambda=a.flops_lambda, flops_budget=a.flops_budget,
                          states=a.states, updates=a.search_updates)
    if a.out.exists() and any(a.out.iterdir()):
        raise UserError(f"{a.out} is not empty: choose another --out")
    found = search(cfg, teacher, config, seed=a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["asym-control"] + [shlex.quote(x) for x in a.raw_argv])
    found.update(task=cfg.task, teacher=str(a.teacher), command=command)
    (a.out / "search.json").write_text(json.dumps(found, indent=2) + "\n")
    width = found["chosen_width"]
    ratio = found["teacher_flops"] / found["chosen_flops"]
    line = (f"{cfg.task}: width {width} ({found['chosen_flops']:,} FLOPs per inference, {ratio:.2f}x fewer than the "
            f"teacher's {found['teacher_flops']:,})")
    if a.steps:
        student = a.out / "student"
        summary = distill(a.teacher, a.method, width, student, seed=a.seed, a2d_steps=a.steps,
                          eval_episodes=a.eval_episodes, command=command)
        found["student"] = {"run": str(student), "method": a.method, "steps": a.steps, "eval": summary["eval"]}
        (a.out / "search.json").write_text(json.dumps(found, indent=2) + "\n")
        if a.results is not None:
            from asym_control.experiments.results import collect_distilled
            result = collect_distilled(student)
            a.results.mkdir(parents=True, exist_ok=True)
            (a.results / f"{result['name']}.json").write_text(json.dumps(result, indent=1) + "\n")
        e = summary["eval"]
        line += f"; distilled ({a.method}, {a.steps:,} steps): return {e['return_mean']:.1f} +- {e['return_std']:.1f}"
    print(json.dumps(found) if a.json else
          f"{line}\n  the agent with it: asym-control train --task {cfg.task} --mode asym --small {width} (or --large "
          f"{width}) ...")
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*DISPLAY.*")  # glfw, imported by the MuJoCo envs
    parser = build_parser()
    a = parser.parse_args(argv)
    a.raw_argv = list(sys.argv[1:] if argv is None else argv)
    from asym_control.training.checkpoint import CheckpointError
    from asym_control.training.config import ConfigError
    from asym_control.flops import SizeError
    from asym_control.deploy.graph import GraphConfigError
    from asym_control.deploy.launcher import GraphError
    from asym_control.evaluation.recording import RecordingError
    from asym_control.tasks.registry import UnknownTask
    from asym_control.experiments.grid import GridError
    from asym_control.experiments.results import ResultError
    from asym_control.baselines.matched import MatchError
    from asym_control.baselines.imitation import ImitationError
    from asym_control.a2d.search import SearchError
    from asym_control.asym.gate_fit import GateFitError
    from asym_control.raynodes import RayAddressError

    user_errors = (UnknownTask, CheckpointError, UserError, ConfigError, SizeError, GraphConfigError,
                   GraphError, RecordingError, GridError, ResultError, MatchError, ImitationError, SearchError,
                   RayAddressError, GateFitError)
    try:
        return {"train": cmd_train, "eval": cmd_eval, "flops": cmd_flops, "launch": cmd_launch,
                "plot": cmd_plot, "record": cmd_record, "export": cmd_export, "sweep": cmd_sweep,
                "report": cmd_report, "distill": cmd_distill, "search": cmd_search,
                "fit-gate": cmd_fit_gate}[a.command](a)
    except user_errors as e:
        print(f"asym-control {a.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"asym-control {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
