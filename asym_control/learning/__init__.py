"""
What every learner shares, by layer.

Networks with explicit backward passes (`nets`), replay buffers (`buffers`), the SAC sub-policy
learner (`sac`), the DQN master learner (`dqn`), and the second process that updates the large
sub-policy (`learner`). ROS-free; deployment never imports it.
"""
