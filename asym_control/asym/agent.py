"""
The asymmetric agent (paper Section IV): a master DQN over a small and a large SAC sub-policy.

Training side (`AsymAgent`): both sub-policies learn from ONE shared replay buffer -- every
transition reaches both, whichever acted -- and the master learns from macro transitions with
r_Omega = sum r - lambda * k * c_omega, discounted by gamma^k. The modes `large` and `small`
are the L-only and S-only baselines (one SAC, no master).

Deployment side: asym_control.asym.policy (`AsymPolicy`), the actors and the master's
Q-network only, deterministic, importable without any learner.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from asym_control.asym.explore import Explorer
from asym_control.asym.policy import LARGE, OPTION_NAMES, SMALL, AsymPolicy  # noqa: F401 - re-exported
from asym_control.flops import CostTable, cost_table
from asym_control.learning.buffers import HerReplayBuffer, MacroBuffer, MacroStep, ReplayBuffer
from asym_control.learning.dqn import DQN
from asym_control.learning.learner import LearnerProcess
from asym_control.learning.nets import DTYPE
from asym_control.learning.sac import SAC
from asym_control.training.config import TrainConfig


class AsymAgent:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        spec = cfg.spec
        self.obs_dim, self.act_dim = spec.obs_dim, spec.act_dim
        self.costs: CostTable = cost_table(spec.obs_dim, spec.act_dim, cfg.small_units,
                                           cfg.large_units, cfg.n_omega)
        # independent random streams: acting, each learner, the master (a stream per consumer
        # keeps results identical whether the learners run in one thread or two)
        seeds = np.random.SeedSequence(cfg.seed).spawn(5)
        self.rng = {name: np.random.default_rng(s) for name, s in
                    zip(("act", "learn_small", "learn_large", "master", "init"), seeds)}
        init = self.rng["init"]
        self.subs: dict[int, SAC] = {}
        for option in (SMALL, LARGE):  # both always built so the init stream does not depend on mode
            sub = SAC(self.obs_dim, self.act_dim, dataclasses.replace(cfg.sac, units=cfg.units(option)), init)
            if option in cfg.options():
                self.subs[option] = sub
        self.master = DQN(self.obs_dim, cfg.dqn, init) if cfg.mode == "asym" else None

        def buffer():
            if spec.her is not None and cfg.her_goals > 0:   # goal-conditioned: relabelled by hindsight
                return HerReplayBuffer(cfg.buffer_size, self.obs_dim, self.act_dim, spec.her, cfg.her_goals)
            return ReplayBuffer(cfg.buffer_size, self.obs_dim, self.act_dim)
        if cfg.separate_buffers:
            self.buffers = {o: buffer() for o in self.subs}
        else:
            shared = buffer()
            self.buffers = {o: shared for o in self.subs}
        self.macro_buffer = MacroBuffer(cfg.dqn.buffer_size, self.obs_dim) if self.master else None
        self._remote: LearnerProcess | None = None
        self.master_updates_due = 0            # train_freq_unit macro: one per macro transition
        self.explorer = Explorer(cfg, self.act_dim, self.master.q if self.master else None,
                                 {o: sub.actor for o, sub in self.subs.items()}, self.rng["master"], self.rng["act"])

    def start_parallel(self) -> None:
        """
        Fork the large learner (asym mode, cfg.parallel).

        Call before any transition is stored.
        """
        if self.cfg.parallel and len(self.subs) == 2 and self._remote is None:
            buf = self.buffers[LARGE]
            for b in {id(x): x for x in self.buffers.values()}.values():
                b.share()
            self._remote = LearnerProcess(self.subs[LARGE], buf, self.rng["learn_large"],
                                          self.cfg.sac.batch_size)

    # acting: the behaviour policy on the learners' own networks (asym.explore) ---------------
    def epsilon(self, step: int) -> float:
        return self.explorer.epsilon(step)

    def begin_episode(self, step: int) -> None:
        self.explorer.begin_episode(step)

    def select(self, obs: np.ndarray, step: int) -> int:
        return self.explorer.select(obs, step)

    def act(self, option: int, obs: np.ndarray, step: int) -> np.ndarray:
        return self.explorer.act(option, obs, step)

    # learning ------------------------------------------------------------------------------
    def store(self, option: int, obs, action, reward, next_obs, terminated) -> None:
        # shared buffer: one add reaches both sub-policies; separate: only the one that acted
        self.buffers[option if self.cfg.separate_buffers else next(iter(self.buffers))].add(
            obs, action, reward, next_obs, terminated)

    def end_episode(self) -> None:
        """Close the episode in every buffer that relabels by hindsight (its goals become usable)."""
        for b in {id(x): x for x in self.buffers.values()}.values():
            if isinstance(b, HerReplayBuffer):
                b.end_episode()

    def store_macro(self, macro: MacroStep, next_obs, terminated: bool) -> None:
        # the buffer keeps the macro step's task reward; the cost term is applied when a batch
        # is drawn (`master_batch`), with the lambda of that moment (cost warm-up)
        if self.master is None or macro.start < self.cfg.learning_starts:
            # in the random warm-up no sub-policy acted: the master's choice did not produce
            # these rewards, and a macro transition would credit them to it
            return
        self.macro_buffer.add(macro.obs, macro.option, macro.reward_sum, next_obs,
                              float(terminated), macro.length)
        self.master_updates_due += 1

    def cost_lambda(self, step: int) -> float:
        """
        Return lambda at control step `step`.

        0 for the ablation without cost and during the first `cost_free_steps`; then it rises
        linearly to the configured lambda over `cost_warmup_steps`.
        """
        if self.cfg.no_cost or step < self.cfg.cost_free_steps:
            return 0.0
        w, t = self.cfg.cost_warmup_steps, step - self.cfg.cost_free_steps
        return self.cfg.cost_lambda * (min(1.0, t / w) if w > 0 else 1.0)

    def master_batch(self, step: int):
        """Draw a batch of macro transitions with r_Omega = sum r - lambda(step) * k * c_omega."""
        obs, option, reward_sum, next_obs, terminated, length = self.macro_buffer.sample(
            self.cfg.dqn.batch_size, self.rng["master"])
        c = np.where(option == LARGE, self.costs.c_large, self.costs.c_small).astype(DTYPE)
        reward = (reward_sum - DTYPE(self.cost_lambda(step)) * length.astype(DTYPE) * c).astype(DTYPE)
        return obs, option, reward, next_obs, terminated, length

    def _update_sub(self, option: int) -> dict | None:
        buf = self.buffers[option]
        bs = self.cfg.sac.batch_size
        if buf.size == 0:
            return None
        rng = self.rng["learn_large" if option == LARGE else "learn_small"]
        return self.subs[option].update(buf.sample(bs, rng), rng)

    def update(self, step: int = 0, want_metrics: bool = False) -> dict[str, float]:
        """
        One gradient step for each sub-policy, and the master's.

        Table I: train freq 1, in control steps or macro transitions
        (`DQNConfig.train_freq_unit`).
        """
        metrics: dict[str, float] = {}
        remote = self._remote
        if remote is not None:
            remote.start_update(want_metrics)
        for option in self.subs:
            if remote is not None and option == LARGE:
                continue
            m = self._update_sub(option)
            if m:
                metrics.update({f"{OPTION_NAMES[option]}/{k}": v for k, v in m.items()})
        if self.master is not None and self.macro_buffer.size >= self.cfg.dqn.batch_size:
            # Table I's train frequency 1: a gradient step per control step, or per macro transition
            n = 1 if self.cfg.dqn.train_freq_unit == "control" else self.master_updates_due
            n *= self.cfg.dqn.gradient_steps
            for _ in range(n):
                metrics.update(self.master.update(self.master_batch(step)))
        self.master_updates_due = 0
        if remote is not None:
            m = remote.finish_update()  # wait: the next action may come from the large actor
            if m:
                metrics.update({f"large/{k}": v for k, v in m.items()})
        return metrics

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    # state ---------------------------------------------------------------------------------
    def policy_tensors(self) -> dict[str, np.ndarray]:
        t = {}
        for option, sub in self.subs.items():
            t.update(sub.state(OPTION_NAMES[option], with_training=False))
        if self.master is not None:
            t.update(self.master.state("master", with_training=False))
        return t

    def sub_state(self, option: int) -> dict[str, np.ndarray]:
        """One sub-policy's learner state (actor, critics, optimisers), from the learner process where it lives."""
        if self._remote is not None and option == LARGE:
            return self._remote.state(OPTION_NAMES[option])[0]
        return self.subs[option].state(OPTION_NAMES[option])

    def training_tensors(self) -> dict[str, np.ndarray]:
        t = {}
        for option in self.subs:
            t.update(self.sub_state(option))
        if self.master is not None:
            t.update(self.master.state("master"))
        for prefix, buf in self.named_buffers().items():
            t.update(buf.state(prefix))
        return t

    def named_buffers(self) -> dict[str, ReplayBuffer]:
        """Every replay buffer once, by the prefix of its tensors in a training checkpoint."""
        named = {"macro_buffer": self.macro_buffer} if self.master is not None else {}
        if self.cfg.separate_buffers:
            named.update({f"buffer_{OPTION_NAMES[o]}": buf for o, buf in self.buffers.items()})
        else:
            named["buffer"] = next(iter(self.buffers.values()))
        return named

    def check_training_tensors(self, t: dict[str, np.ndarray]) -> None:
        """
        Refuse, with the reason, a training checkpoint that does not fit this agent.

        A tensor missing, unknown, of another shape or dtype, or a buffer whose stored position,
        size and rows disagree (Adam's state would broadcast a wrong shape silently).
        """
        from asym_control.training.checkpoint import CheckpointError

        want = self.training_tensors()
        missing, unknown = sorted(set(want) - set(t)), sorted(set(t) - set(want))
        if missing or unknown:
            raise CheckpointError(f"training checkpoint does not fit this run: missing {missing[:5]}, "
                                  f"unknown {unknown[:5]}")
        buffers = self.named_buffers()
        for b, buf in buffers.items():
            pos, size = (int(v) for v in t[f"{b}.pos_size"])
            if not (0 <= size <= buf.capacity and 0 <= pos < buf.capacity
                    and (pos == size % buf.capacity or size == buf.capacity)):
                raise CheckpointError(f"training checkpoint: {b} says position {pos} and size {size}, "
                                      f"impossible in a buffer of {buf.capacity}")
        for k, w in want.items():
            got = t[k]
            prefix, field = k.rsplit(".", 1)
            # a buffer's rows (as many as it holds), not its bookkeeping (HER's open episode)
            rows_vary = prefix in buffers and field in buffers[prefix]._FIELDS
            expected = ((int(t[f"{prefix}.pos_size"][1]),) + w.shape[1:]) if rows_vary else w.shape
            if got.shape != expected or got.dtype != w.dtype:
                raise CheckpointError(f"training checkpoint: {k} is {got.dtype}{list(got.shape)}, "
                                      f"this run needs {w.dtype}{list(expected)}")

    def load_training_tensors(self, t: dict[str, np.ndarray]) -> None:
        """Load a training checkpoint (checked first); call before start_parallel()."""
        assert self._remote is None
        self.check_training_tensors(t)
        for option, sub in self.subs.items():
            sub.load_state(t, OPTION_NAMES[option])
        if self.master is not None:
            self.master.load_state(t, "master")
        for prefix, buf in self.named_buffers().items():
            buf.load_state(t, prefix)

    def rng_states(self) -> dict:
        states = {k: r.bit_generator.state for k, r in self.rng.items()}
        if self._remote is not None:
            states["learn_large"] = self._remote.state("large")[1]
        return states

    def set_rng_states(self, states: dict) -> None:
        for k, s in states.items():
            self.rng[k].bit_generator.state = s
