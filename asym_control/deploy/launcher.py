"""
`asym-control launch <robot>`.

Start the graph of config/<robot>.yaml with real rclpy, wait for the episodes, print the summary,
and stop every node cleanly.

launch and launch_ros are not installable from PyPI, so this is the package's own launcher for
machines without a ROS distribution; launch/<robot>.launch.py starts the same nodes from the same
YAML where `ros2 launch` exists.

Multi-process (default): one child process per node. Each child is killed by the kernel if this
process dies (PR_SET_PDEATHSIG), and on any exit here the children get SIGINT, then SIGKILL
after a grace period: no orphan processes.
Single-process (--single-process): every node in this process on one executor: the EventsExecutor
by default (ASYM_EXECUTOR=multi for rclpy's MultiThreadedExecutor; with the GIL its threads add
latency without adding throughput, docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from asym_control.children import python_command
from asym_control.deploy.graph import CLOCK_SOURCES, FINISHING_NODES, NodeSpec, config_path, load_graph, with_sim_time

STOP_GRACE_S = 5.0
# Each node process starts through children.python_command's trampoline instead of a preexec_fn
# (which runs between fork and exec, unsafe once this process has DDS threads): the kernel kills it
# when the launcher dies (PR_SET_PDEATHSIG, kept across exec), it leaves at once if the launcher
# is already gone, takes its CPUs, and becomes the node.


def parse_pins(specs: list[str] | None) -> dict[str, set[int]]:
    """
    Parse `--pin NAME[,NAME...]:CPU[,CPU...]` (repeatable) into {node name: CPUs}.

    Each named node's process may run only on those CPUs (sched_setaffinity, as `taskset` or a
    launch_ros Node's `prefix="taskset -c ..."`). Raises GraphError on a malformed spec or a CPU
    this process may not use.
    """
    pins: dict[str, set[int]] = {}
    allowed = os.sched_getaffinity(0)
    for spec in specs or []:
        names, sep, cpus = spec.partition(":")
        try:
            cpu_set = {int(c) for c in cpus.split(",")} if sep else set()
        except ValueError:
            cpu_set = set()
        nodes = [n.strip() for n in names.split(",") if n.strip()]
        if not nodes or not cpu_set:
            raise GraphError(f"--pin {spec!r}: expected NODE[,NODE...]:CPU[,CPU...], e.g. master,small,large:1")
        if not cpu_set <= allowed:
            raise GraphError(f"--pin {spec!r}: CPU(s) {sorted(cpu_set - allowed)} not available "
                             f"(this process may use {sorted(allowed)})")
        for n in nodes:
            pins[n] = cpu_set
    return pins


def _ros_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_ros_value(x) for x in v) + "]"
    if isinstance(v, str):
        # a YAML single-quoted scalar: stays a string ('', 'true', '1.0', JSON included)
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


@dataclass
class Outcome:
    summaries: list[dict] = field(default_factory=list)
    sim: dict | None = None
    selections: list[int] = field(default_factory=list)
    actions: list[list[float]] = field(default_factory=list)
    error: str | None = None


class GraphError(RuntimeError):
    pass


@dataclass
class _Watcher:
    """The launcher's own rclpy node: episode summaries (and, on request, every step)."""

    node: object
    outcome: Outcome
    # every node's newest status on /diagnostics: name -> (time received, message, values)
    status: dict = field(default_factory=dict)

    def on_diagnostics(self, msg) -> None:
        for st in msg.status:
            self.status[st.name] = (time.monotonic(), st.message, {kv.key: kv.value for kv in st.values})

    def status_lines(self, names=("asym/cost_monitor", "asym/master")) -> str:
        """Return the newest status of the nodes that decide whether an episode is summarised."""
        out = []
        for name in names:
            if name not in self.status:
                out.append(f"\n  {name}: no status received")
                continue
            t, message, values = self.status[name]
            keys = [k for k in values if "." not in k]      # its own counters, not the other nodes'
            out.append(f"\n  {name} status {time.monotonic() - t:.1f} s ago: {message}; "
                       + ", ".join(f"{k}={values[k]}" for k in keys))
        return "".join(out)


def _overrides(episodes: int | None, lockstep: bool | None, checkpoint_dir: str | None,
               rate_hz: float | None, seed: int | None) -> dict:
    o: dict = {"*": {}, "sim": {}, "standin": {}}
    if episodes is not None:
        o["sim"]["episodes"] = episodes
        o["standin"]["episodes"] = episodes
    if lockstep is not None:
        o["sim"]["lockstep"] = lockstep
    if rate_hz is not None:
        o["sim"]["rate_hz"] = float(rate_hz)
    if seed is not None:
        o["sim"]["seed"] = seed
        o["standin"]["seed"] = seed
    if checkpoint_dir is not None:
        o["*"]["checkpoint_dir"] = str(Path(checkpoint_dir).resolve())
    return o


def run_graph(robot: str = "walker", episodes: int = 1, lockstep: bool | None = None,
              checkpoint_dir: str | None = None, single_process: bool = False, rate_hz: float | None = None,
              seed: int | None = None, timeout_s: float = 600.0, trace: bool = False,
              extra: dict | None = None, on_started=None, domain_id: int | None = None,
              record: Path | None = None, standin: bool = False, pins: dict[str, set[int]] | None = None,
              cpu_latency_us: int | None = None, sim_time: bool = False) -> Outcome:
    """
    Run the graph until `episodes` episodes are summarised (or `timeout_s`); always stops it.

    `pins`: {node name: CPUs} for nodes in their own processes (parse_pins).
    `cpu_latency_us`: hold a PM QoS CPU latency request while the graph runs (cpulatency.py; 0:
    idle CPUs poll instead of halting).
    `sim_time`: every node but the simulator runs on its /clock (graph.with_sim_time).
    `record`: write every topic of the graph to this MCAP file (recording.McapRecorder).
    `domain_id` (default: $ROS_DOMAIN_ID) isolates the graph: a node killed with SIGKILL stays in
    DDS discovery until its lease expires, and reliable writers of a later graph on the same
    domain would wait on its dead readers.
    """
    import rclpy

    overrides = _overrides(episodes, lockstep, checkpoint_dir, rate_hz, seed)
    # the simulator leaves only once this launcher's reader has matched its statistics (sim_done)
    overrides["sim"]["done_readers"] = 1
    if trace or record is not None:
        # the master decides nothing before this process's reader is matched too
        overrides["master"] = {"wait_for_subscribers": 2}
    if record is not None:
        overrides["sim"] = {**overrides.get("sim", {}), "wait_for_subscribers": 2}
    for k, v in (extra or {}).items():
        overrides.setdefault(k, {}).update(v)
    specs = load_graph(robot, overrides)
    if not standin:
        specs = [sp for sp in specs if sp.name != "standin"]
    elif not any(sp.name == "standin" for sp in specs):
        raise GraphError(f"config/{robot}.yaml has no stand-in")
    if not any(sp.name in ("sim", "standin") for sp in specs):
        raise GraphError(f"the {robot} graph has no simulator: run it with --standin, or start it with "
                         f"launch/{robot}.launch.py next to the robot's driver")
    if sim_time:
        if not any(sp.name in CLOCK_SOURCES for sp in specs):
            raise GraphError(f"--use-sim-time: the {robot} graph has no simulator publishing /clock")
        specs = with_sim_time(specs)
    unknown = sorted(set(pins or {}) - {sp.name for sp in specs})
    if unknown:
        raise GraphError(f"--pin names no node of the {robot} graph: {', '.join(unknown)} "
                         f"(nodes: {', '.join(sp.name for sp in specs)})")
    if pins and single_process:
        raise GraphError("--pin places node processes: it does not apply to --single-process")
    params_file = config_path(robot)
    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    cpu_request = None
    if cpu_latency_us is not None:
        from asym_control.deploy.cpulatency import CpuLatencyError, CpuLatencyRequest
        try:
            cpu_request = CpuLatencyRequest(cpu_latency_us)
        except CpuLatencyError as e:
            raise GraphError(f"--cpu-latency-us: {e}") from None
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env.get("ROS_DOMAIN_ID", "0")))
    procs: dict[str, subprocess.Popen] = {}
    log_dir: Path | None = None
    executor = None
    spin_thread = None
    recorder = None
    watcher = None
    in_process = {}
    try:
        from asym_control.nodes.common import make_executor

        watcher = _make_watcher(trace, context)
        if record is not None:
            from asym_control.evaluation.recording import McapRecorder
            recorder = McapRecorder(watcher.node, record)
        executor = make_executor(context)
        if single_process:
            for spec in specs:
                in_process[spec.name] = _make_node(spec, params_file, context)
                executor.add_node(in_process[spec.name])
        else:
            log_dir = Path(tempfile.mkdtemp(prefix="asym-launch-"))
            for spec in specs:
                procs[spec.name] = _start_process(spec, params_file, log_dir, env, (pins or {}).get(spec.name))
        executor.add_node(watcher.node)
        spin_thread = threading.Thread(target=_spin, args=(executor,), daemon=True)
        spin_thread.start()
        if on_started is not None:
            on_started(procs, watcher.outcome)
        deadline = time.monotonic() + timeout_s
        while len(watcher.outcome.summaries) < episodes:
            for name, p in procs.items():
                if p.poll() is not None and not (name in FINISHING_NODES and p.returncode == 0):
                    err = Path(p.log_path).read_text(errors="replace").strip().splitlines()
                    reason = next((line for line in reversed(err) if line.strip()), f"exit status {p.returncode}")
                    if name not in ("small", "large"):   # a sub-policy's loss is the master's to handle
                        raise GraphError(f"node {name} stopped: {reason}")
            for name, node in in_process.items():
                if getattr(node, "exit_code", None) and name not in FINISHING_NODES:
                    raise GraphError(f"node {name} stopped with status {node.exit_code} (its log says why)")
            if time.monotonic() > deadline:
                raise GraphError(f"timed out after {timeout_s:.0f} s with "
                                 f"{len(watcher.outcome.summaries)} of {episodes} episode(s) done"
                                 + _last_words(procs) + watcher.status_lines())
            time.sleep(0.05)
        # the simulator's statistics, and the traced steps still queued behind the summary
        # (messages of different topics arrive in no guaranteed order)
        steps = sum(int(s["last_episode"]["steps"]) for s in watcher.outcome.summaries)
        until = time.monotonic() + 10.0    # a loaded machine can take seconds to deliver them
        while time.monotonic() < until and (watcher.outcome.sim is None or trace and (
                len(watcher.outcome.selections) < steps or len(watcher.outcome.actions) < steps)
                or recorder is not None and not recorder.has_every_step(steps)):
            time.sleep(0.02)
        return watcher.outcome
    finally:
        # a simulator that sent its statistics leaves by itself once it has the summary (a signal
        # mid-exit would end it before it frees its DDS participant)
        done = watcher is not None and watcher.outcome.sim is not None
        _stop(procs, leaving=FINISHING_NODES if done else ())
        # the context first: that ends the spin loop; then the executor, no longer spinning
        rclpy.try_shutdown(context=context)
        if spin_thread is not None:
            spin_thread.join(timeout=2.0)
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        # then each node by hand: rclpy 9.1.2's shutdown destroys every other node of a context
        # (it walks its node list while destroying removes from it), and a node left alive keeps
        # the context, and its DDS participant, until the process exits
        for node in [*in_process.values(), *([watcher.node] if watcher is not None else [])]:
            node.destroy_node()
        context.destroy()    # its DDS participant now, not when the collector gets to it
        if recorder is not None:
            recorder.close()
        if cpu_request is not None:
            cpu_request.close()
        if log_dir is not None:
            shutil.rmtree(log_dir, ignore_errors=True)   # what a failure needs is in its GraphError


def _last_words(procs: dict[str, subprocess.Popen], lines: int = 3) -> str:
    """Return the last log lines of the simulator and the cost monitor (their logs go with the graph)."""
    out = []
    for name in ("sim", "standin", "master", "cost_monitor"):
        p = procs.get(name)
        if p is None:
            continue
        text = Path(p.log_path).read_text(errors="replace").strip().splitlines()
        state = "running" if p.poll() is None else f"exit status {p.returncode}"
        out.append(f"\n  {name} ({state}): " + (" | ".join(text[-lines:]) if text else "(no output)"))
    return "".join(out)


def _make_watcher(trace: bool, context):
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String, UInt8

    from diagnostic_msgs.msg import DiagnosticArray

    from asym_control.nodes.common import (DIAG_QOS, DIAGNOSTICS, DONE_QOS, EVENT_QOS, FORWARDED, SELECTION, SUMMARY,
                                           SUMMARY_QOS)

    w = _Watcher(Node("launcher", namespace="/asym", context=context), Outcome())
    w.node.create_subscription(String, SUMMARY, lambda m: w.outcome.summaries.append(json.loads(m.data)),
                               SUMMARY_QOS)
    w.node.create_subscription(String, "sim_done", lambda m: setattr(w.outcome, "sim", json.loads(m.data)),
                               DONE_QOS)
    # the nodes' newest status, for the message of a graph that timed out
    w.node.create_subscription(DiagnosticArray, DIAGNOSTICS, w.on_diagnostics, DIAG_QOS)
    if trace:
        w.node.create_subscription(UInt8, SELECTION, lambda m: w.outcome.selections.append(m.data), EVENT_QOS)
        # the actions from the master's stamped copy (a KEEP_ALL writer: every step reaches us)
        w.node.create_subscription(JointState, FORWARDED, lambda m: w.outcome.actions.append(list(m.effort)),
                                   EVENT_QOS)
    return w


def _spin(executor) -> None:
    from asym_control.nodes.common import spin_executor

    try:
        spin_executor(executor)
    except Exception as e:  # noqa: BLE001 - a failing callback must not silently stop the watcher
        import traceback
        if rclpy_ok(executor):
            print(f"asym-control: launcher executor stopped: {e!r}", file=sys.stderr)
            traceback.print_exc()


def rclpy_ok(executor) -> bool:
    import rclpy
    return rclpy.ok(context=executor.context)


def _make_node(spec: NodeSpec, params_file: Path, context):
    from rclpy.parameter import Parameter

    module = __import__(spec.module, fromlist=["x"])
    cls = getattr(module, spec.node_class)
    overrides = [Parameter(k, value=v) for k, v in spec.parameters.items()]
    return cls(context=context, namespace=spec.namespace,
               cli_args=["--ros-args", "-r", f"__node:={spec.name}", "--params-file", str(params_file)],
               parameter_overrides=overrides)


def _start_process(spec: NodeSpec, params_file: Path, log_dir: Path, env: dict,
                   cpus: set[int] | None = None) -> subprocess.Popen:
    """
    Start a node in its own process, on `cpus` if given.

    Its output goes to log_dir/<name>.log (a pipe nobody reads would fill up and block the node).
    """
    cmd = python_command(["-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
                          "-r", f"__ns:={spec.namespace}", "--params-file", str(params_file)], cpus)
    for k, v in spec.parameters.items():
        cmd += ["-p", f"{k}:={_ros_value(v)}"]
    log_path = log_dir / f"{spec.name}.log"
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    p.log_path = log_path
    return p


def _stop(procs: dict[str, subprocess.Popen], leaving=()) -> None:
    """
    Stop the node processes: SIGINT, then SIGKILL after STOP_GRACE_S.

    Those named in `leaving` are on their way out: they get the grace to exit by themselves first.
    """
    deadline = time.monotonic() + STOP_GRACE_S
    for name in leaving:
        if name in procs:
            try:
                procs[name].wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs.values():
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def format_summary(outcome: Outcome) -> str:
    s = outcome.summaries[-1]
    lines = [f"{s['task']} [{s['mode']}] through the ROS 2 graph, {s['episodes']} episode(s):",
             f"  return              {s['return_mean']:.1f} +- {s['return_std']:.1f}",
             f"  on large            {100 * s['large_fraction']:.1f}% of control steps",
             f"  FLOPs / inference   {s['flops_per_inference']:.0f} (L-only {s['flops_large_only']})",
             f"  FLOPs reduction     {100 * s['flops_reduction']:.1f}% vs L-only"]
    for name, st in sorted(s.get("nodes", {}).items()):
        if "inferences" in st:
            precision = f" ({st['precision']}, {st['int_ops_per_inference']} integer ops of " \
                f"{st['flops_per_inference']})" if st.get("precision", "numpy") != "numpy" else ""
            lines.append(f"  {name:<18}  {st['inferences']} inferences, "
                         f"{float(st.get('inference_mean_us', 0)):.0f} us mean{precision}")
    sim = outcome.sim
    if sim and "latency_p50_ms" in sim:
        lines.append(f"  state -> command     p50 {sim['latency_p50_ms']:.2f} ms, p99 {sim['latency_p99_ms']:.2f} ms "
                     f"({sim['mode']}, {sim['missed_deadlines']} missed deadlines)")
    if sim and "success_rate" in sim:
        lines.append(f"  reaches             {100 * sim['success_rate']:.0f}% within 5 cm, final distance "
                     f"{100 * sim['final_distance']:.1f} cm mean (stand-in: latency {1e3 * sim['latency_s']:.0f} ms "
                     f"+ jitter {1e3 * sim['jitter_s']:.0f} ms, {100 * sim['drop_rate']:.0f}% dropped, "
                     f"noise {sim['noise_std']:g} rad)")
    return "\n".join(lines)


def main_launch(robot: str, episodes: int, lockstep: bool | None, as_json: bool, single_process: bool,
                checkpoint_dir: str | None, rate_hz: float | None, seed: int | None, timeout_s: float,
                record: Path | None = None, standin: bool = False, extra: dict | None = None,
                pins: dict[str, set[int]] | None = None, cpu_latency_us: int | None = None,
                sim_time: bool = False) -> int:
    os.environ.setdefault("ROS_DOMAIN_ID", "0")
    outcome = run_graph(robot, episodes, lockstep, checkpoint_dir, single_process, rate_hz, seed, timeout_s,
                        record=record, standin=standin, extra=extra, pins=pins, cpu_latency_us=cpu_latency_us,
                        sim_time=sim_time)
    summary = dict(outcome.summaries[-1])
    if outcome.sim:
        summary["sim"] = outcome.sim
        for key in ("success_rate", "final_distance"):
            if key in outcome.sim:
                summary[key] = outcome.sim[key]
    if record is not None:
        summary["recording"] = str(record)
    print(json.dumps(summary) if as_json else format_summary(outcome)
          + (f"\n  recording           {record}" if record is not None else ""))
    return 0
