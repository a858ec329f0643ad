"""
The learners' settings (paper Table I), apart from the learners.

A training configuration and a checkpoint's config.json are read without importing any learning
code.
"""

from __future__ import annotations

from dataclasses import dataclass

from asym_control.flops import MASTER_UNITS


@dataclass(frozen=True)
class SACConfig:
    """Sub-policy learner settings (paper Table I)."""

    units: int = 64
    """hidden units in each of the two hidden layers of actor and critics"""
    activation: str = "relu"
    """hidden nonlinearity; the paper says tanh, the authors' code (SB2 defaults) used ReLU"""
    lr: float = 3e-4
    """Adam learning rate of actor, critics and entropy coefficient"""
    gamma: float = 0.99
    tau: float = 0.005
    """Polyak coefficient of the target critics, updated every step"""
    batch_size: int = 256
    critic_units: int | None = None
    """hidden units of the critics; None: the actor's. Training only: the deployed policy is the
    actor, so a wider critic costs nothing at inference"""
    noise_rho: float | None = None
    """correlation between consecutive control steps of the exploration noise that samples the
    actors' actions in training, an AR(1) process with unit variance (0: white noise, SAC's;
    None: the task's). Deployment is deterministic either way"""
    normalize_obs: bool = False
    """standardise the actor's and critics' inputs with running statistics of the batches learnt
    from (HER's reference implementation does; learning/normalizer.py), folded into the actor's
    first layer when the policy is saved"""
    random_actions: float = 0.0
    """share of training's control steps (after learning_starts) whose action is drawn uniformly
    from the action box instead of the actor (HER's reference implementation draws 30% of its
    actions so on the Fetch tasks, its `random_eps`; Stable-Baselines calls it
    `random_exploration`); 0: SAC's own exploration only"""


@dataclass(frozen=True)
class DQNConfig:
    """Master learner settings (paper Table I)."""

    units: int = MASTER_UNITS
    activation: str = "tanh"
    lr: float = 1e-3
    gamma: float = 0.99
    batch_size: int = 32
    buffer_size: int = 50_000
    target_update_interval: int = 500
    """gradient steps between hard copies of the online network into the target"""
    exploration_fraction: float = 0.1
    """fraction of training over which epsilon decays linearly"""
    exploration_steps: int | None = None
    """control steps over which epsilon decays linearly; when set, replaces exploration_fraction
    (the paper's 10% of 2.5M steps is 250k control steps)"""
    exploration_unit: str = "macro"
    """macro: epsilon-greedy at every master decision; episode: with probability epsilon a whole
    episode is run by one sub-policy drawn uniformly (each sub-policy then learns from long
    stretches of its own behaviour), otherwise the master decides"""
    exploration_hold: float = 1.0
    """mean number of macro steps an exploratory choice is held (unit macro): with probability
    epsilon the master draws a sub-policy and keeps it for a geometric number of decisions of this
    mean, so that a sub-policy's benefit over several macro steps is seen (temporally extended
    epsilon-greedy, Dabney et al. 2021); 1 is plain epsilon-greedy"""
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.02
    train_freq_unit: str = "control"
    """what Table I's "train frequency 1" counts for the master: control (one gradient step per
    control step, n_omega per macro transition) or macro (one per macro transition, as a DQN whose
    environment steps are the master's decisions); the target copy counts its gradient steps"""
    gradient_steps: int = 1
    """the master's gradient steps at each of its training times (Table I: 1)"""
    max_grad_norm: float = 10.0
    dueling: bool = False
    """learn Q(s, o) = V(s) + A(s, o) - mean_o A(s, o) (Wang et al. 2016): every macro transition,
    whichever option it took, trains V, and the option heads learn only the difference. Deployed
    as the plain two-output network it folds into exactly (the last layer is linear)"""
