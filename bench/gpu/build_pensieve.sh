#!/usr/bin/env bash
# Configures and builds Pensieve against the CUDA MLX wheel (bench/gpu/README.md).
# Usage: build_pensieve.sh SOURCE_DIR BUILD_DIR [LLGUIDANCE_DIR]
#   after deps_env.sh's unpack_debs and the wheels' install into $SITE; LLGUIDANCE_DIR holds a
#   prebuilt libpensieve_llguidance.a and include/llguidance.h (no cargo or crates.io there).
set -eo pipefail
SRC=${1:?source dir}; BUILD=${2:?build dir}; LLG=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/deps_env.sh"
NV=$(python3 -c "import nvidia, os; print([p for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'cudnn'))][0])")
pkgcfg=$(command -v pkg-config || true)
if [ -z "$pkgcfg" ]; then  # the carried pkgconf needs its own library
  pkgcfg=$PDEPS/pkg-config
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s/usr/bin/pkgconf "$@"\n' "$LIBDIR" "$PDEPS" > "$pkgcfg"
  chmod +x "$pkgcfg"
fi
extra=()
[ -n "$LLG" ] && extra+=("-DPENSIEVE_LLGUIDANCE_DIR=$LLG")
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPENSIEVE_TESTS=OFF -DPENSIEVE_WERROR=OFF \
  -DMLX_ROOT="$SITE/mlx" \
  -DCMAKE_PREFIX_PATH="$PDEPS/usr" \
  -DOPENSSL_ROOT_DIR="$PDEPS/usr" \
  -DPKG_CONFIG_EXECUTABLE="$pkgcfg" \
  -DCUDNN_INCLUDE_PATH="$NV/cudnn/include" -DCUDNN_LIBRARY_PATH="$NV/cudnn/lib" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$LIBDIR -Wl,-rpath-link,$SITE/mlx/lib -Wl,--allow-shlib-undefined" \
  "${extra[@]}"
cmake --build "$BUILD" -j "$(nproc)" --target pensieve
