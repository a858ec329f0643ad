"""
The deployed agent: the master's greedy choice and the sub-policies' deterministic actions.

What the nodes, the evaluator and the ONNX export run. It imports the networks only, never a
learner (asym_control.asym.agent is the training side).
"""

from __future__ import annotations

import copy

import numpy as np

from asym_control.flops import cost_table
from asym_control.learning.nets import DTYPE, MLP
from asym_control.learning.policies import SquashedGaussianActor

SMALL, LARGE = 0, 1
OPTION_NAMES = {SMALL: "small", LARGE: "large"}


class AsymPolicy:
    """Deterministic deployment policy: the master's greedy choice and the actors' mean actions."""

    def __init__(self, cfg):  # a training.config.TrainConfig
        self.cfg = cfg
        spec = cfg.spec
        self.costs = cost_table(spec.obs_dim, spec.act_dim, cfg.small_units, cfg.large_units, cfg.n_omega)
        self.actors = {o: SquashedGaussianActor(spec.obs_dim, spec.act_dim, cfg.units(o), cfg.sac.activation)
                       for o in cfg.options()}
        self.master = MLP([spec.obs_dim, cfg.dqn.units, cfg.dqn.units, 2], cfg.dqn.activation) \
            if cfg.mode == "asym" else None
        self.fixed_option: int | None = None   # set by forced(): the master's choice replaced

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {f"{OPTION_NAMES[o]}.actor.theta": a.net.theta.shape for o, a in self.actors.items()}
        if self.master is not None:
            shapes["master.q.theta"] = self.master.theta.shape
        return shapes

    def load_tensors(self, t: dict[str, np.ndarray]) -> None:
        for o, a in self.actors.items():
            a.net.load_state(t, f"{OPTION_NAMES[o]}.actor")
        if self.master is not None:
            self.master.load_state(t, "master.q")

    def forced(self, option: int) -> "AsymPolicy":
        """
        Return this policy with the master replaced by a constant choice of `option` (analysis).

        The networks are shared, not copied.
        """
        other = copy.copy(self)
        other.fixed_option = option
        return other

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Return the master's Q-value of each option at one observation (asym mode)."""
        return self.master.forward(np.asarray(obs, dtype=DTYPE).reshape(1, -1))[0, 0]

    def select(self, obs: np.ndarray) -> int:
        if self.fixed_option is not None:
            return self.fixed_option
        if self.master is None:
            return self.cfg.options()[0]
        return int(np.argmax(self.q_values(obs)))

    def act(self, option: int, obs: np.ndarray) -> np.ndarray:
        return self.actors[option].act(obs, deterministic=True)
