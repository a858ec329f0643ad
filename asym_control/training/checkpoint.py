"""
Checkpoints: safetensors weights plus a JSON config.

Nothing is ever unpickled.

A run directory holds
  config.json            the run's full TrainConfig
  policy.safetensors     the deployment weights (actors, master Q-network), with the task and
                         widths in the safetensors metadata so a file cannot be paired with the
                         wrong config unnoticed
  resume/latest          name of the newest complete training checkpoint
  resume/step_N/         training.safetensors (learners, optimisers, buffers) + state.json
Every file is written to a temporary name, flushed and renamed into place (atomic on POSIX); a
training checkpoint becomes visible only when `resume/latest` is switched to it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from asym_control.training.config import TrainConfig
from asym_control.tasks.registry import UnknownTask

POLICY_FILE = "policy.safetensors"
CONFIG_FILE = "config.json"
RESUME_DIR = "resume"


class CheckpointError(Exception):
    """A checkpoint is missing, damaged, or does not fit what it is used for."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _atomic_json(path: Path, obj) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


def _metadata(cfg: TrainConfig) -> dict[str, str]:
    return {"task": cfg.task, "mode": cfg.mode, "small_units": str(cfg.small_units),
            "large_units": str(cfg.large_units), "format": "asym_control.policy/1"}


def save_policy(run_dir: Path, cfg: TrainConfig, tensors: dict[str, np.ndarray]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic_json(run_dir / CONFIG_FILE, cfg.to_dict())
    _atomic_write(run_dir / POLICY_FILE,
                  lambda p: save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                                      str(p), metadata=_metadata(cfg)))


def load_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"checkpoint directory {run_dir} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: not a checkpoint directory made by 'asym-control train'")
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except UnknownTask as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is not a valid run config: {e}") from None


def _load_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is damaged or truncated ({e})") from None


def load_policy(run_dir: Path, expect_task: str | None = None):
    """(TrainConfig, AsymPolicy) from a run directory, every shape checked against the task."""
    from asym_control.asym.policy import AsymPolicy

    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    if expect_task is not None and expect_task != cfg.task:
        raise CheckpointError(f"{run_dir} is a checkpoint of task {cfg.task!r}, not {expect_task!r}")
    tensors, meta = _load_safetensors(run_dir / POLICY_FILE)
    want = _metadata(cfg)
    for key in ("task", "mode", "small_units", "large_units"):
        if meta.get(key) != want[key]:
            raise CheckpointError(
                f"{run_dir / POLICY_FILE} was saved for {key}={meta.get(key)!r} but {CONFIG_FILE} "
                f"says {want[key]!r}: weights and config do not belong together")
    policy = AsymPolicy(cfg)
    for name, shape in policy.expected_shapes().items():
        if name not in tensors:
            raise CheckpointError(f"{run_dir / POLICY_FILE} lacks {name}")
        if tensors[name].shape != shape:
            raise CheckpointError(
                f"{run_dir / POLICY_FILE}: {name} has {tensors[name].shape[0]} parameters, but "
                f"{cfg.task} (obs {cfg.spec.obs_dim}, act {cfg.spec.act_dim}) with widths "
                f"{cfg.small_units}/{cfg.large_units} needs {shape[0]}")
    policy.load_tensors(tensors)
    return cfg, policy


def save_training(run_dir: Path, step: int, tensors: dict[str, np.ndarray], state: dict,
                  keep: int = 1) -> Path:
    root = run_dir / RESUME_DIR
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step_{step:09d}"
    tmp = root / f".step_{step:09d}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp / "training.safetensors"))
    (tmp / "state.json").write_text(json.dumps(state))
    for f in tmp.iterdir():
        with open(f, "rb+") as fh:
            os.fsync(fh.fileno())
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    _atomic_write(root / "latest", lambda p: p.write_text(target.name + "\n"))
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_training(run_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    root = Path(run_dir) / RESUME_DIR
    latest = root / "latest"
    if not latest.is_file():
        raise CheckpointError(f"{run_dir} has no training checkpoint to resume from ({latest} is missing)")
    target = root / latest.read_text().strip()
    tensors, _ = _load_safetensors(target / "training.safetensors")
    try:
        state = json.loads((target / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{target / 'state.json'} is damaged ({e})") from None
    return tensors, state
