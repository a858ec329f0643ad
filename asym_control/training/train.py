"""
Training loop: MuJoCo in the loop, one gradient step per learner per control step.

Checkpoints are written at the first episode end after every `checkpoint_every` steps, so that
a run resumed from one restarts exactly where the uninterrupted run would have been: the next
episode, with every random stream, optimiser and buffer restored (bit-identical continuation).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from asym_control.asym.agent import LARGE, AsymAgent
from asym_control.learning.buffers import MacroStep
from asym_control.training.checkpoint import (CONFIG_FILE, CheckpointError, load_config, load_training, save_policy,
                                              save_training)
from asym_control.training.config import TrainConfig


class Recorder:
    """Metrics go through here; where they end up (TensorBoard, progress bar) is decided once."""

    def __init__(self, run_dir: Path | None, progress: bool, total: int, start: int):
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.writer = None
        if run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start)
        self.bar = None
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, smoothing=0.05)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def updated(self, step: int, agent, metrics: dict[str, float]) -> None:
        """Record the learners' metrics of a gradient step, with the master's schedules at `step`."""
        metrics["train/epsilon"] = agent.epsilon(step)
        metrics["train/lambda"] = agent.cost_lambda(step)
        self.scalars(step, metrics)

    def evaluated(self, step: int, result: dict) -> None:
        """Record an evaluation (TensorBoard and the run's evals.jsonl)."""
        self.scalars(step, {"eval/return": result["return_mean"], "eval/large_fraction": result["large_fraction"],
                            "eval/flops_reduction": result["flops_reduction"]})
        if self.run_dir is not None:
            with open(self.run_dir / "evals.jsonl", "a") as f:
                f.write(json.dumps(result) + "\n")

    def progress(self, n: int, postfix: dict) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.bar is not None:
            self.bar.close()


def train(cfg: TrainConfig, run_dir: Path | None, resume: bool = False, progress: bool = True,
          trace: list | None = None, stop_after: int | None = None, distill=None) -> dict:
    """
    Train `cfg` into `run_dir`.

    `trace`, if given, receives (step, option, action, reward).

    `stop_after` ends the loop early after that many steps in total (used to test resumption
    without killing a process); checkpoints are still only written at episode ends.

    `distill` (an a2d.distillation.Distillation, mode large only): the teacher's terms are added
    to the sub-policy's SAC losses (a distilled student).
    """
    from threadpoolctl import threadpool_limits

    if cfg.fit_gate:
        from asym_control.asym.gate_fit import check_fittable
        check_fittable(cfg)               # before the training, not after it
    with threadpool_limits(1):  # tiny matrices: one BLAS thread each is fastest (and deterministic)
        return _train(cfg, run_dir, resume, progress, trace, stop_after, distill)


def _fit_gate_in_place(cfg: TrainConfig, run_dir: Path, agent: AsymAgent, progress: bool) -> None:
    """Refit the master from paired branches (train --fit-gate), with the large critic as trained."""
    from asym_control.asym.gate_fit import TRAIN_FIT, critic_of, fit_run

    def log(row):
        if progress:
            print(f"fit-gate round {row['round']}: {row['labels']} labels, held-out agreement "
                  f"{row.get('held_out_choice_agreement', float('nan')):.3f}", file=sys.stderr, flush=True)
    critic = critic_of(cfg, agent.sub_state(LARGE))
    fc = dataclasses.replace(TRAIN_FIT, loss=cfg.fit_gate_loss)
    fit_run(run_dir, run_dir, fc, log=log, command="asym-control train --fit-gate (after training)",
            critic=(critic, cfg.steps))


def _train(cfg, run_dir, resume, progress, trace, stop_after, distill):
    spec = cfg.spec
    agent = AsymAgent(cfg)
    if distill is not None:
        if cfg.mode != "large":
            raise ValueError("a distilled student trains in mode large (one SAC)")
        if cfg.sac.normalize_obs:
            raise ValueError("a distilled student's teacher terms take raw observations: no normalize_obs")
        agent.subs[LARGE].distill = distill
    env = spec.make_env(seed=int(np.random.SeedSequence(cfg.seed).generate_state(1)[0]),
                        episode_steps=cfg.episode_steps)
    step, episodes, wall_before = 0, 0, 0.0
    returns = collections.deque(maxlen=10)
    large_fracs = collections.deque(maxlen=10)
    if run_dir is not None:
        run_dir = Path(run_dir)
        if resume:
            tensors, state = load_training(run_dir)
            agent.load_training_tensors(tensors)
            agent.set_rng_states(state["agent_rng"])
            env.set_rng_state(state["env_rng"])
            step, episodes, wall_before = state["step"], state["episodes"], state["wall_time_s"]
            returns.extend(state["recent_returns"])
            large_fracs.extend(state["recent_large_fractions"])
        save_policy(run_dir, cfg, agent.policy_tensors())
    agent.start_parallel()  # fork before any thread (TensorBoard, progress bar) exists

    rec = Recorder(run_dir, progress, cfg.steps, step)
    t_start = time.perf_counter()
    last_ckpt = last_eval = step
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    try:
        while step < end:
            # one episode
            obs = env.reset()
            agent.begin_episode(step)
            ep_return, ep_large, ep_len = 0.0, 0, 0
            macro = None
            t_ep = time.perf_counter()
            done = False
            while not done and step < end:
                if macro is None:  # the master chooses at the start of every macro step
                    macro = MacroStep(obs, agent.select(obs, step), start=step)
                option = macro.option
                action = agent.act(option, obs, step)
                next_obs, reward, terminated, truncated = env.step(action)
                agent.store(option, obs, action, reward, next_obs, terminated)
                macro.add(reward)
                done = terminated or truncated
                if done:
                    agent.end_episode()
                if macro.length == cfg.n_omega or done:
                    agent.store_macro(macro, next_obs, terminated)
                    macro = None
                if trace is not None:
                    trace.append((step, option, action.copy(), reward))
                obs = next_obs  # easy to get wrong: after storing, before the next action
                ep_return += reward
                ep_large += option == LARGE
                ep_len += 1
                step += 1
                if step > cfg.learning_starts:
                    metrics = agent.update(step, want_metrics=step % 1000 == 0)
                    if step % 1000 == 0:
                        rec.updated(step, agent, metrics)
                if step % 100 == 0:
                    rec.progress(100, _postfix(returns, large_fracs, t_start, step, last_ckpt, cfg))
            if not done:
                break  # stopped inside an episode: nothing more is recorded
            episodes += 1
            returns.append(ep_return)
            large_fracs.append(ep_large / ep_len)
            rec.scalars(step, {"episode/return": ep_return, "episode/large_fraction": ep_large / ep_len,
                               "episode/steps_per_s": ep_len / (time.perf_counter() - t_ep)})
            if cfg.eval_every and (step - last_eval >= cfg.eval_every or step >= cfg.steps):
                last_eval = step
                result = _evaluate_now(cfg, agent)
                result.update(step=step, wall_time_s=round(wall_before + time.perf_counter() - t_start, 1))
                rec.evaluated(step, result)
            if run_dir is not None and (step - last_ckpt >= cfg.checkpoint_every or step >= cfg.steps):
                save_policy(run_dir, cfg, agent.policy_tensors())
                save_training(run_dir, step, agent.training_tensors(), {
                    "step": step, "episodes": episodes, "agent_rng": agent.rng_states(),
                    "env_rng": env.rng_state(), "recent_returns": list(returns),
                    "recent_large_fractions": list(large_fracs),
                    "wall_time_s": wall_before + time.perf_counter() - t_start})
                last_ckpt = step
        if run_dir is not None and step >= cfg.steps and step > last_ckpt:
            # the run ended inside an episode (no checkpoint there): its policy is still the last steps'
            save_policy(run_dir, cfg, agent.policy_tensors())
        if cfg.fit_gate and run_dir is not None and step >= cfg.steps:
            _fit_gate_in_place(cfg, run_dir, agent, progress)
    finally:
        agent.close()
        rec.close()
    wall = wall_before + time.perf_counter() - t_start
    summary = {"task": cfg.task, "mode": cfg.mode, "seed": cfg.seed, "steps": step, "episodes": episodes,
               "wall_time_s": round(wall, 1),
               "recent_return": float(np.mean(returns)) if returns else None,
               "recent_large_fraction": float(np.mean(large_fracs)) if large_fracs else None}
    if run_dir is not None and step >= cfg.steps:
        (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _evaluate_now(cfg: TrainConfig, agent: AsymAgent) -> dict:
    """Deterministic evaluation on its own environment (seeded apart from training's)."""
    from asym_control.asym.policy import AsymPolicy
    from asym_control.evaluation.evaluate import evaluate

    policy = AsymPolicy(cfg)
    policy.load_tensors(agent.policy_tensors())
    result, _ = evaluate(cfg, policy, cfg.eval_episodes, seed=10_000 + cfg.seed)
    del result["per_episode"], result["flops_convention"]
    if cfg.mode == "asym":
        # each sub-policy alone on the same episodes: shows whether the master's choice follows
        # what the sub-policies can do (a large sub-policy that is never selected learns only
        # from the small one's data, and may never become worth its cost)
        for option, name in ((0, "small"), (1, "large")):
            alone, _ = evaluate(cfg, policy.forced(option), cfg.eval_episodes, seed=10_000 + cfg.seed)
            result[f"{name}_alone_return"] = alone["return_mean"]
    return result


def _postfix(returns, large_fracs, t_start, step, last_ckpt, cfg):
    return {"ret": f"{np.mean(returns):.1f}" if returns else "-",
            "large": f"{100 * np.mean(large_fracs):.0f}%" if large_fracs and cfg.mode == "asym" else "-"}


def prepare_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> TrainConfig:
    """Check that `run_dir` fits the request; on --resume the saved config wins (steps may grow)."""
    run_dir = Path(run_dir)
    exists = (run_dir / CONFIG_FILE).is_file()
    if resume:
        if not exists:
            raise CheckpointError(f"nothing to resume in {run_dir}: no {CONFIG_FILE}")
        saved = load_config(run_dir)
        for key in ("task", "mode", "seed"):
            if getattr(saved, key) != getattr(cfg, key):
                raise CheckpointError(f"{run_dir} holds a run with {key}={getattr(saved, key)!r}, "
                                      f"not {getattr(cfg, key)!r}")
        if cfg.steps != saved.steps:
            d = saved.to_dict()
            d["steps"] = cfg.steps
            saved = TrainConfig.from_dict(d)
        return saved
    if exists:
        raise CheckpointError(f"{run_dir} already holds a run; pass --resume to continue it, "
                              "or choose another --out")
    return cfg
