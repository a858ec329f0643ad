"""
The master's gate fitted from paired simulator branches, after training (issue 13, item 1).

The master should hand a macro step to the large sub-policy where its advantage in return over
the small one exceeds what it costs, the paper's own price of a macro step:

    A(s) = G(s, large) - G(s, small)  >  lambda * k * (c_large - c_small).

TD learning estimates A from a replay in which each state saw one option; on finger-spin that
estimate is at chance against Monte Carlo (docs/master-collapse.md). In simulation A can be
measured instead. From the saved state s, each branch runs k control steps of one sub-policy,
then the large sub-policy up to `horizon` steps, and is closed by the large critic's value of
where it ended. The continuation is common, so the difference is the decision's own effect. The
horizon is short enough that the two branches do not part chaotically: 30 steps. On finger-spin
the choice that 100-step labels make changes under a 1e-5 nudge of the velocities on 7% of the
states, and 17% at 300 steps (scripts/gate_bound.py --stability). Branches are discounted by the
sub-policies' gamma, the critic's.

The master's network (the same widths, so the same FLOPs and the same deployed graph) is then
regressed on these labels: output large -> A(s) - cost gap, output small -> 0. Its greedy choice
is the rule above, and its outputs read as "what large is worth here, net of its cost". The
loss is the DQN's Huber (delta 1) by default, or the squared error (`loss="mse"`). Where the
labels at similar states spread wider than delta, the Huber fit follows their median, the
squared error's their mean, and the mean is what the expected return turns on: a small
sub-policy that usually costs a little and now and then loses the task has a median below the
cost gap and a mean above it (test_gate_fit). The
labels come from the states the gate itself visits, in rounds (DAgger, Ross et al. 2011): the
first round runs the trained master, each next one the last fit, and every round's labels are
kept. With `validate` > 0 the fit returns, as DAgger does, the best of its iterates on
validation episodes rather than the last: the trained master and every round's fit run the same
episodes (the same seeds, 30_000 + seed onward, apart from the labels' and the evaluator's), and
the one with the highest objective, the master's own reward summed over the episode (the return
less lambda times the FLOPs it spent), is kept. So a fit that loses return on its states, or a
round whose fit is worse than an earlier one, is not what is deployed.

The sub-policies are not touched. Tasks need a simulator whose state can be saved and restored
exactly (asym_control.tasks.simstate).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from asym_control.asym.policy import LARGE, OPTION_NAMES, SMALL, AsymPolicy
from asym_control.learning.nets import DTYPE, MLP, Adam
from asym_control.learning.normalizer import raw_input_critic
from asym_control.tasks.simstate import simulator_state
from asym_control.training.config import FIT_GATE_LOSSES as LOSSES


class GateFitError(Exception):
    """The run or task cannot be fitted this way (the message says why)."""


@dataclasses.dataclass(frozen=True)
class GateFitConfig:
    rounds: int = 4            # label-and-fit rounds (the first under the trained master)
    labels: int = 4_000        # labelled decisions per round, in whole episodes (20 of walker's or finger's)
    horizon: int = 30          # control steps per branch before the critic closes it
    tail: bool = True          # close each branch with the large critic (False: the horizon's return alone)
    updates: int = 20_000      # Adam steps per fit
    batch: int = 256
    lr: float = 1e-3
    holdout: float = 0.1       # share of the labels kept out of the fit, to report its accuracy
    seed: int = 0
    loss: str = "huber"        # "huber" (the DQN's, delta 1) or "mse" (squared error: the labels' mean)
    validate: int = 0          # control steps, in whole episodes, each candidate runs to be chosen (0: the last fit)

    def __post_init__(self):
        for name in ("rounds", "labels", "horizon", "updates", "batch"):
            if getattr(self, name) < 1:
                raise GateFitError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.validate < 0:
            raise GateFitError(f"validate must be >= 0, got {self.validate}")
        if not 0.0 <= self.holdout < 1.0:
            raise GateFitError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.loss not in LOSSES:
            raise GateFitError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")


def cost_gap(cfg, policy: AsymPolicy) -> float:
    """Return what a macro step of large costs more than one of small, in the master's reward units."""
    return float(cfg.cost_lambda * cfg.n_omega * (policy.costs.c_large - policy.costs.c_small))


def critic_of(cfg, tensors: dict[str, np.ndarray]) -> MLP:
    """Build the large sub-policy's twin critic from its learner state (a training checkpoint's tensors)."""
    return raw_input_critic(cfg, tensors, "large", cfg.sac.critic_units or cfg.large_units)


def large_critic(run_dir: Path, cfg) -> tuple[MLP, int]:
    """Load the large sub-policy's twin critic from RUN's training checkpoint, and the step it was saved at."""
    from safetensors import safe_open

    from asym_control.training.checkpoint import RESUME_DIR

    root = Path(run_dir) / RESUME_DIR
    latest = root / "latest"
    if not latest.is_file():
        raise GateFitError(f"{run_dir} has no training checkpoint ({latest} is missing; a policy folder such as "
                           "a shipped checkpoint has none), so no critic to close the branches with: fit the run "
                           "folder it came from, or pass --no-tail")
    path = root / latest.read_text().strip() / "training.safetensors"
    try:
        with safe_open(str(path), framework="numpy") as f:
            critic = critic_of(cfg, {k: f.get_tensor(k) for k in f.keys()
                                     if k == "large.critic.theta" or k.startswith("large.obs_norm.")})
    except (OSError, KeyError, ValueError) as e:
        raise GateFitError(f"{path}: no large critic of this run's shape in it ({e})") from None
    return critic, int(path.parent.name.split("_")[-1])


def restorable(env, task: str):
    """Return (save, restore) of `env`'s simulator (tasks.simstate), or refuse a task without them."""
    saved = simulator_state(env, task)
    if saved is None:
        raise GateFitError(f"{task}: its simulator state cannot be saved and restored exactly, "
                           "so branches cannot be compared (dm_control tasks, MountainCarContinuous and Fetch can)")
    return saved


class BranchLabeller:
    """A(s) by two branches rolled out from the simulator's current state, which it leaves as it was."""

    def __init__(self, cfg, policy: AsymPolicy, env, horizon: int, critic: MLP | None):
        self.save, self.restore = restorable(env, cfg.task)
        self.cfg, self.policy, self.env = cfg, policy, env
        self.horizon, self.critic = horizon, critic
        self.gamma = cfg.sac.gamma

    def _value(self, obs: np.ndarray) -> float:
        a = self.policy.act(LARGE, obs)
        x = np.concatenate([np.asarray(obs, dtype=DTYPE), np.asarray(a, dtype=DTYPE)])[None]
        return float(self.critic.forward(x).min(axis=0)[0, 0])

    def _branch(self, obs: np.ndarray, first: int) -> float:
        value, g = 0.0, 1.0
        for n in range(self.horizon):
            option = first if n < self.cfg.n_omega else LARGE
            obs, reward, terminated, truncated = self.env.step(self.policy.act(option, obs))
            value += g * reward
            g *= self.gamma
            if terminated:
                return value
            if truncated:
                break
        if self.critic is not None:
            value += g * self._value(obs)
        return value

    def advantage(self, obs: np.ndarray) -> float:
        state = self.save()
        values = {}
        for option in (SMALL, LARGE):
            self.restore(state)
            values[option] = self._branch(obs, option)
        self.restore(state)
        return values[LARGE] - values[SMALL]


def with_master(policy: AsymPolicy, master: MLP) -> AsymPolicy:
    """`policy` with its master replaced (the actors are shared, not copied)."""
    other = copy.copy(policy)
    other.master = master
    other.fixed_option = None
    return other


def fit_master(sizes: list[int], activation: str, obs: np.ndarray, adv: np.ndarray, gap: float,
               fc: GateFitConfig, rng: np.random.Generator) -> tuple[MLP, dict]:
    """
    Regress a master network on (state, A(s)): output large -> A - gap, output small -> 0.

    Huber loss (the DQN's) or the squared error (`fc.loss`), Adam; `fc.holdout` of the labels
    are left out and scored: the share of them on which the fit makes the labels' choice
    (A > gap), and the correlation of the fitted A with the labels'.
    """
    n = len(obs)
    order = rng.permutation(n)
    n_out = int(round(fc.holdout * n)) if n >= 10 else 0
    held, train = order[:n_out], order[n_out:]
    net = MLP(sizes, activation, rng=rng)
    opt = Adam(net.theta, fc.lr)
    x = np.asarray(obs, dtype=DTYPE)
    target = np.zeros((n, 2), dtype=DTYPE)
    target[:, LARGE] = adv - gap
    for _ in range(fc.updates):
        b = train[rng.integers(0, len(train), fc.batch)]
        out, cache = net.forward(x[b], keep=True)
        err = out[0] - target[b]
        if fc.loss == "huber":
            err = np.clip(err, -1.0, 1.0)
        net.backward(cache, (err / len(b))[None])
        opt.step(net.grad)
    stats = {"labels": int(n), "fitted_on": int(len(train)), "held_out": int(n_out)}
    if n_out >= 2:
        q = net.forward(x[held])[0]
        fitted = q[:, LARGE] - q[:, SMALL]
        want = adv[held] - gap
        stats["held_out_choice_agreement"] = float(np.mean((fitted > 0) == (want > 0)))
        if np.std(want) > 0 and np.std(fitted) > 0:
            stats["held_out_correlation"] = float(np.corrcoef(fitted, want)[0, 1])
    return net, stats


def gate_episodes(cfg, gate, env, finished, on_decision=None) -> tuple[list[float], float]:
    """
    Run `gate` (select, act) on `env` for whole episodes until `finished(episodes run)` holds.

    `on_decision(obs)`, if given, sees every decision state before the gate chooses. Returns the
    episodes' returns and the share of control steps on large.
    """
    returns, large, steps = _episodes(cfg, gate, env, finished, on_decision)
    return returns, large / max(steps, 1)


def _episodes(cfg, gate, env, finished, on_decision=None) -> tuple[list[float], int, int]:
    """gate_episodes' loop: the returns, the control steps on large and all control steps."""
    returns, large, steps = [], 0, 0
    while not finished(len(returns)):
        obs, t, done, ret, option = env.reset(), 0, False, 0.0, SMALL
        while not done:
            if t % cfg.n_omega == 0:
                if on_decision is not None:
                    on_decision(obs)
                option = gate.select(obs)
            obs, reward, terminated, truncated = env.step(gate.act(option, obs))
            ret += reward
            t += 1
            steps += 1
            large += option == LARGE
            done = terminated or truncated
        returns.append(ret)
    return returns, large, steps


def validation_episodes(cfg, fc: GateFitConfig) -> int:
    """Return how many episodes each candidate runs: `fc.validate` control steps of full-length episodes, >= 1."""
    return max(1, -(-fc.validate // cfg.episode_steps))


def score_gate(cfg, gate: AsymPolicy, fc: GateFitConfig) -> dict:
    """
    Run `gate` on the validation episodes and score it by the master's objective.

    The objective is the mean over episodes of the return less lambda times the FLOPs of every
    control step (the macro reward r_Omega = sum r - lambda * k * c_omega, summed over the
    episode). Every call makes the same episodes: a fresh environment seeded 30_000 + fc.seed.
    """
    env = cfg.spec.make_env(seed=30_000 + fc.seed, episode_steps=cfg.episode_steps)
    n = validation_episodes(cfg, fc)
    returns, large, steps = _episodes(cfg, gate, env, lambda k: k >= n)
    c = gate.costs
    cost = cfg.cost_lambda * (large * c.c_large + (steps - large) * c.c_small) / n
    return {"episodes": n, "return_mean": float(np.mean(returns)), "large_fraction": large / max(steps, 1),
            "cost_per_episode": float(cost), "objective": float(np.mean(returns) - cost)}


def labelled_episodes(cfg, gate: AsymPolicy, labeller: BranchLabeller, env, labels: int):
    """Run `gate` for whole episodes until `labels` decision states are labelled: (obs, A, returns, large share)."""
    xs, ys = [], []

    def label(obs):
        xs.append(np.array(obs, dtype=DTYPE))
        ys.append(labeller.advantage(obs))
    returns, large = gate_episodes(cfg, gate, env, lambda _: len(xs) >= labels, label)
    return xs, ys, returns, large


def fit_gate(cfg, policy: AsymPolicy, critic: MLP | None, fc: GateFitConfig, log=None):
    """
    Run the rounds of label and fit; return (the chosen policy, one dict per round, the choice).

    The chosen policy is the last round's fit, or with `fc.validate` the best of the trained
    master and every round's fit on the validation episodes (`score_gate`); the choice is then a
    dict of every candidate's score and the one kept (None without `fc.validate`). Label episodes
    start from seeds 20_000 + fc.seed onward, apart from the evaluator's (0), the training's
    evaluations (10_000 + seed) and the validation's (30_000 + fc.seed).
    """
    if cfg.mode != "asym" or policy.master is None:
        raise GateFitError(f"a {cfg.mode} run has no master to fit")
    if fc.tail and critic is None:
        raise GateFitError("tail=True needs the large critic")
    env = cfg.spec.make_env(seed=20_000 + fc.seed, episode_steps=cfg.episode_steps)
    labeller = BranchLabeller(cfg, policy, env, fc.horizon, critic if fc.tail else None)
    gap = cost_gap(cfg, policy)
    rng = np.random.default_rng(fc.seed)
    xs, ys, history = [], [], []
    gate, candidates = policy, [("trained master", policy)]
    for r in range(fc.rounds):
        x, y, returns, large = labelled_episodes(cfg, gate, labeller, env, fc.labels)
        xs += x
        ys += y
        adv = np.array(ys, dtype=np.float64)
        net, stats = fit_master(policy.master.sizes, policy.master.activation, np.stack(xs), adv, gap, fc, rng)
        row = {"round": r, "labelled_under": "trained master" if r == 0 else f"fit of round {r - 1}",
               "episodes": len(returns), "return_mean": float(np.mean(returns)), "large_fraction": float(large),
               "labels_large_pays": float(np.mean(np.array(y) > gap)), "cost_gap": gap, **stats}
        history.append(row)
        if log is not None:
            log(row)
        gate = with_master(policy, net)
        candidates.append((f"fit of round {r}", gate))
    if not fc.validate:
        return gate, history, None
    chosen, choice = choose_gate(cfg, candidates, fc)
    return chosen, history, choice


def choose_gate(cfg, candidates: list[tuple[str, AsymPolicy]], fc: GateFitConfig) -> tuple[AsymPolicy, dict]:
    """
    Return the candidate (name, gate) with the highest objective on the validation episodes, and the scores.

    A tie goes to the later candidate (a later round's fit has seen more labels).
    """
    scores = [{"candidate": name, **score_gate(cfg, g, fc)} for name, g in candidates]
    best = max(range(len(scores)), key=lambda i: (scores[i]["objective"], i))
    return candidates[best][1], {"chosen": scores[best]["candidate"], "candidates": scores}


TD_MASTER_DIR = "td_master"     # train --fit-gate keeps the TD-trained master's policy here
RECORD_FILE = "gate_fit.json"


def check_fittable(cfg) -> None:
    """Refuse, before any training, a run whose gate could not be fitted at its end (TrainConfig checks the mode)."""
    env = cfg.spec.make_env(seed=0, episode_steps=cfg.episode_steps)
    env.reset()
    restorable(env, cfg.task)


TRAIN_FIT = GateFitConfig()       # what train --fit-gate runs (and fit-gate without flags)


def fit_run(run_dir: Path, out_dir: Path, fc: GateFitConfig = TRAIN_FIT, log=None,
            command: str | None = None, critic: tuple[MLP, int] | None = None) -> dict:
    """
    Fit the gate of the trained run RUN and write the policy with the fitted master to OUT.

    OUT == RUN is the in-place fit of `train --fit-gate`: the TD-trained master's policy is kept in
    RUN/td_master first. OUT/gate_fit.json records the rounds, the settings and the command.
    `critic` (the large critic and the step it is of) replaces the one of RUN's training checkpoint.
    """
    from asym_control.training.checkpoint import load_policy, save_policy

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    cfg, policy = load_policy(run_dir)
    if cfg.mode != "asym":                          # before the critic is looked for
        raise GateFitError(f"{run_dir} is a {cfg.mode} run: it has no master to fit")
    if not fc.tail:
        critic, step = None, None
    else:
        critic, step = critic if critic is not None else large_critic(run_dir, cfg)
    t0 = time.perf_counter()
    fitted, history, choice = fit_gate(cfg, policy, critic, fc, log=log)
    wall = round(time.perf_counter() - t0, 1)
    if out_dir.resolve() == run_dir.resolve():
        save_policy(run_dir / TD_MASTER_DIR, dataclasses.replace(cfg, fit_gate=False, fit_gate_loss="huber"),
                    policy_tensors(policy))
    save_policy(out_dir, dataclasses.replace(cfg, fit_gate=True, fit_gate_loss=fc.loss), policy_tensors(fitted))
    record = {"source_run": str(run_dir), "critic_checkpoint_step": step, "config": dataclasses.asdict(fc),
              "rounds": history, "validation": choice, "command": command, "wall_time_s": wall}
    (out_dir / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


def policy_tensors(policy: AsymPolicy) -> dict[str, np.ndarray]:
    """Return the deployed tensors of `policy` (actors and master), as a policy checkpoint names them."""
    t = {}
    for option, actor in policy.actors.items():
        t.update(actor.net.state(f"{OPTION_NAMES[option]}.actor"))
    t.update(policy.master.state("master.q"))
    return t
