"""
Thin rclpy nodes over the ROS-free core (asym_control.robot.runtime).

One executable per module.
"""
