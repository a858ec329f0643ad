"""
The walker graph of config/walker.yaml, with the simulator.

    ros2 launch asym_control walker.launch.py [checkpoint_dir:=DIR] [precision:=int8] [lockstep:=true|false]
    [episodes:=N] [seed:=N] [rate_hz:=HZ] [use_sim_time:=true] [rviz:=true] [record:=BAG_DIR]

The walker graph: MuJoCo simulator, master (with the gate), small and large sub-policies and the
cost monitor, as launch_ros Node actions with the parameters of config/walker.yaml -- the same
file and the same node list that `asym-control launch walker` uses (asym_control.deploy.graph). Every
argument's default is the YAML's (`ros2 launch -s asym_control walker.launch.py` lists them).
When the simulator has run its episodes it leaves, and the launch shuts the graph down with it
(exit status 0); with episodes:=0 the graph runs until Ctrl-C.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, ExecuteProcess, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from asym_control.deploy.graph import config_path, launch_defaults, load_graph, package_root, with_sim_time
from asym_control.evaluation.recording import GRAPH_TOPICS

RECORDED_TOPICS = sorted(GRAPH_TOPICS)
ROBOT = "walker"
# launch argument -> the simulator parameter it sets (defaults: config/walker.yaml)
SIM_ARGUMENTS = {"lockstep": "true: one control step per command; false: real time",
                 "episodes": "episodes to run, then the launch ends (0: until stopped)",
                 "seed": "the simulator's seed (the same as `asym-control eval --seed` gives the same episode)",
                 "rate_hz": "real time only: control rate (0: the task's)"}


def _nodes(context, *args, **kwargs):
    sim = {name: LaunchConfiguration(name).perform(context) for name in SIM_ARGUMENTS}
    overrides = {"*": {}, "sim": {"lockstep": sim["lockstep"].lower() == "true",
                                  "episodes": int(sim["episodes"]), "seed": int(sim["seed"]),
                                  "rate_hz": float(sim["rate_hz"])}}
    checkpoint = LaunchConfiguration("checkpoint_dir").perform(context)
    if checkpoint:
        overrides["*"]["checkpoint_dir"] = checkpoint
    precision = LaunchConfiguration("precision").perform(context)
    if precision:
        for option in ("small", "large"):
            overrides.setdefault(option, {})["precision"] = precision
    specs = load_graph(ROBOT, overrides)
    if LaunchConfiguration("use_sim_time").perform(context).lower() == "true":
        specs = with_sim_time(specs)
    actions = []
    for spec in specs:
        node = Node(package="asym_control", executable=spec.executable, name=spec.name,
                    namespace=spec.namespace, parameters=[spec.parameters], output="screen")
        actions.append(node)
        if spec.name == "sim":
            # the simulator leaves after its episodes (exit_when_done): the graph goes with it
            actions.append(RegisterEventHandler(OnProcessExit(target_action=node, on_exit=[
                EmitEvent(event=Shutdown(reason="the simulator has run its episodes"))])))
    if LaunchConfiguration("rviz").perform(context).lower() == "true":
        # RViz shows the walker (URDF + /joint_states through robot_state_publisher) and the
        # switching timeline (/asym/timeline) in the fixed frame `world`
        root = package_root()
        urdf = (root / "urdf" / "walker.urdf").read_text()
        sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() == "true"
        actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher",
                            parameters=[{"robot_description": urdf, "use_sim_time": sim_time}], output="screen"))
        actions.append(Node(package="rviz2", executable="rviz2", parameters=[{"use_sim_time": sim_time}],
                            arguments=["-d", str(root / "config" / "walker.rviz")], output="screen"))
    bag = LaunchConfiguration("record").perform(context)
    if bag:
        # every topic of the graph into an MCAP bag (rosbag2 adapts its QoS to each publisher)
        actions.append(ExecuteProcess(cmd=["ros2", "bag", "record", "--storage", "mcap", "--output", bag,
                                           "--topics", *RECORDED_TOPICS], output="screen"))
    return actions


def generate_launch_description():
    defaults = launch_defaults(ROBOT, "sim", SIM_ARGUMENTS)
    return LaunchDescription([
        DeclareLaunchArgument("precision", default_value="",
                              description="the sub-policies' actors: numpy, fp32, fp16 or int8 (default: the YAML's)"),
        DeclareLaunchArgument("checkpoint_dir", default_value="",
                              description=f"checkpoint directory (default: the one in {config_path(ROBOT).name})"),
        *[DeclareLaunchArgument(name, default_value=defaults[name], description=text)
          for name, text in SIM_ARGUMENTS.items()],
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true: every node but the simulator runs on the simulator's /clock"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="start robot_state_publisher and RViz with config/walker.rviz"),
        DeclareLaunchArgument("record", default_value="",
                              description="record every topic of the graph with ros2 bag (MCAP) into this directory"),
        OpaqueFunction(function=_nodes),
    ])
