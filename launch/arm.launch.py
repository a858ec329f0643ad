"""
The arm graph of config/arm.yaml next to the arm's ros2_control driver.

    ros2 launch asym_control arm.launch.py [checkpoint_dir:=DIR] [precision:=int8] [controller:=NAME]
    [controller_type:=forward_command_controller|joint_trajectory_controller] [standin:=false]
    [rviz:=false]

The arm graph of config/arm.yaml, next to the arm's ros2_control driver: master (with the gate),
small and large sub-policies, cost monitor, the safety lifecycle node that writes to the
controller, and the lifecycle manager that configures the safety node at once and activates it
when the driver's /joint_states arrive (saying once that it waits; a refused activate is tried
again every retry_s). No simulator: the nodes read the driver's /joint_states. At shutdown the
safety node sends a hold before it exits. An operator can deactivate it (hold) with
`ros2 lifecycle set /asym/safety deactivate`, and e-stop it with
`ros2 service call /asym/safety/estop std_srvs/srv/Trigger` or a std_msgs/Bool on /asym/estop.
standin:=true adds the MuJoCo hardware stand-in in place of a driver.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from asym_control.deploy.graph import LIFECYCLE_NODES, config_path, load_graph, package_root


def _nodes(context, *args, **kwargs):
    overrides = {"*": {}, "safety": {}, "standin": {}}
    checkpoint = LaunchConfiguration("checkpoint_dir").perform(context)
    if checkpoint:
        overrides["*"]["checkpoint_dir"] = checkpoint
    precision = LaunchConfiguration("precision").perform(context)
    if precision:
        for option in ("small", "large"):
            overrides.setdefault(option, {})["precision"] = precision
    for arg in ("controller", "controller_type"):
        value = LaunchConfiguration(arg).perform(context)
        if value:
            overrides["safety"][arg] = value
            overrides["standin"][arg] = value
    standin = LaunchConfiguration("standin").perform(context).lower() == "true"
    actions = []
    for spec in load_graph("arm", overrides):
        if spec.name == "standin" and not standin:
            continue
        if spec.name in LIFECYCLE_NODES:
            # brought to active by the lifecycle manager (config/arm.yaml), not by launch events
            actions.append(LifecycleNode(package="asym_control", executable=spec.executable, name=spec.name,
                                         namespace=spec.namespace, parameters=[spec.parameters],
                                         output="screen"))
        else:
            actions.append(Node(package="asym_control", executable=spec.executable, name=spec.name,
                                namespace=spec.namespace, parameters=[spec.parameters], output="screen"))
    if LaunchConfiguration("rviz").perform(context).lower() == "true":
        urdf = (package_root() / "urdf" / "arm.urdf").read_text()
        actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher",
                            parameters=[{"robot_description": urdf}], output="screen"))
        actions.append(Node(package="rviz2", executable="rviz2",
                            arguments=["-d", str(package_root() / "config" / "arm.rviz")], output="screen"))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("precision", default_value="",
                              description="the sub-policies' actors: numpy, fp32, fp16 or int8 (default: the YAML's)"),
        DeclareLaunchArgument("checkpoint_dir", default_value="",
                              description=f"checkpoint directory (default: the one in {config_path('arm').name})"),
        DeclareLaunchArgument("controller", default_value="",
                              description="the ros2_control controller's name (default: the YAML's)"),
        DeclareLaunchArgument("controller_type", default_value="",
                              description="forward_command_controller or joint_trajectory_controller"),
        DeclareLaunchArgument("standin", default_value="false",
                              description="true: the MuJoCo hardware stand-in instead of a driver"),
        DeclareLaunchArgument("rviz", default_value="false", description="robot_state_publisher and RViz"),
        OpaqueFunction(function=_nodes),
    ])
