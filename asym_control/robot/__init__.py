"""
The robot-facing core, free of ROS and of the learners.

The arm's URDF and kinematics (`arm`), joint maps, the gate, timing and cost accounting used by the
nodes (`runtime`), and the safety layer in front of a physical arm (`safety`).
"""
