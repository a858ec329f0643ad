"""
The paper's agent (Section IV): the master over a small and a large sub-policy.

`agent` is the training side (shared replay buffer, cost-penalised macro rewards, semi-MDP
discount); `policy` is the deployment side (greedy master and deterministic actors), importable
without the learners.
"""
