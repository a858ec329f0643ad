"""Thin rclpy nodes over the ROS-free core (asym_control.runtime). One executable per module."""
