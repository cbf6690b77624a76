#!/usr/bin/env bash
# Two builds compared on one GPU machine, as ab_env.sh compares switches: `pensieve bench -p 512
# -n 128 -r 4` decode tokens/s (best of the runs after the first) for each build in turn, ROUNDS
# times, so that drift on the machine falls on both alike.
# Usage: ab_builds.sh MODEL_DIR ROUNDS BUILD_DIR_A BUILD_DIR_B ...
set -u
M=${1:?model dir}; ROUNDS=${2:?rounds}; shift 2
for round in $(seq 1 "$ROUNDS"); do
  for b in "$@"; do
    v=$(LD_LIBRARY_PATH="${PENSIEVE_LD_PATH:-}" timeout 120 "$b/pensieve" bench -m "$M" -p 512 -n 128 -r 4 --json 2>/dev/null |
      python3 -c "import json, sys; d = json.load(sys.stdin); print(round(max(r['decode_tokens_per_s'] for r in d['runs'][1:]), 1))")
    echo "$round | $b | ${v:-failed}"
  done
done
