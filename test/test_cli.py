"""The CLI as a user meets it: train, get killed, resume, evaluate; bad input gets one clear line."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "asym_control.cli"]
TINY = ["--task", "walker-stand", "--steps", "400", "--episode-steps", "50", "--checkpoint-every", "100",
        "--learning-starts", "50", "--eval-every", "0", "--no-progress"]


def run(*args, check=False):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=300, check=check)


def _processes_with(text: str) -> list[int]:
    """Pids of the live (not zombie) processes whose command line contains text."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and text in (d / "cmdline").read_bytes().decode(errors="replace") \
                    and ") Z " not in (d / "stat").read_text():
                pids.append(int(d.name))
        except OSError:
            pass
    return pids


def test_train_killed_resume_and_eval(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(CLI + ["train", "--mode", "asym", "--out", str(out)] + TINY,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latest = out / "resume" / "latest"
    deadline = time.time() + 120
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert latest.exists(), proc.stderr.read() if proc.poll() is not None else "no checkpoint in 120 s"
    assert len(_processes_with(str(out))) == 2  # the run and its forked large-sub-policy learner
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 10
    while _processes_with(str(out)) and time.time() < deadline:
        time.sleep(0.05)
    assert not _processes_with(str(out)), "the learner outlived the killed run"
    first = int(latest.read_text().strip().split("_")[1])
    assert 100 <= first < 400
    # without --resume the directory is protected
    r = run("train", "--mode", "asym", "--out", str(out), *TINY)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = run("train", "--mode", "asym", "--out", str(out), "--resume", *TINY)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 400
    assert latest.read_text().strip() == "step_000000400"
    invocations = (out / "invocations.jsonl").read_text().splitlines()
    assert len(invocations) == 2 and "--resume" in json.loads(invocations[-1])["command"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tb").iterdir())
    r = run("eval", str(out), "--episodes", "2", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    for key in ("return_mean", "return_std", "large_fraction", "flops_per_inference", "flops_reduction"):
        assert isinstance(result[key], float), key
    assert 0.0 <= result["large_fraction"] <= 1.0
    # FLOPs follow from the measured usage: selected sub-policy plus master amortised over n_omega
    expect = result["large_fraction"] * 12803 + (1 - result["large_fraction"]) * 707 + 3712 / 5
    assert result["flops_per_inference"] == pytest.approx(expect)
    assert result["flops_reduction"] == pytest.approx(1 - expect / 12803)
    # the same seed evaluates to the same numbers
    again = json.loads(run("eval", str(out), "--episodes", "2", "--seed", "3", "--json").stdout)
    assert again["return_mean"] == result["return_mean"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    for mode in ("large", "small"):
        r = run("train", "--mode", mode, "--out", str(root / mode), "--task", "walker-stand", "--steps", "60",
                "--episode-steps", "30", "--learning-starts", "30", "--eval-every", "0", "--no-progress")
        assert r.returncode == 0, r.stderr
    return root


def one_line_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_unknown_task(tmp_path):
    one_line_error(run("train", "--task", "walker-fly", "--steps", "10", "--out", str(tmp_path / "x")),
                   "unknown task 'walker-fly'", "walker-stand")
    one_line_error(run("flops", "--task", "nope"), "unknown task")


def test_negative_or_zero_steps(tmp_path):
    r = run("train", "--task", "walker-stand", "--steps", "-5", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--steps" in r.stderr and "must be positive" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("train", "--task", "walker-stand", "--steps", "0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "must be positive" in r.stderr


def test_unknown_mode(tmp_path):
    one_line_error(run("train", "--task", "walker-stand", "--mode", "medium", "--steps", "10",
                       "--out", str(tmp_path / "x")), "mode must be one of asym, large, small")


def test_missing_checkpoint(tmp_path):
    one_line_error(run("eval", str(tmp_path / "nothing")), "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(run("eval", str(tmp_path / "empty")), "config.json", "is missing")
    one_line_error(run("train", "--task", "walker-stand", "--steps", "10", "--out", str(tmp_path / "empty"),
                       "--resume"), "nothing to resume")


def test_truncated_checkpoint(trained, tmp_path):
    import shutil
    bad = tmp_path / "truncated"
    shutil.copytree(trained / "large", bad)
    weights = bad / "policy.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    one_line_error(run("eval", str(bad)), "damaged or truncated")
    (bad / "config.json").write_text('{"task": "walker-stand", "mode": ')
    one_line_error(run("eval", str(bad)), "not a valid run config")


def test_checkpoint_of_another_task_or_width(trained, tmp_path):
    import shutil
    one_line_error(run("eval", str(trained / "large"), "--task", "finger-spin"),
                   "checkpoint of task 'walker-stand', not 'finger-spin'")
    # weights of one width under a config of another
    mixed = tmp_path / "mixed"
    shutil.copytree(trained / "large", mixed)
    cfg = json.loads((mixed / "config.json").read_text())
    cfg["large_units"] = 32
    (mixed / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("eval", str(mixed)), "large_units='64'", "'32'", "do not belong together")
    # weights of another task under this config
    other = tmp_path / "other"
    shutil.copytree(trained / "large", other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["task"] = "finger-spin"
    (other / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("eval", str(other)), "task='walker-stand'", "do not belong together")
    # a renamed tensor file: metadata agrees, shapes do not
    from safetensors.numpy import load_file, save_file
    t = load_file(str(trained / "small" / "policy.safetensors"))
    renamed = tmp_path / "renamed"
    shutil.copytree(trained / "large", renamed)
    save_file({"large.actor.theta": t["small.actor.theta"]}, str(renamed / "policy.safetensors"),
              metadata={"task": "walker-stand", "mode": "large", "small_units": "8", "large_units": "64",
                        "format": "asym_control.policy/1"})
    one_line_error(run("eval", str(renamed)), "large.actor.theta has", "needs")


def test_resume_of_another_run_is_refused(trained):
    one_line_error(run("train", "--task", "walker-stand", "--mode", "asym", "--steps", "10", "--out",
                       str(trained / "large"), "--resume"), "mode='large', not 'asym'")


def test_recordings_must_be_mcap(tmp_path):
    one_line_error(run("launch", "walker", "--record", str(tmp_path / "x.bag")), "--record must name a .mcap file")
    one_line_error(run("record", "--out", str(tmp_path / "x.db3")), "--out must name a .mcap file")


@pytest.mark.parametrize("pin, message", [
    ("master", "expected NODE[,NODE...]:CPU[,CPU...]"),
    ("master:x", "expected NODE[,NODE...]:CPU[,CPU...]"),
    ("master:4096", "CPU(s) [4096] not available"),
    ("bogus:0", "names no node of the walker graph: bogus"),
])
def test_bad_pins_are_refused_before_any_node_starts(pin, message):
    one_line_error(run("launch", "walker", "--pin", pin), message)


def test_a_negative_cpu_latency_is_refused():
    r = run("launch", "walker", "--cpu-latency-us", "-1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--cpu-latency-us: must be >= 0, got -1" in r.stderr


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    """
    A user's mistake is one line and exit status 2.

    A bug inside the package is not hidden behind that: its exception (and traceback) comes
    through.
    """
    import asym_control.flops as flops
    from asym_control import cli

    def broken(*a, **k):
        raise ValueError("internal: shapes do not match")
    monkeypatch.setattr(flops, "cost_table", broken)
    with pytest.raises(ValueError, match="internal: shapes do not match"):
        cli.main(["flops", "--task", "walker-stand"])
    assert cli.main(["flops", "--task", "no-such-task"]) == 2


def test_a_negative_lambda_is_a_one_line_error(tmp_path):
    r = subprocess.run(CLI + ["train", "--task", "walker-stand", "--steps", "10", "--lambda", "-0.1",
                              "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "lambda must be a finite number >= 0" in r.stderr and "Traceback" not in r.stderr


def test_gamma_sets_both_learners_and_is_checked(tmp_path):
    from asym_control.cli import build_parser, train_config

    base = ["train", "--task", "walker-stand", "--steps", "10", "--out", str(tmp_path / "r")]
    cfg = train_config(build_parser().parse_args(base + ["--gamma", "0.95"]))
    assert cfg.sac.gamma == cfg.dqn.gamma == 0.95
    default = train_config(build_parser().parse_args(base))
    assert default.sac.gamma == default.dqn.gamma == 0.99          # Table I
    assert default.dqn.target_update_interval == 500
    assert train_config(build_parser().parse_args(base + ["--master-target-update", "2500"])) \
        .dqn.target_update_interval == 2500
    assert default.dqn.batch_size == 32 and default.dqn.gradient_steps == 1
    assert train_config(build_parser().parse_args(base + ["--master-gradient-steps", "4"])).dqn.gradient_steps == 4
    both = train_config(build_parser().parse_args(base + ["--gamma", "0.98", "--master-gamma", "0.95"]))
    assert (both.sac.gamma, both.dqn.gamma) == (0.98, 0.95)
    big = train_config(build_parser().parse_args(base + ["--master-batch", "256"]))
    assert big.dqn.batch_size == 256 and big.dqn.buffer_size == 256    # the default schedule's replay holds a batch
    for bad in ("1", "0", "-0.5", "nan", "x"):
        for flag in ("--gamma", "--master-gamma"):
            r = run("train", "--task", "walker-stand", "--steps", "10", flag, bad, "--out", str(tmp_path / "r"))
            assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)


def test_the_sub_policies_learning_rate_polyak_and_random_actions_reach_the_config(tmp_path):
    from asym_control.cli import build_parser, train_config

    base = ["train", "--task", "walker-stand", "--steps", "10", "--out", str(tmp_path / "r")]
    default = train_config(build_parser().parse_args(base)).sac
    assert (default.lr, default.tau, default.random_actions) == (3e-4, 0.005, 0.0)     # Table I
    zoo = train_config(build_parser().parse_args(
        base + ["--lr", "1e-3", "--tau", "0.05", "--random-actions", "0.3"])).sac
    assert (zoo.lr, zoo.tau, zoo.random_actions) == (1e-3, 0.05, 0.3)
    for flag, bad in (("--lr", "0"), ("--lr", "-1"), ("--tau", "0"), ("--tau", "1.5"),
                      ("--random-actions", "1"), ("--random-actions", "-0.1"), ("--random-actions", "x")):
        r = run("train", "--task", "walker-stand", "--steps", "10", flag, bad, "--out", str(tmp_path / "r"))
        assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr, (flag, bad, r.stderr)


def test_eval_of_a_reaching_task_prints_its_success_rate():
    root = Path(__file__).resolve().parent.parent
    r = run("eval", str(root / "checkpoints" / "arm-reach" / "asym"), "--episodes", "2")
    assert r.returncode == 0, r.stderr
    assert re.search(r"success\s+[01]\.\d{3} \(final distance to the goal \d\.\d{3} m", r.stdout), r.stdout
    r = run("eval", str(root / "checkpoints" / "walker-stand" / "asym"), "--episodes", "1")
    assert r.returncode == 0 and "success" not in r.stdout            # no goal, no success rate
