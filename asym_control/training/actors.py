"""
Actor-learner training on Ray, ActorQ's scheme: actors at a chosen precision gather experience, one fp32 learner trains.

`asym-control train --actors N [--actor-precision fp32|fp16|int8] [--sync-every K]
[--weights-comm fp32|fp16|int8] [--address ADDR]`:

- N Ray actors (one CPU each) step their own environments with the master and both sub-policies
  (the training behaviour: epsilon-greedy master, SAC's sampled actions; asym.explore), on their
  own copies of the networks at the actors' precision (fp32: the NumPy networks the
  single-process trainer uses; fp16 and int8: onnxruntime graphs, deploy.quantized).
- Each actor runs K control steps with the weights it was given, then hands its transitions and
  macro transitions to the learner (asynchronous push: the learner takes whichever actor is done
  first) and receives the learner's newest weights with its next K steps (synchronous pull every
  K actor steps), at the communication precision (fp32, fp16, or int8 in blocks with one scale).
- The learner (this process) is the single-process trainer's agent, in fp32: the shared replay
  buffer, both SAC learners (the large one in its own process as usual), the master's DQN and its
  macro buffer. It makes one gradient step per learner per control step received (the paper's
  train frequency; `update_ratio` changes it), while the actors gather the next steps.

Differences from the single-process trainer, by construction: experience comes from weights up
to one K-step chunk per actor old, so runs are not bit-identical to it, and there is no
`--resume` (the actors' episodes in flight are not part of a checkpoint). The policy is saved at
every checkpoint interval and at the end, as `asym-control eval` reads it. Goal-conditioned
(HER) tasks run with one actor only: hindsight relabelling needs each episode's transitions
contiguous in the buffer.
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path

import numpy as np

from asym_control.asym.agent import LARGE, AsymAgent
from asym_control.asym.explore import Explorer
from asym_control.deploy.quantized import PRECISIONS, pack_weights, packed_bytes, unpack_weights
from asym_control.learning.buffers import MacroStep
from asym_control.training.checkpoint import save_policy
from asym_control.training.config import ConfigError, TrainConfig

DEFAULT_SYNC_EVERY = 1000


class ExperienceActor:
    """One actor: an environment, the networks at a precision, the behaviour policy; K steps per call."""

    def __init__(self, cfg_dict: dict, index: int, precision: str):
        from threadpoolctl import threadpool_limits

        from asym_control.asym.policy import AsymPolicy

        if precision not in PRECISIONS:
            raise ValueError(f"actor precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self._threads = threadpool_limits(1)   # held: batch-1 products, one BLAS thread is fastest
        cfg = TrainConfig.from_dict(cfg_dict)
        self.cfg, self.index, self.precision = cfg, index, precision
        # streams of their own, apart from the learner's (which are the single-process run's)
        env_ss, master_ss, act_ss = np.random.SeedSequence([cfg.seed, 1 + index, 0xAC7]).spawn(3)
        self.env = cfg.spec.make_env(seed=int(env_ss.generate_state(1)[0]), episode_steps=cfg.episode_steps)
        self.policy = AsymPolicy(cfg)            # fp32 networks the weights are loaded into
        self.explorer = Explorer(cfg, cfg.spec.act_dim, None, {}, np.random.default_rng(master_ss),
                                 np.random.default_rng(act_ss))
        self.obs = None
        self.macro: MacroStep | None = None
        self.episode = [0.0, 0, 0]               # return, steps on large, length
        import ray
        self.node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None

    def ready(self) -> str | None:
        """Return this actor's node once it is built (its environment made, its imports done)."""
        return self.node

    def _load(self, packed: dict) -> None:
        self.policy.load_tensors(unpack_weights(packed))
        if self.precision == "fp32":
            actors, master = dict(self.policy.actors), self.policy.master
        else:
            from asym_control.deploy.quantized import QuantizedActor, QuantizedMLP
            actors = {o: QuantizedActor(a, self.precision) for o, a in self.policy.actors.items()}
            master = QuantizedMLP(self.policy.master, self.precision) if self.policy.master is not None else None
        self.explorer.actors, self.explorer.master_q = actors, master

    def run(self, packed: dict, n_steps: int, step0: int) -> dict:
        """
        Load the weights, then run `n_steps` control steps from global step `step0`.

        Episodes carry over between calls. Returns the transitions (arrays, in order), the macro
        transitions that ended in these steps, the episodes that ended, and the time spent.
        """
        t0 = time.perf_counter()
        self._load(packed)
        t_load = time.perf_counter() - t0
        cfg, env, ex = self.cfg, self.env, self.explorer
        obs_l, act_l, rew_l, next_l, term_l, opt_l = [], [], [], [], [], []
        macros, episodes = [], []
        for i in range(n_steps):
            step = step0 + i
            if self.obs is None:
                self.obs = env.reset()
                ex.begin_episode(step)
                self.episode = [0.0, 0, 0]
            obs = self.obs
            if self.macro is None:
                self.macro = MacroStep(obs, ex.select(obs, step), start=step)
            option = self.macro.option
            action = ex.act(option, obs, step)
            next_obs, reward, terminated, truncated = env.step(action)
            obs_l.append(obs), act_l.append(action), rew_l.append(reward), next_l.append(next_obs)
            term_l.append(terminated), opt_l.append(option)
            self.macro.add(reward)
            done = terminated or truncated
            if self.macro.length == cfg.n_omega or done:
                macros.append((i, self.macro, next_obs, bool(terminated)))
                self.macro = None
            self.episode[0] += reward
            self.episode[1] += option == LARGE
            self.episode[2] += 1
            if done:
                episodes.append((i, *self.episode))
                self.obs = None
            else:
                self.obs = next_obs
        return {"obs": np.asarray(obs_l, np.float32), "action": np.asarray(act_l, np.float32),
                "reward": np.asarray(rew_l, np.float32), "next_obs": np.asarray(next_l, np.float32),
                "terminated": np.asarray(term_l, bool), "option": np.asarray(opt_l, np.int64),
                "macros": macros, "episodes": episodes, "actor": self.index, "node": self.node,
                "load_s": t_load, "act_s": time.perf_counter() - t0 - t_load}


def check_settings(cfg: TrainConfig, actors: int, precision: str, sync_every: int, comm: str,
                   update_ratio: float) -> None:
    """Refuse, with the reason, settings the actor-learner mode cannot run."""
    if actors < 1:
        raise ConfigError(f"--actors must be >= 1, got {actors}")
    if cfg.fit_gate:
        raise ConfigError("--fit-gate: not in the actor-learner mode; fit its run afterwards with "
                          "asym-control fit-gate RUN --out OUT")
    if sync_every < 1:
        raise ConfigError(f"--sync-every must be >= 1 control step, got {sync_every}")
    for name, p in (("--actor-precision", precision), ("--weights-comm", comm)):
        if p not in PRECISIONS:
            raise ConfigError(f"{name} must be one of {', '.join(PRECISIONS)}, got {p!r}")
    if not (update_ratio > 0):
        raise ConfigError(f"--update-ratio must be > 0 gradient steps per control step, got {update_ratio}")
    if cfg.spec.her is not None and cfg.her_goals > 0 and actors > 1:
        raise ConfigError(f"{cfg.task} relabels goals by hindsight, which needs each episode's transitions "
                          "contiguous in the buffer: run it with --actors 1")


def train_actor_learner(cfg: TrainConfig, run_dir: Path | None, actors: int = 1, precision: str = "fp32",
                        sync_every: int = DEFAULT_SYNC_EVERY, comm: str = "fp32", update_ratio: float = 1.0,
                        address: str | None = None, stop_at_return: float | None = None,
                        progress: bool = True, learner_out: list | None = None) -> dict:
    """
    Train `cfg` with `actors` Ray actors gathering experience and this process learning.

    Stops at cfg.steps control steps, or at the first evaluation whose mean return reaches
    `stop_at_return` (time to reward). `learner_out`, if given, receives the learner's agent
    (for tests: its weights are checked to be fp32).
    """
    import ray
    from threadpoolctl import threadpool_limits

    from asym_control.training.train import Recorder

    check_settings(cfg, actors, precision, sync_every, comm, update_ratio)
    if cfg.eval_every == 0 and stop_at_return is not None:
        raise ConfigError("--stop-at-return needs evaluations: --eval-every must be > 0")
    with threadpool_limits(1):
        agent = AsymAgent(cfg)
        if run_dir is not None:
            run_dir = Path(run_dir)
            save_policy(run_dir, cfg, agent.policy_tensors())
        agent.start_parallel()   # fork the large learner before Ray's threads exist
        if learner_out is not None:
            learner_out.append(agent)
        started_ray = not ray.is_initialized()
        if started_ray:
            from asym_control.raynodes import start
            start(address, max(actors, os.cpu_count() or 1))
        rec = Recorder(run_dir, progress, cfg.steps, 0)
        try:
            return _learn(cfg, run_dir, agent, rec, actors, precision, sync_every, comm, update_ratio,
                          stop_at_return)
        finally:
            agent.close()
            rec.close()
            if started_ray:
                ray.shutdown()


def _learn(cfg, run_dir, agent, rec, n_actors, precision, sync_every, comm, update_ratio, stop_at_return):
    import ray

    from asym_control.training.train import _evaluate_now, _postfix

    remote_actor = ray.remote(num_cpus=1, max_restarts=0)(ExperienceActor)
    handles = [remote_actor.remote(cfg.to_dict(), i, precision) for i in range(n_actors)]
    ray.get([h.ready.remote() for h in handles])   # every actor built before the clock starts
    t_start = time.perf_counter()
    step = updates = episodes = issued = 0
    eval_s = act_s = load_s = 0.0
    returns, large_fracs = collections.deque(maxlen=10), collections.deque(maxlen=10)
    last_eval = last_ckpt = 0
    reached = None
    broadcast_bytes = 0
    actor_steps = [0] * n_actors
    nodes = set()
    pending = {}

    def submit(handle):
        nonlocal issued, broadcast_bytes
        n = min(sync_every, cfg.steps - issued)
        if n <= 0:
            return
        packed = pack_weights(agent.policy_tensors(), comm)   # the learner's weights are copied, never changed
        broadcast_bytes += packed_bytes(packed)
        pending[handle.run.remote(packed, n, issued)] = handle
        issued += n

    for h in handles:
        submit(h)
    try:
        while pending and step < cfg.steps and reached is None:
            ready, _ = ray.wait(list(pending), num_returns=1)
            handle = pending.pop(ready[0])
            chunk = ray.get(ready[0])
            submit(handle)   # the actor gathers its next steps while the learner trains on these
            act_s, load_s = act_s + chunk["act_s"], load_s + chunk["load_s"]
            actor_steps[chunk["actor"]] += len(chunk["reward"])
            nodes.add(chunk["node"])
            macros = collections.deque(chunk["macros"])
            ends = collections.deque(chunk["episodes"])
            for i in range(len(chunk["reward"])):
                agent.store(int(chunk["option"][i]), chunk["obs"][i], chunk["action"][i], float(chunk["reward"][i]),
                            chunk["next_obs"][i], bool(chunk["terminated"][i]))
                if ends and ends[0][0] == i:
                    agent.end_episode()
                while macros and macros[0][0] == i:
                    _, macro, next_obs, terminated = macros.popleft()
                    agent.store_macro(macro, next_obs, terminated)
                step += 1
                due = int(update_ratio * (step - cfg.learning_starts)) - updates if step > cfg.learning_starts else 0
                for _ in range(due):
                    updates += 1
                    want = updates % 1000 == 0
                    metrics = agent.update(step, want_metrics=want)
                    if want:
                        rec.updated(step, agent, metrics)
                if step % 100 == 0:
                    rec.progress(100, _postfix(returns, large_fracs, t_start, step, last_ckpt, cfg))
                if ends and ends[0][0] == i:
                    _, ret, n_large, length = ends.popleft()
                    episodes += 1
                    returns.append(ret)
                    large_fracs.append(n_large / length)
                    rec.scalars(step, {"episode/return": ret, "episode/large_fraction": n_large / length})
            train_s = time.perf_counter() - t_start - eval_s
            if cfg.eval_every and (step - last_eval >= cfg.eval_every or step >= cfg.steps):
                last_eval = step
                t_eval = time.perf_counter()
                result = _evaluate_now(cfg, agent)
                eval_s += time.perf_counter() - t_eval
                result.update(step=step, wall_time_s=round(train_s, 1))
                rec.evaluated(step, result)
                if stop_at_return is not None and result["return_mean"] >= stop_at_return:
                    reached = {"return": result["return_mean"], "step": step, "train_wall_time_s": round(train_s, 1)}
            if run_dir is not None and (step - last_ckpt >= cfg.checkpoint_every or step >= cfg.steps or reached):
                save_policy(run_dir, cfg, agent.policy_tensors())
                last_ckpt = step
    finally:
        for h in handles:
            ray.kill(h)
    train_s = time.perf_counter() - t_start - eval_s
    summary = {"task": cfg.task, "mode": cfg.mode, "seed": cfg.seed, "steps": step, "episodes": episodes,
               "gradient_steps": updates, "wall_time_s": round(time.perf_counter() - t_start, 1),
               "train_wall_time_s": round(train_s, 1), "eval_wall_time_s": round(eval_s, 1),
               "recent_return": float(np.mean(returns)) if returns else None,
               "recent_large_fraction": float(np.mean(large_fracs)) if large_fracs else None,
               "actor_learner": {"actors": n_actors, "actor_precision": precision, "sync_every": sync_every,
                                 "weights_comm": comm, "update_ratio": update_ratio,
                                 "actor_time_s": round(act_s, 2), "actor_weight_load_s": round(load_s, 2),
                                 "broadcast_bytes": int(broadcast_bytes),
                                 "actor_steps": actor_steps, "actor_nodes": sorted(n for n in nodes if n)},
               "stop_at_return": stop_at_return, "reached": reached}
    if run_dir is not None and (step >= cfg.steps or reached):
        (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
