"""ros2 launch asym_control walker.launch.py [checkpoint_dir:=DIR] [lockstep:=false] [headless:=true]
[episodes:=N] [rviz:=true] [record:=BAG_DIR]

The walker graph: MuJoCo simulator, master (with the gate), small and large sub-policies and the
cost monitor, as launch_ros Node actions with the parameters of config/walker.yaml -- the same
file and the same node list that `asym-control launch walker` uses (asym_control.graph).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from asym_control.graph import config_path, load_graph, package_root
from asym_control.recording import GRAPH_TOPICS

RECORDED_TOPICS = sorted(GRAPH_TOPICS)


def _nodes(context, *args, **kwargs):
    lockstep = LaunchConfiguration("lockstep").perform(context).lower() == "true"
    overrides = {"*": {}, "sim": {"lockstep": lockstep,
                                  "episodes": int(LaunchConfiguration("episodes").perform(context))}}
    checkpoint = LaunchConfiguration("checkpoint_dir").perform(context)
    if checkpoint:
        overrides["*"]["checkpoint_dir"] = checkpoint
    # headless: the simulator never opens a viewer in this package; the argument is kept for the
    # RViz option of the visualisation launch and accepted here so both take the same arguments
    actions = []
    for spec in load_graph("walker", overrides):
        actions.append(Node(package="asym_control", executable=spec.executable, name=spec.name,
                            namespace=spec.namespace, parameters=[spec.parameters], output="screen"))
    if LaunchConfiguration("rviz").perform(context).lower() == "true":
        # RViz shows the walker (URDF + /joint_states through robot_state_publisher) and the
        # switching timeline (/asym/timeline) in the fixed frame `world`
        root = package_root()
        urdf = (root / "urdf" / "walker.urdf").read_text()
        actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher",
                            parameters=[{"robot_description": urdf}], output="screen"))
        actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", str(root / "config" / "walker.rviz")],
                            output="screen"))
    bag = LaunchConfiguration("record").perform(context)
    if bag:
        # every topic of the graph into an MCAP bag (rosbag2 adapts its QoS to each publisher)
        actions.append(ExecuteProcess(cmd=["ros2", "bag", "record", "--storage", "mcap", "--output", bag,
                                           "--topics", *RECORDED_TOPICS], output="screen"))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("checkpoint_dir", default_value="",
                              description=f"checkpoint directory (default: the one in {config_path('walker').name})"),
        DeclareLaunchArgument("lockstep", default_value="false",
                              description="true: one control step per command; false: real time"),
        DeclareLaunchArgument("episodes", default_value="0", description="episodes to run (0: until stopped)"),
        DeclareLaunchArgument("headless", default_value="true", description="no viewer"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="start robot_state_publisher and RViz with config/walker.rviz"),
        DeclareLaunchArgument("record", default_value="",
                              description="record every topic of the graph with ros2 bag (MCAP) into this directory"),
        OpaqueFunction(function=_nodes),
    ])
