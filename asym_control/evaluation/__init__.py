"""
Evaluation: the one evaluator, the paper's figures and MCAP recordings.

The one evaluator behind every number a user sees (`evaluate`), the paper's figures (`plots`) and
MCAP recordings of the graph (`recording`).
"""
