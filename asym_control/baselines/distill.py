"""
`asym-control distill`: a teacher's demonstrations into a student actor, saved as a run folder.

The student is saved as an L-only policy of its width (mode large, large_units = the width), so
that `asym-control eval`, the nodes and the export take it as they take any trained run;
distill.json beside it says how it was made (method, teacher, demonstrations, settings, wall
time) and its final evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from asym_control.baselines.imitation import (BCConfig, Discriminator, GAILConfig, collect_demonstrations, train_bc,
                                              train_gail)
from asym_control.flops import actor_flops

METHODS = ("bc", "gail", "a2d", "a2d-actor")
DEMO_SEED_OFFSET = 10_000   # the teacher's episodes are not the evaluation's (seed 0 upwards)


def distill(teacher_dir: Path, method: str, width: int, out: Path, seed: int = 0, trajectories: int = 25,
            length: int = 50, bc: BCConfig = BCConfig(), gail: GAILConfig = GAILConfig(),
            eval_episodes: int = 50, eval_every: int = 10_000, command: str | None = None,
            a2d_steps: int = 300_000, a2d=None) -> dict:
    """
    Distil the policy in `teacher_dir` into an actor of `width` by `method`; return distill.json.

    bc and gail learn from the teacher's demonstrations; a2d (actor KL + critic MSE) and a2d-actor
    (KL only) train a student SAC on the task for `a2d_steps` with the teacher's terms added
    (a2d.distillation; `a2d` a DistillConfig), the teacher queried on the student's own states.
    """
    if method in ("a2d", "a2d-actor"):
        return _distill_a2d(teacher_dir, method, width, out, seed, a2d_steps, a2d, eval_episodes, eval_every,
                            command)
    from asym_control.asym.policy import AsymPolicy
    from asym_control.evaluation.evaluate import evaluate
    from asym_control.learning.policies import SquashedGaussianActor
    from asym_control.learning.sac import SAC
    from asym_control.training.checkpoint import load_policy, save_policy
    from asym_control.training.config import TrainConfig

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    t_cfg, t_policy = load_policy(teacher_dir)
    t0 = time.perf_counter()
    demos = collect_demonstrations(t_cfg, t_policy, trajectories, length, seed=DEMO_SEED_OFFSET + seed)
    demo_s = time.perf_counter() - t0
    steps = bc.updates if method == "bc" else gail.steps
    cfg = TrainConfig(task=t_cfg.task, mode="large", seed=seed, steps=steps, large_units=width,
                      episode_steps=t_cfg.episode_steps)
    spec = cfg.spec
    init, learn, disc_init = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    evals_path = out / "evals.jsonl"
    evals_path.write_text("")
    t1 = time.perf_counter()
    if method == "bc":
        actor = SquashedGaussianActor(spec.obs_dim, spec.act_dim, width, cfg.sac.activation, init)
        losses = train_bc(demos, actor, bc, learn)
        tensors = actor.net.state("large.actor")
        extra = {"bc": dataclasses.asdict(bc), "loss_first": losses[0], "loss_last": losses[-1]}
    else:
        sac = SAC(spec.obs_dim, spec.act_dim, dataclasses.replace(cfg.sac, units=width), init)
        disc = Discriminator(spec.obs_dim, spec.act_dim, gail.disc_units, gail.disc_lr, disc_init)

        def on_step(step):
            if eval_every and step % eval_every == 0:
                policy = AsymPolicy(cfg)
                policy.load_tensors(sac.state("large", with_training=False))
                ev, _ = evaluate(cfg, policy, 5, seed=1_000_000 + step)
                with open(evals_path, "a") as f:
                    f.write(json.dumps({"step": step, "return_mean": ev["return_mean"], "return_std": ev["return_std"],
                                        "wall_time_s": round(time.perf_counter() - t1, 1)}) + "\n")
        stats = train_gail(spec.make_env(seed=seed, episode_steps=cfg.episode_steps), demos, sac, disc, gail,
                           learn, on_step=on_step)
        tensors = sac.state("large", with_training=False)
        r = stats["episode_returns"]
        extra = {"gail": dataclasses.asdict(gail), "disc_loss_last": stats.get("disc_loss"),
                 "task_return_last_10_episodes": float(np.mean(r[-10:])) if r else None}
    train_s = time.perf_counter() - t1
    save_policy(out, cfg, tensors)
    demonstrations = {"trajectories": demos.trajectories, "length": demos.length,
                      "pairs": int(demos.obs.shape[0]), "seed": DEMO_SEED_OFFSET + seed}
    return _evaluate_and_write(out, cfg, t_cfg, teacher_dir, method, width, steps, train_s, command, eval_episodes,
                               {"demonstration_returns": demos.teacher_returns},
                               {"demonstrations": demonstrations, "demo_wall_time_s": round(demo_s, 1), **extra})


def _evaluate_and_write(out, cfg, t_cfg, teacher_dir, method, width, steps, train_s, command, eval_episodes,
                        teacher_extra: dict, extra: dict) -> dict:
    """Evaluate the student saved in `out` and write its distill.json (every method's fields, then its own)."""
    from asym_control.evaluation.evaluate import evaluate
    from asym_control.training.checkpoint import load_policy

    _, policy = load_policy(out)
    result, _ = evaluate(cfg, policy, eval_episodes, seed=0)
    result.pop("per_episode", None)
    spec = cfg.spec
    summary = {
        "method": method, "task": cfg.task, "width": width, "seed": cfg.seed,
        "flops_per_inference": actor_flops(spec.obs_dim, spec.act_dim, width),
        "teacher": {"run": str(teacher_dir), "mode": t_cfg.mode, "large_units": t_cfg.large_units, **teacher_extra},
        "steps": steps, "train_wall_time_s": round(train_s, 1), "command": command, "eval": result, **extra,
    }
    (Path(out) / "distill.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _distill_a2d(teacher_dir, method, width, out, seed, steps, config, eval_episodes, eval_every, command) -> dict:
    from asym_control.a2d.distillation import DistillConfig, Distillation, load_teacher
    from asym_control.training.config import TrainConfig
    from asym_control.training.train import prepare_run_dir, train

    config = config or DistillConfig()
    if method == "a2d-actor":
        config = dataclasses.replace(config, critic_coef=0.0)
    t_cfg, teacher = load_teacher(teacher_dir, need_critic=config.critic_coef > 0)
    cfg = TrainConfig(task=t_cfg.task, mode="large", seed=seed, steps=steps, large_units=width,
                      episode_steps=t_cfg.episode_steps, eval_every=eval_every)
    out = Path(out)
    cfg = prepare_run_dir(out, cfg, resume=False)
    t1 = time.perf_counter()
    summary_train = train(cfg, out, progress=False, distill=Distillation(teacher, config))
    train_s = time.perf_counter() - t1
    return _evaluate_and_write(out, cfg, t_cfg, teacher_dir, method, width, steps, train_s, command, eval_episodes,
                               {}, {"distillation": dataclasses.asdict(config),
                                    "recent_return": summary_train["recent_return"]})
