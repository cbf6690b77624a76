#!/usr/bin/env bash
# Builds a bench/gpu tool (decode_profile.cpp by default) against the static libraries of an
# existing Pensieve build.
# Usage: build_decode_profile.sh SOURCE_DIR BUILD_DIR MLX_ROOT OUT_BINARY [LLGUIDANCE_DIR] [TOOL.cpp]
set -eo pipefail
SRC=${1:?source dir}; BUILD=${2:?build dir}; MLX=${3:?mlx root}; BIN=${4:?output}; LLG=${5:-}; TOOL=${6:-decode_profile.cpp}
here=$(cd "$(dirname "$0")" && pwd)
libs=()
for m in engine model kernels sampling tokenizer grammar common; do
  [ -f "$BUILD/libpensieve_$m.a" ] && libs+=("$BUILD/libpensieve_$m.a")
done
[ -f "$BUILD/libpensieve_grammar.a" ] && [ -n "$LLG" ] && libs+=("$LLG/libpensieve_llguidance.a")
g++ -O2 -std=c++20 -I"$SRC/src" -I"$MLX/include" "$here/$TOOL" \
  -Wl,--start-group "${libs[@]}" -Wl,--end-group -L"$MLX/lib" -lmlx -Wl,-rpath,"$MLX/lib" \
  -Wl,--allow-shlib-undefined -pthread -ldl -lm -o "$BIN"
