"""
Experiments: grids of training runs (`grid`), run on Ray (`sweep`), and their results (`results`).

A trial is one `asym-control train` command and its evaluation; a grid is tasks x modes x seeds x
lambda x n_omega. `sweep` runs the trials as Ray tasks, one CPU each, on this machine's cores or
on a cluster, and writes one small JSON per finished trial; `results` reads them back for the
report.
"""
