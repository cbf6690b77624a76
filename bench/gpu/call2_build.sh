#!/usr/bin/env bash
# GPU machine, second call (after call1.sh, on the same warm machine): joins and installs the MLX
# CUDA wheels, builds Pensieve and decoder_check from the working tree and quantizes the random
# full-size model on the GPU; measures nothing, so that the next call (ab_env.sh,
# measure_decoder.sh) has its whole time limit for runs. bench/gpu/README.md, tenth round.
set -x
exec > >(tee "$OUT/log.txt") 2>&1
D=/root/pd; REPO=$(pwd); S=$REPO/.gpu/scripts
export PDEPS=/opt/pdeps SITE=/tmp/site
source "$S/deps_env.sh"
unpack_debs .gpu/p2/debs2
W=$D/mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl
cat "$D/mlxcuda.part_aa" .gpu/p2/mlxcuda.part_a[b-z] > "$W"
echo "$(cat .gpu/p2/mlx_cuda_13.sha256)  $W" | sha256sum -c || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
  "$D"/mlx-0.32.4-*.whl "$W" "$D"/mlx_lm-*.whl || exit 1
# Not through $SITE (PYTHONPATH): on a second run its nvidia link would find itself.
NV=$(PYTHONPATH= python3 -c "import nvidia, os; print([p for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'cudnn'))][0])")
ln -sfn "$NV" "$SITE/nvidia"
mkdir -p "$D/llg/include"; xz -dc .gpu/p2/llg.a.xz > "$D/llg/libpensieve_llguidance.a"; cp .gpu/p2/llguidance.h "$D/llg/include/"
( bash "$S/build_pensieve.sh" "$REPO" "$D/build" "$D/llg" > "$D/build.log" 2>&1; echo "build rc $?" ) &
BUILD_PID=$!
for i in $(seq 1 150); do [ -f "$D/work-phi3/hf.done" ] && break; sleep 2; done
timeout 300 python3 "$S/gpu_test_model.py" convert "$D/work-phi3" "$D/phi3" && rm -rf "$D/work-phi3/hf"
ls -la "$D/phi3"
wait $BUILD_PID; tail -3 "$D/build.log"; cp "$D/build.log" "$OUT/build.log"
bash "$S/build_decode_profile.sh" "$REPO" "$D/build" "$SITE/mlx" "$D/build/decoder_check" "$D/llg" decoder_check.cpp
ls -la "$D/build/pensieve" "$D/build/decoder_check"
