"""
asym_control: deep-RL controllers that switch between a small and a large sub-policy.

The core (this package minus ``asym_control.nodes``) is free of ROS: networks and FLOPs
accounting, SAC and DQN learners, the asymmetric agent, tasks, training and evaluation.
"""

__version__ = "0.1.0"
