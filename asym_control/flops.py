"""
FLOPs per inference: the single function used by the trainer, the evaluator and the reports.

Convention (the paper's, read in the authors' code; it reproduces Table IV exactly):
FLOPs of a sub-policy actor = 2 x (multiply-adds of its weight matrices, the mean and the
log-std heads both included) + 3. Biases and activations are not counted.

The master (DQN, Q-network obs -> 32 -> 32 -> 2) is counted the same way without the
constant: 2 x multiply-adds of its weight matrices. Its cost is paid once per macro step, so
per control step it is amortised over n_omega (as in Table IV's Avg-FLOPs/Inf).
"""

from __future__ import annotations

from dataclasses import dataclass

ACTOR_CONSTANT = 3  # the authors' "+3"; kept so that Table IV's figures come out exactly
MASTER_UNITS = 32   # paper Section V-A.2: 2 hidden layers of 32 units for pi_Omega
N_OPTIONS = 2       # the master chooses between {small, large}

CONVENTION = ("FLOPs = 2 x weight multiply-adds of the actor (mean and log-std heads included) + 3; "
              "the master's 2 x multiply-adds are amortised over n_omega")


def _multiply_adds(sizes: list[int]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def actor_flops(obs_dim: int, act_dim: int, units: int, layers: int = 2) -> int:
    """Count the FLOPs of one inference of a SAC actor with `layers` hidden layers of `units`."""
    _check_positive(obs_dim=obs_dim, act_dim=act_dim, units=units, layers=layers)
    sizes = [obs_dim] + [units] * layers + [2 * act_dim]  # mean and log-std heads
    return 2 * _multiply_adds(sizes) + ACTOR_CONSTANT


def actor_ops(obs_dim: int, act_dim: int, units: int, precision: str = "fp32", layers: int = 2) -> dict[str, int]:
    """
    Return the actor's operations per inference by kind, in the FLOPs convention: {"float_ops", "int_ops"}.

    Their sum is actor_flops. At int8 (deploy.quantized) the multiply-adds of every layer but the
    observation's, which stays fp32, are integer ones (int8 x int8 into int32); the quantizing
    and rescaling around them (a few operations per unit) are outside the convention, as the
    activations are.
    """
    total = actor_flops(obs_dim, act_dim, units, layers)
    if precision != "int8":
        return {"float_ops": total, "int_ops": 0}
    int_ops = 2 * _multiply_adds([units] * layers + [2 * act_dim])
    return {"float_ops": total - int_ops, "int_ops": int_ops}


def master_flops(obs_dim: int, units: int = MASTER_UNITS, layers: int = 2) -> int:
    """Count the FLOPs of one inference of the master's Q-network (obs -> units x layers -> 2)."""
    _check_positive(obs_dim=obs_dim, units=units, layers=layers)
    return 2 * _multiply_adds([obs_dim] + [units] * layers + [N_OPTIONS])


@dataclass(frozen=True)
class CostTable:
    """Per-inference FLOPs of both sub-policies and the master, and the paper's relative costs."""

    small_flops: int
    large_flops: int
    master_flops: int
    n_omega: int

    @property
    def c_small(self) -> float:
        return 1.0  # costs are relative to the small sub-policy (paper Section V-A.2)

    @property
    def c_large(self) -> float:
        return self.large_flops / self.small_flops

    def cost(self, option: int) -> float:
        """c_omega for option 0 (small) or 1 (large)."""
        return self.c_large if option == 1 else self.c_small

    def per_step(self, large_fraction: float, with_master: bool = True) -> float:
        """Average FLOPs per control step: the selected sub-policy plus the amortised master."""
        sub = large_fraction * self.large_flops + (1.0 - large_fraction) * self.small_flops
        return sub + (self.master_flops / self.n_omega if with_master else 0.0)

    def per_step_of_mode(self, mode: str, large_fraction: float) -> float:
        """
        Return the FLOPs per control step of an agent of `mode`.

        Asym (the selected sub-policy plus the amortised master, at `large_fraction` of the steps
        on large), large or small alone. The one function behind the evaluator's, the cost
        monitor's and the plots' figures.
        """
        if mode == "asym":
            return self.per_step(large_fraction, with_master=True)
        if mode not in ("large", "small"):
            raise ValueError(f"mode must be asym, large or small, got {mode!r}")
        return float(self.large_flops if mode == "large" else self.small_flops)

    def as_dict(self) -> dict:
        return {
            "small_flops": self.small_flops,
            "large_flops": self.large_flops,
            "master_flops": self.master_flops,
            "c_small": self.c_small,
            "c_large": round(self.c_large, 4),
            "n_omega": self.n_omega,
            "convention": CONVENTION,
        }


def cost_table(obs_dim: int, act_dim: int, small_units: int, large_units: int,
               n_omega: int = 5) -> CostTable:
    _check_positive(n_omega=n_omega)
    return CostTable(
        small_flops=actor_flops(obs_dim, act_dim, small_units),
        large_flops=actor_flops(obs_dim, act_dim, large_units),
        master_flops=master_flops(obs_dim),
        n_omega=n_omega,
    )


class SizeError(ValueError):
    """A network size that is not a positive integer."""


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value <= 0:
            raise SizeError(f"{name} must be a positive integer, got {value!r}")
