"""
The behaviour policy of training: the master's epsilon-greedy choice and the sub-policies' sampled actions.

One class for both ways of gathering experience: the single-process trainer (AsymAgent holds one,
on its learners' networks) and the actor-learner mode's actors (training.actors: each holds one
on its own copies of the networks, at the actors' precision). The networks are anything with
`forward(x)` as nets.MLP has it (the master) and `act(obs, deterministic, noise)` as
SquashedGaussianActor has it (the sub-policies); the random streams are the caller's.
"""

from __future__ import annotations

import numpy as np

from asym_control.learning.nets import DTYPE


class Explorer:
    """Epsilon-greedy master (per decision or per episode, choices held), SAC's noisy actions."""

    def __init__(self, cfg, act_dim: int, master_q, actors: dict, rng_master: np.random.Generator,
                 rng_act: np.random.Generator):
        self.cfg, self.act_dim = cfg, act_dim
        self.master_q, self.actors = master_q, actors
        self.rng_master, self.rng_act = rng_master, rng_act
        self.episode_option: int | None = None
        self.held_option: int | None = None   # an exploratory choice held over macro steps
        self.hold_left = 0
        self.noise: np.ndarray | None = None   # the exploration noise's state (noise_rho > 0)

    def epsilon(self, step: int) -> float:
        d = self.cfg.dqn
        horizon = d.exploration_steps   # TrainConfig fixes it in control steps when the run is made
        frac = min(1.0, step / horizon) if horizon > 0 else 1.0
        return d.exploration_initial_eps + frac * (d.exploration_final_eps - d.exploration_initial_eps)

    def begin_episode(self, step: int) -> None:
        """Episode-level exploration: draw whether this episode belongs to one sub-policy."""
        self.episode_option = None
        self.held_option, self.hold_left = None, 0
        self.noise = None
        if self.master_q is not None and self.cfg.dqn.exploration_unit == "episode":
            if self.rng_master.random() < self.epsilon(step):
                self.episode_option = int(self.rng_master.integers(0, 2))

    def greedy(self, obs: np.ndarray) -> int:
        q = self.master_q.forward(np.asarray(obs, dtype=DTYPE).reshape(1, -1))[0, 0]
        return int(np.argmax(q))

    def select(self, obs: np.ndarray, step: int) -> int:
        """Return the master's epsilon-greedy choice (asym), or the mode's only sub-policy."""
        if self.master_q is None:
            return self.cfg.options()[0]
        if self.cfg.dqn.exploration_unit == "episode":
            return self.episode_option if self.episode_option is not None else self.greedy(obs)
        if self.hold_left > 0:
            self.hold_left -= 1
            return self.held_option
        rng = self.rng_master
        if rng.random() < self.epsilon(step):
            option = int(rng.integers(0, 2))
            hold = self.cfg.dqn.exploration_hold
            if hold > 1.0:  # held for a geometric number of decisions of mean `hold`, this one included
                self.held_option, self.hold_left = option, int(rng.geometric(1.0 / hold)) - 1
            return option
        return self.greedy(obs)

    def act(self, option: int, obs: np.ndarray, step: int) -> np.ndarray:
        rng = self.rng_act
        if step < self.cfg.learning_starts:
            return rng.uniform(-1.0, 1.0, self.act_dim).astype(DTYPE)
        share = self.cfg.sac.random_actions
        if share and rng.random() < share:   # drawn only when asked for: other runs' streams are unchanged
            return rng.uniform(-1.0, 1.0, self.act_dim).astype(DTYPE)
        noise = rng.standard_normal(self.act_dim, dtype=DTYPE)
        rho = self.cfg.sac.noise_rho
        if rho:
            # AR(1) with unit variance: each step's noise is as SAC's, consecutive steps agree
            # (a push held for many steps, as a car in a valley needs); restarts every episode
            if self.noise is not None:
                noise = (DTYPE(rho) * self.noise + DTYPE(np.sqrt(1.0 - rho * rho)) * noise).astype(DTYPE)
            self.noise = noise
        return self.actors[option].act(obs, deterministic=False, noise=noise)
