"""
The node graph of a robot, described once.

Read from config/<robot>.yaml by both the launch file (launch/<robot>.launch.py) and `asym-control
launch`. ROS-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from asym_control.paths import package_root

# node name -> (console script, module, node class); small and large are one executable run twice
EXECUTABLES = {
    "sim": ("asym_sim", "asym_control.nodes.sim", "SimNode"),
    "master": ("asym_master", "asym_control.nodes.master", "MasterNode"),
    "small": ("asym_subpolicy", "asym_control.nodes.subpolicy", "SubPolicyNode"),
    "large": ("asym_subpolicy", "asym_control.nodes.subpolicy", "SubPolicyNode"),
    "cost_monitor": ("asym_cost_monitor", "asym_control.nodes.cost_monitor", "CostMonitorNode"),
    "safety": ("asym_safety", "asym_control.nodes.safety", "SafetyNode"),
    "lifecycle_manager": ("asym_lifecycle_manager", "asym_control.nodes.lifecycle_manager",
                          "LifecycleManagerNode"),
    "standin": ("asym_standin", "asym_control.nodes.standin", "StandinNode"),
}
PATH_PARAMETERS = ("checkpoint_dir", "urdf")
LIFECYCLE_NODES = ("safety",)   # configured and activated by the lifecycle manager
# nodes that finish by themselves, with exit status 0 (the simulators after their episodes)
FINISHING_NODES = ("sim", "standin")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    namespace: str
    executable: str
    module: str
    node_class: str
    parameters: dict


def config_path(robot: str) -> Path:
    path = package_root() / "config" / f"{robot}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (package_root() / "config").glob("*.yaml"))
        raise GraphConfigError(f"no graph config for robot {robot!r} ({path}); known: {', '.join(known)}")
    return path


class GraphConfigError(ValueError):
    """config/<robot>.yaml is missing or names a node the package does not have."""


CLOCK_SOURCES = ("sim",)   # publish /clock and keep wall time themselves


def with_sim_time(specs: list[NodeSpec]) -> list[NodeSpec]:
    """
    `use_sim_time: true` for every node but the clock's source.

    Their ROS clocks (timers, stamps of diagnostics and summaries) then follow the simulator's
    /clock.
    """
    import dataclasses

    return [spec if spec.name in CLOCK_SOURCES else
            dataclasses.replace(spec, parameters={**spec.parameters, "use_sim_time": True}) for spec in specs]


def launch_defaults(robot: str, node: str, names) -> dict[str, str]:
    """
    Return the parameters `names` of `node` in config/<robot>.yaml as launch-argument strings.

    The launch files' defaults are the YAML's (one source of truth).
    """
    params = next(n.parameters for n in load_graph(robot) if n.name == node)
    return {k: ("true" if params[k] else "false") if isinstance(params[k], bool) else str(params[k])
            for k in names}


def load_graph(robot: str, overrides: dict[str, dict] | None = None) -> list[NodeSpec]:
    """
    Read the nodes of config/<robot>.yaml: relative paths made absolute, `overrides` applied.

    `overrides`: {node name: {parameter: value}}, or {"*": {...}} for every node that has the
    parameter.

    The master's `lockstep` follows the simulator's (one switch for both) unless set for it.
    """
    path = config_path(robot)
    data = yaml.safe_load(path.read_text())
    nodes = []
    for full_name, body in data.items():
        namespace, _, name = full_name.rpartition("/")
        if name not in EXECUTABLES:
            raise GraphConfigError(f"{path}: node {full_name!r} has no executable (known: {', '.join(EXECUTABLES)})")
        params = dict(body.get("ros__parameters", {}))
        for scope in ("*", name):
            for k, v in (overrides or {}).get(scope, {}).items():
                if scope == name or k in params:
                    params[k] = v
        for k in PATH_PARAMETERS:
            if k in params and params[k] and not Path(params[k]).is_absolute():
                params[k] = str(package_root() / params[k])
        exe, module, node_class = EXECUTABLES[name]
        nodes.append(NodeSpec(name, namespace or "/", exe, module, node_class, params))
    by_name = {n.name: n for n in nodes}
    if "sim" in by_name and "master" in by_name and "lockstep" not in (overrides or {}).get("master", {}):
        by_name["master"].parameters["lockstep"] = bool(by_name["sim"].parameters.get("lockstep", False))
    return nodes
