"""The typed configuration of a training run: one frozen dataclass, saved with every run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from asym_control.learning.settings import DQNConfig, SACConfig
from asym_control.tasks.registry import get_task

FIT_GATE_LOSSES = ("huber", "mse")
"""the gate fit's losses (asym_control.asym.gate_fit): the DQN's Huber, or the squared error"""

MODES = ("asym", "large", "small")


SCHEDULES = ("paper", "curriculum")
DEFAULT_SCHEDULE = "curriculum"
"""the schedule of `asym-control train` and of a sweep's asym trials when none is named: the paper's
lets the master settle on the small sub-policy before the large one is any good
(docs/master-collapse.md)"""


def schedule_settings(schedule: str, steps: int, n_omega: int = 5, batch_size: int | None = None, **given) -> dict:
    """
    Return the master's schedule settings of a preset, in control steps for a run of `steps`.

    paper: lambda from the first step, epsilon over 10% of the run (None: TrainConfig's
    exploration_fraction), plain epsilon-greedy, Table I's replay of 50,000 macro transitions.
    curriculum: lambda 0 for the first third of the run, then a linear ramp to its value over the
    second third; epsilon over the first two thirds, each exploratory choice held for 10 decisions
    on average; the master's replay as long as the paper's is against its run, 10% of the run
    (50,000 macro transitions are 10% of the paper's 2.5M control steps at n_omega 5), so that it
    holds what the sub-policies of late in the run do and not those of its start
    (docs/master-collapse.md), and never less than the master's minibatch (`batch_size`, None:
    Table I's). Settings in `given` that are not None override the preset's; they
    are fixed in control steps when the run is made, so a run resumed with more steps keeps them.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule == "paper":
        out = dict(cost_free_steps=0, cost_warmup_steps=0, exploration_steps=None, exploration_hold=1.0,
                   master_buffer=None)
    else:
        third = steps // 3
        out = dict(cost_free_steps=third, cost_warmup_steps=third, exploration_steps=2 * third, exploration_hold=10.0,
                   master_buffer=max(batch_size or DQNConfig.batch_size, steps // (10 * n_omega)))
    out.update({k: v for k, v in given.items() if v is not None})
    return out


class ConfigError(ValueError):
    """A training configuration that cannot be run (a user's error: the CLI says it in one line)."""


@dataclass(frozen=True)
class TrainConfig:
    """
    Everything that decides a training run.

    Defaults are the paper's (Tables I and II).
    """

    task: str = "walker-stand"
    mode: str = "asym"
    """asym: master + both sub-policies; large: L-only SAC; small: S-only SAC"""
    seed: int = 0
    steps: int = 100_000
    """environment (control) steps to train for"""
    n_omega: int = 5
    """control steps a selected sub-policy acts before the master chooses again"""
    cost_lambda: float | None = None
    """lambda of the cost term; None takes the task's (Table II)"""
    cost_free_steps: int = 0
    """control steps at the start with lambda = 0 (the master learns which sub-policy does better)"""
    cost_warmup_steps: int = 0
    """control steps, after the cost-free ones, over which lambda rises linearly from 0 to its value"""
    schedule: str = "paper"
    """the preset (schedule_settings) the master's schedules were made from, as a record: the
    settings themselves are the fields above and in dqn; paper is what these fields default to"""
    small_units: int | None = None
    large_units: int | None = None
    no_cost: bool = False
    """ablation (Table V): the master's reward has no cost term"""
    separate_buffers: bool = False
    """ablation (Table VI): each sub-policy learns only from the transitions it generated"""
    fit_gate: bool = False
    """asym mode: after training, refit the master from paired simulator branches
    (asym_control.asym.gate_fit, its default settings); the TD-trained master is kept beside"""
    fit_gate_loss: str = "huber"
    """the gate fit's loss on its labels (FIT_GATE_LOSSES): huber, or mse (the labels' mean)"""
    buffer_size: int = 1_000_000
    her_goals: int = 4
    """goal-conditioned tasks: hindsight goals per real one (HER's k, future strategy; 0: no HER)"""
    learning_starts: int = 1_000
    """uniformly random actions for this many steps before any update"""
    checkpoint_every: int = 10_000
    """write a checkpoint at the first episode end after every this many steps"""
    eval_every: int = 10_000
    """evaluate the deterministic policy at the first episode end after every this many steps
    (0: never); results go to evals.jsonl and TensorBoard, training is not affected"""
    eval_episodes: int = 5
    episode_steps: int | None = None
    """cut episodes at this many steps; None takes the task's"""
    parallel: bool = True
    """asym mode: update the large sub-policy in a second process (learner.py); the results are
    bit-identical to the single-process loop, which `parallel=False` selects"""
    sac: SACConfig = field(default_factory=SACConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)

    def __post_init__(self):
        spec = get_task(self.task)  # raises UnknownTask with the list of tasks
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("steps", "n_omega", "buffer_size", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.eval_every < 0 or self.eval_episodes <= 0:
            raise ConfigError("eval-every must be >= 0 and eval-episodes positive")
        if self.cost_warmup_steps < 0 or self.cost_free_steps < 0:
            raise ConfigError(f"cost-free and cost-warmup must be >= 0, got {self.cost_free_steps}, "
                              f"{self.cost_warmup_steps}")
        if self.fit_gate and self.mode != "asym":
            raise ConfigError(f"fit-gate: a {self.mode} run has no master to fit")
        if self.fit_gate_loss not in FIT_GATE_LOSSES:
            raise ConfigError(f"fit-gate-loss must be one of {', '.join(FIT_GATE_LOSSES)}, "
                              f"got {self.fit_gate_loss!r}")
        if self.fit_gate_loss != "huber" and not self.fit_gate:
            raise ConfigError("fit-gate-loss: only with --fit-gate (it is the loss of that fit)")
        if self.her_goals < 0:
            raise ConfigError(f"her-goals must be >= 0, got {self.her_goals}")
        if self.learning_starts < 0:
            raise ConfigError(f"learning-starts must be >= 0, got {self.learning_starts}")
        if self.episode_steps is not None and self.episode_steps <= 0:
            raise ConfigError(f"episode-steps must be positive, got {self.episode_steps}")
        # fill task defaults in, so the saved config is complete
        fill = {}
        if self.cost_lambda is None:
            fill["cost_lambda"] = spec.cost_lambda
        if self.small_units is None:
            fill["small_units"] = spec.small_units
        if self.large_units is None:
            fill["large_units"] = spec.large_units
        if self.episode_steps is None:
            fill["episode_steps"] = spec.episode_steps
        if self.sac.critic_units is None and spec.critic_units is not None:
            fill["sac"] = dataclasses.replace(self.sac, critic_units=spec.critic_units)
        if self.sac.noise_rho is None:
            fill["sac"] = dataclasses.replace(fill.get("sac", self.sac), noise_rho=spec.noise_rho)
        # the epsilon schedule in control steps, fixed when the run is made: a resumed run that
        # is given more --steps keeps the schedule it started with (10% of the first --steps)
        if self.dqn.exploration_steps is None:
            fill["dqn"] = dataclasses.replace(self.dqn, exploration_steps=int(round(
                self.dqn.exploration_fraction * self.steps)))
        for k, v in fill.items():
            object.__setattr__(self, k, v)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (math.isfinite(self.cost_lambda) and self.cost_lambda >= 0):
            raise ConfigError(f"lambda must be a finite number >= 0 (the cost is a penalty), got {self.cost_lambda}")
        if self.dqn.exploration_steps < 0:
            raise ConfigError(f"exploration-steps must be >= 0, got {self.dqn.exploration_steps}")
        if not (math.isfinite(self.sac.noise_rho) and 0.0 <= self.sac.noise_rho < 1.0):
            raise ConfigError(f"noise-rho must be a number in [0, 1), got {self.sac.noise_rho}")
        if not (math.isfinite(self.sac.random_actions) and 0.0 <= self.sac.random_actions < 1.0):
            raise ConfigError(f"random-actions must be a number in [0, 1), got {self.sac.random_actions}")
        if not (math.isfinite(self.sac.lr) and self.sac.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.sac.lr}")
        if not (math.isfinite(self.sac.tau) and 0.0 < self.sac.tau <= 1.0):
            raise ConfigError(f"tau must be a number in (0, 1], got {self.sac.tau}")
        if not (math.isfinite(self.dqn.exploration_hold) and self.dqn.exploration_hold >= 1.0):
            raise ConfigError(f"exploration-hold must be a finite number >= 1, got {self.dqn.exploration_hold}")
        if self.dqn.buffer_size < self.dqn.batch_size:
            raise ConfigError(f"master-buffer must hold at least a batch ({self.dqn.batch_size}), got "
                              f"{self.dqn.buffer_size}")
        if self.dqn.train_freq_unit not in ("control", "macro"):
            raise ConfigError(f"the master's train frequency unit must be control or macro, got "
                              f"{self.dqn.train_freq_unit!r}")
        if self.dqn.gradient_steps < 1:
            raise ConfigError(f"master-gradient-steps must be at least 1, got {self.dqn.gradient_steps}")
        for name in ("small_units", "large_units"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")

    @property
    def spec(self):
        return get_task(self.task)

    def options(self) -> tuple[int, ...]:
        """Sub-policies present: 0 = small, 1 = large."""
        return {"asym": (0, 1), "large": (1,), "small": (0,)}[self.mode]

    def units(self, option: int) -> int:
        return self.large_units if option == 1 else self.small_units

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        sac = SACConfig(**d.pop("sac", {}))
        dqn = DQNConfig(**d.pop("dqn", {}))
        return cls(sac=sac, dqn=dqn, **d)
