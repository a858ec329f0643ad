"""
The paper's figures from evaluations or recordings (matplotlib, PNG and SVG).

- timeline (Fig. 4/5 style): which sub-policy acted at every control step (white = small,
  yellow = large, on a dark strip), and below it the actions of the selected sub-policy; in the
  offline analysis mode also the actions the unselected one would have taken (transparent).
- scatter (Fig. 6 style): one dot per episode, performance scaled so that a random policy is 0
  and L-only is 1, against FLOPs per control step scaled so that L-only is 1, with histograms.
- sweep (Fig. 2 style): return and share on large against lambda, one point per run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SMALL_COLOR = "#ffffff"
LARGE_COLOR = "#ffd900"
STRIP_BG = "#303030"


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    _plt().close(fig)
    return paths


def timeline(options: np.ndarray, actions: np.ndarray, control_dt: float, title: str, out: Path,
             unselected: np.ndarray | None = None, actuator_names: list[str] | None = None) -> list[Path]:
    plt = _plt()
    n, act_dim = actions.shape
    t = np.arange(n) * control_dt
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True,
                                   gridspec_kw=dict(height_ratios=[1, 5], hspace=0.05))
    ax0.set_facecolor(STRIP_BG)
    large = options == 1
    ax0.scatter(t[~large], np.zeros((~large).sum()), s=10, c=SMALL_COLOR, label="small", edgecolors="none")
    ax0.scatter(t[large], np.zeros(large.sum()), s=10, c=LARGE_COLOR, label="large", edgecolors="none")
    ax0.set_yticks([])
    ax0.set_ylabel("sub-policy", rotation=0, ha="right", va="center")
    ax0.legend(loc="upper right", ncol=2, fontsize=8, facecolor=STRIP_BG, labelcolor="white", framealpha=0.9,
               bbox_to_anchor=(1.0, 1.9))
    ax0.set_title(title)
    colors = plt.get_cmap("tab10")
    names = actuator_names or [f"a{i}" for i in range(act_dim)]
    for j in range(act_dim):
        ax1.scatter(t, actions[:, j], s=4, color=colors(j % 10), label=names[j])
        if unselected is not None:
            ax1.scatter(t, unselected[:, j], s=4, color=colors(j % 10), alpha=0.15)
    ax1.set_ylim(-1.05, 1.05)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("action (normalised, [-1, 1])")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13 if unselected is None else -0.16),
               ncol=min(act_dim, 6), fontsize=8, markerscale=3, frameon=False)
    if unselected is not None:
        ax1.set_xlabel("time (s)    [opaque: the selected sub-policy's actions; "
                       "transparent: what the unselected one would have done (offline analysis)]")
    return _save(fig, out)


def scatter(per_episode: list[dict], random_return: float, l_only_return: float, title: str,
            out: Path) -> list[Path]:
    plt = _plt()
    perf = np.array([(e["return"] - random_return) / (l_only_return - random_return) for e in per_episode])
    cost = np.array([e["flops_per_inference"] / e["flops_large_only"] for e in per_episode])
    fig = plt.figure(figsize=(6.5, 6))
    gs = fig.add_gridspec(2, 2, width_ratios=[4, 1], height_ratios=[1, 4], wspace=0.05, hspace=0.05)
    ax = fig.add_subplot(gs[1, 0])
    top = fig.add_subplot(gs[0, 0], sharex=ax)
    right = fig.add_subplot(gs[1, 1], sharey=ax)
    ax.scatter(cost, perf, s=14, c=LARGE_COLOR, edgecolors="k", linewidths=0.4, label="one episode")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="L-only return")
    ax.axvline(1.0, color="grey", lw=0.8, ls=":", label="L-only cost")
    ax.set_xlabel("FLOPs per control step / L-only's")
    ax.set_ylabel("return, scaled (random = 0, L-only = 1)")
    ax.set_xlim(0, max(1.1, cost.max() * 1.05))
    ax.legend(loc="lower right", fontsize=8)
    top.hist(cost, bins=20, range=ax.get_xlim(), color="grey")
    right.hist(perf, bins=20, orientation="horizontal", color="grey")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("episodes")
    right.set_xlabel("episodes")
    top.set_title(title)
    return _save(fig, out)


def sweep(points: list[dict], title: str, out: Path) -> list[Path]:
    """points: {cost_lambda, return_mean, return_std, large_fraction} per run."""
    plt = _plt()
    points = sorted(points, key=lambda p: p["cost_lambda"])
    lam = np.array([p["cost_lambda"] for p in points])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.errorbar(lam, [p["return_mean"] for p in points], yerr=[p["return_std"] for p in points], marker="o",
                color="k", capsize=3, label="return")
    positive = lam[lam > 0]
    if len(positive) and np.any(lam == 0):
        # lambda = 0 (no cost) on the same axis: linear below the smallest positive lambda
        ax.set_xscale("symlog", linthresh=positive.min(), linscale=0.5)
    elif len(positive):
        ax.set_xscale("log")
    ax.set_xticks(lam)
    ax.set_xticklabels(["0" if v == 0 else f"{v:g}" for v in lam])
    ax.set_xlabel("lambda (cost coefficient)")
    ax.set_ylabel("return")
    ax2 = ax.twinx()
    ax2.plot(lam, [100 * p["large_fraction"] for p in points], marker="s", color="#d9a300", label="% on large")
    ax2.set_ylabel("% of control steps on large")
    ax2.set_ylim(0, 100)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, out)


def unselected_actions(policy, obs_trace: np.ndarray, options: np.ndarray) -> np.ndarray:
    """Offline analysis: what the sub-policy that was not selected would have done at each step."""
    out = np.zeros((len(options), policy.cfg.spec.act_dim))
    for i, (obs, o) in enumerate(zip(obs_trace, options)):
        other = 1 - int(o)
        if other in policy.actors:
            out[i] = policy.act(other, obs)
        else:
            out[i] = np.nan
    return out


def random_policy_return(cfg, episodes: int, seed: int) -> float:
    env = cfg.spec.make_env(seed=seed, episode_steps=cfg.episode_steps)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, r, term, trunc = env.step(rng.uniform(-1, 1, cfg.spec.act_dim))
            total += r
            done = term or trunc
    return total / episodes
