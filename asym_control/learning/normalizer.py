"""
Running standardisation of a sub-policy's observations, and its folding into the deployed actor.

HER's reference implementation (Andrychowicz et al. 2017; OpenAI baselines' `her`) standardises
observations and goals with running statistics, and Fetch needs it: positions sit near 1 m with
a spread of centimetres, and velocities are scaled by the control period. Here each sub-policy's
learner keeps the mean and variance of every batch it learns from (after hindsight relabelling,
so the goals are those it is trained on), merged with Chan et al.'s parallel update, and feeds
(x - mean) / max(std, eps) to its actor and critics. Unlike baselines' there is no clipping of
the standardised inputs: without it the standardisation is an affine map, folded exactly into the
actor's first layer when the policy is saved, so the deployed actor (nodes, evaluation, ONNX
export, FLOPs) is the plain network it always was.
"""

from __future__ import annotations

import numpy as np

from asym_control.learning.nets import DTYPE, MLP, shared_array

STD_FLOOR = 1e-2      # baselines' her normaliser eps: a constant input is not blown up


class ObsNormalizer:
    """Mean and variance over every batch seen; `apply` standardises, `fold` moves it into a first layer."""

    _FIELDS = ("mean", "var", "count", "shift", "inv_std")

    def __init__(self, dim: int, floor: float = STD_FLOOR):
        self.floor = float(floor)
        self.mean = np.zeros(dim, np.float64)
        self.var = np.ones(dim, np.float64)
        self.count = np.zeros(1, np.float64)
        self.shift = np.zeros(dim, DTYPE)              # what apply uses, float32 as the networks
        self.inv_std = np.ones(dim, DTYPE)

    def update(self, x: np.ndarray) -> None:
        """Merge the rows of x (B, dim) into the statistics."""
        n = x.shape[0]
        if n == 0:
            return
        m = x.mean(axis=0, dtype=np.float64)
        v = x.var(axis=0, dtype=np.float64)
        c = self.count[0]
        total = c + n
        delta = m - self.mean
        self.var[...] = (self.var * c + v * n + delta * delta * (c * n / total)) / total
        self.mean += delta * (n / total)
        self.count[0] = total
        self._refresh()

    def _refresh(self) -> None:
        """Derive what `apply` uses from the statistics."""
        self.shift[...] = self.mean
        self.inv_std[...] = 1.0 / np.maximum(np.sqrt(self.var), self.floor)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.shift) * self.inv_std).astype(DTYPE, copy=False)

    def fold(self, net: MLP) -> np.ndarray:
        """
        Return `net`'s parameters with the standardisation folded into its first layer.

        net(apply(x)) == folded(x) up to float32 rounding: W' = diag(1/std) W, b' = b - (mean/std) W.
        Inputs past the observation's (a critic's action) pass unchanged.
        """
        extra = net.sizes[0] - self.shift.size
        shift = np.r_[self.shift.astype(np.float64), np.zeros(extra)]
        inv_std = np.r_[self.inv_std.astype(np.float64), np.ones(extra)]
        theta = net.theta.copy()
        views = net._views(theta)
        w, b = views[0], views[1]                               # (K, in, out), (K, 1, out)
        w0 = net.params[0].astype(np.float64)
        w[...] = (w0 * inv_std[None, :, None]).astype(DTYPE)
        b[...] = (net.params[1] - np.einsum("i,kio->ko", shift * inv_std, w0)[:, None]).astype(DTYPE)
        return theta

    def share(self) -> None:
        """Put the statistics in shared memory: a forked learner updates them, this process acts with them."""
        for f in self._FIELDS:
            setattr(self, f, shared_array(getattr(self, f)))

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{f}": getattr(self, f) for f in ("mean", "var", "count")}

    def load_state(self, t: dict[str, np.ndarray], prefix: str) -> None:
        self.mean[...] = t[f"{prefix}.mean"]
        self.var[...] = t[f"{prefix}.var"]
        self.count[...] = t[f"{prefix}.count"]
        self._refresh()


def raw_input_critic(cfg, tensors: dict[str, np.ndarray], prefix: str, units: int) -> MLP:
    """
    Return the twin critic `prefix`.critic of a training checkpoint's tensors, taking raw observations.

    `cfg` is the run's TrainConfig; a run with standardised inputs has its learner's statistics
    (`prefix`.obs_norm) folded into the critic's first layer, as the saved actors have.
    """
    spec = cfg.spec
    critic = MLP([spec.obs_dim + spec.act_dim, units, units, 1], cfg.sac.activation, ensemble=2)
    critic.load_state(tensors, f"{prefix}.critic")
    if cfg.sac.normalize_obs:
        norm = ObsNormalizer(spec.obs_dim)
        norm.load_state(tensors, f"{prefix}.obs_norm")
        critic.theta[...] = norm.fold(critic)
    return critic
