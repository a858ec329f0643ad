#!/usr/bin/env bash
# Alternate the floor (bench/floor.py) and the graph (bench/latency.py) at 500 Hz, 30 s each, so that
# both see the same host; ROUNDS times (default 3). One JSON line per run, after a time stamp. Further
# arguments go to both (e.g. --cpu-latency-us 0).
#     bench/latency_rounds.sh [ROUNDS] [ARGS...] > runs/latency-rounds.txt
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
rounds=${1:-3}
shift || true
for _ in $(seq "$rounds"); do
    date +%T
    $py bench/floor.py --rate 500 --seconds 30 "$@" 2>/dev/null
    $py bench/latency.py --rate 500 --seconds 30 "$@" 2>/dev/null
done
