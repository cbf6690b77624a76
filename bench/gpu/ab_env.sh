#!/usr/bin/env bash
# Environment switches compared on one GPU machine: `pensieve bench -p 512 -n 128 -r 4` decode
# tokens/s (best of the runs after the first) for each setting in turn, ROUNDS times, so that
# drift on the machine falls on every setting alike.
# Usage: ab_env.sh BUILD_DIR MODEL_DIR ROUNDS 'X=1' 'PENSIEVE_CUDA_GEMV_SINGLE=0' ...
set -u
B=${1:?build dir}; M=${2:?model dir}; ROUNDS=${3:?rounds}; shift 3
for round in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    # shellcheck disable=SC2086  # a spec is several NAME=VALUE words
    v=$(env $spec LD_LIBRARY_PATH="${PENSIEVE_LD_PATH:-}" timeout 120 "$B/pensieve" bench -m "$M" -p 512 -n 128 -r 4 --json 2>/dev/null |
      python3 -c "import json, sys; d = json.load(sys.stdin); print(round(max(r['decode_tokens_per_s'] for r in d['runs'][1:]), 1))")
    echo "$round | $spec | ${v:-failed}"
  done
done
