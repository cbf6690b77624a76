#!/usr/bin/env bash
# GPU machine, second call of an A/B round (bench/gpu/README.md): as call2.sh up to the build,
# then the same tree with bench/gpu/gpu_decode.patch applied (CUDA GEMV kernel, fused SwiGLU, folded
# LongRoPE factor), both measured on this machine, alternating with mlx-lm.
set -x
exec > >(tee "$OUT/log.txt") 2>&1
D=/root/pd; REPO=$(pwd); S=$REPO/.gpu/scripts
export PDEPS=/opt/pdeps SITE=/tmp/site
source "$S/deps_env.sh"
[ -d .gpu/p2/debs2 ] && unpack_debs .gpu/p2/debs2  # libedit for `pensieve chat` (newer trees)
W=$D/mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl
cat "$D/mlxcuda.part_aa" .gpu/p2/mlxcuda.part_ab > "$W"
echo "$(cat .gpu/p2/mlx_cuda_13.sha256)  $W" | sha256sum -c || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
  "$D"/mlx-0.32.4-*.whl "$W" "$D"/mlx_lm-*.whl || exit 1
NV=$(python3 -c "import nvidia, os; print([p for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'cudnn'))][0])")
ln -sfn "$NV" "$SITE/nvidia"
mkdir -p "$D/llg/include"; xz -dc .gpu/p2/llg.a.xz > "$D/llg/libpensieve_llguidance.a"; cp .gpu/p2/llguidance.h "$D/llg/include/"
( bash "$S/build_pensieve.sh" "$REPO" "$D/build" "$D/llg" > "$D/build.log" 2>&1; echo "build rc $?" ) &
BUILD_PID=$!
for i in $(seq 1 150); do [ -f "$D/work-phi3/hf.done" ] && break; sleep 2; done
timeout 300 python3 "$S/gpu_test_model.py" convert "$D/work-phi3" "$D/phi3"
wait $BUILD_PID; tail -3 "$D/build.log"; [ -x "$D/build/pensieve" ] || { cp "$D/build.log" "$OUT/"; exit 1; }
cp "$D/build/pensieve" "$D/pensieve.base"
patch -p1 -N < "$S/gpu_decode.patch" || git apply --verbose "$S/gpu_decode.patch"
[ -f src/kernels/gemv_cuda.cpp ] || { echo "patch not applied"; exit 1; }
cmake --build "$D/build" -j 16 --target pensieve > "$D/build2.log" 2>&1; echo "patched build rc $?"; tail -20 "$D/build2.log"
[ -x "$D/build/pensieve" ] && [ "$D/build/pensieve" -nt "$D/pensieve.base" ] || { cp "$D/build2.log" "$OUT/"; exit 1; }
cp "$D/build/pensieve" "$D/pensieve.new"
bash "$S/build_decode_profile.sh" "$REPO" "$D/build" "$SITE/mlx" "$D/gemv_check" "$D/llg" gemv_check.cpp
bash "$S/build_decode_profile.sh" "$REPO" "$D/build" "$SITE/mlx" "$D/decode_profile" "$D/llg"
M=$D/phi3
timeout 60 python3 "$S/copy_bandwidth.py" > "$OUT/bandwidth.json"; grep GBps_median "$OUT/bandwidth.json"
export LD_LIBRARY_PATH=$PENSIEVE_LD_PATH
timeout 120 "$D/gemv_check" > "$OUT/gemv_check.json"; cat "$OUT/gemv_check.json"
B="timeout 90 $D/pensieve.base bench -m $M -p 512 -n 128 -r 5 --json"
N="timeout 90 $D/pensieve.new bench -m $M -p 512 -n 128 -r 5 --json"
{
for round in 1 2; do
  echo "== round $round"
  echo -n "base "; $B | grep -m1 '"decode_tokens_per_s"'
  echo -n "mlx-lm "; LD_LIBRARY_PATH= timeout 90 python3 bench/mlx_lm_bench.py "$M" --prompt-tokens 512 --gen-tokens 128 --repeats 5 | grep decode_tokens_per_s
  echo -n "new(gemv+fuse) "; $N | grep -m1 '"decode_tokens_per_s"'
  echo -n "new(gemv only) "; PENSIEVE_GPU_FUSE=0 $N | grep -m1 '"decode_tokens_per_s"'
  echo -n "new(fuse only) "; PENSIEVE_CUDA_GEMV=0 $N | grep -m1 '"decode_tokens_per_s"'
  echo -n "new(both off) "; PENSIEVE_CUDA_GEMV=0 PENSIEVE_GPU_FUSE=0 $N | grep -m1 '"decode_tokens_per_s"'
done
} 2>&1 | tee "$OUT/ab.txt"
$N > "$OUT/pensieve_bench_new.json"
for v in base new; do timeout 60 "$D/pensieve.$v" run -m "$M" --raw "The history of the region begins" -n 48 --temp 0 --ids-out "$D/ids.$v.json" > /dev/null; done
PENSIEVE_CUDA_GEMV=0 PENSIEVE_GPU_FUSE=0 timeout 60 "$D/pensieve.new" run -m "$M" --raw "The history of the region begins" -n 48 --temp 0 --ids-out "$D/ids.off.json" > /dev/null
for v in base new off; do echo "$v $(cat $D/ids.$v.json | head -c 400)"; done | tee -a "$OUT/ab.txt"
timeout 120 "$D/decode_profile" "$M" 512 64 1,32 > "$OUT/decode_profile_new.json"; cat "$OUT/decode_profile_new.json"
