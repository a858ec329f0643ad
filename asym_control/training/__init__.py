"""
Training runs: configuration, the training loop and checkpoints.

The typed configuration (`config`), the MuJoCo-in-the-loop training loop (`train`), and
checkpoints, weights plus JSON, never pickled (`checkpoint`).
"""
