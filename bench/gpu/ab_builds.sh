#!/usr/bin/env bash
# Two builds compared on one GPU machine, as ab_env.sh compares switches (one ab_env.sh round a
# build in turn, ROUNDS times, so that drift on the machine falls on both alike): `pensieve bench
# -p 512 -n 128 -r 4` decode tokens/s, best of the runs after the first.
# Usage: ab_builds.sh MODEL_DIR ROUNDS BUILD_DIR_A BUILD_DIR_B ...
set -u
M=${1:?model dir}; ROUNDS=${2:?rounds}; shift 2
here=$(cd "$(dirname "$0")" && pwd)
for round in $(seq 1 "$ROUNDS"); do
  for b in "$@"; do
    v=$(bash "$here/ab_env.sh" "$b" "$M" 1 'AB_BUILD=1' | cut -d'|' -f3)
    echo "$round | $b |$v"
  done
done
