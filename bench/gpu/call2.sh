#!/usr/bin/env bash
# GPU machine, second call on the same warm machine (bench/gpu/README.md): join and install the
# MLX CUDA wheels, build Pensieve, quantize the test models on the GPU, then measure in one run:
# copy bandwidth, `pensieve bench`, mlx-lm, the server at 1/4/16/32 streams, decode profile.
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
python3 -c "import mlx.core as mx; print(mx.__version__, mx.default_device(), mx.sum(mx.ones((1000,))).item())"
mkdir -p "$D/llg/include"; xz -dc .gpu/p2/llg.a.xz > "$D/llg/libpensieve_llguidance.a"; cp .gpu/p2/llguidance.h "$D/llg/include/"
(
  if bash "$S/build_pensieve.sh" "$REPO" "$D/build" "$D/llg" > "$D/build.log" 2>&1; then
    echo "$REPO $D/build" > "$D/build.ok"
  else  # the tree's uncommitted state failed: build the last commit instead
    mkdir -p "$D/src_head"; tar -xzf .gpu/p2/src_head.tar.gz -C "$D/src_head"
    bash "$S/build_pensieve.sh" "$D/src_head" "$D/build_head" "$D/llg" > "$D/build_head.log" 2>&1 &&
      echo "$D/src_head $D/build_head" > "$D/build.ok"
  fi
) &
BUILD_PID=$!
for i in $(seq 1 150); do [ -f "$D/work-phi3/hf.done" ] && break; sleep 2; done
cat "$D/hf.log"
timeout 200 python3 "$S/gpu_test_model.py" convert "$D/work-mid" "$D/mid"
timeout 300 python3 "$S/gpu_test_model.py" convert "$D/work-phi3" "$D/phi3"
rm -rf "$D/work-phi3/hf"; ls -la "$D/phi3"
wait $BUILD_PID
tail -5 "$D/build.log"; [ -f "$D/build_head.log" ] && { grep -m5 -B2 -A5 'error' "$D/build.log"; tail -20 "$D/build_head.log"; }
cp "$D/build.log" "$OUT/build.log"
read -r SRCD BUILDD < "$D/build.ok" || { echo "no build"; }
M=$D/phi3
timeout 60 python3 "$S/copy_bandwidth.py" > "$OUT/bandwidth.json"; cat "$OUT/bandwidth.json"
export LD_LIBRARY_PATH=$PENSIEVE_LD_PATH
P="$BUILDD/pensieve"
ldd "$P" | grep -E 'not found|mlx|httplib|curl'
timeout 60 "$P" bench -m "$D/mid" -p 128 -n 64 -r 2 --json
timeout 120 "$P" bench -m "$M" -p 512 -n 128 -r 3 --json > "$OUT/pensieve_bench.json"; cat "$OUT/pensieve_bench.json"
unset LD_LIBRARY_PATH
timeout 150 python3 bench/mlx_lm_bench.py "$M" --prompt-tokens 512 --gen-tokens 128 --repeats 3 > "$OUT/mlx_lm_bench.json"; cat "$OUT/mlx_lm_bench.json"
export LD_LIBRARY_PATH=$PENSIEVE_LD_PATH
"$P" serve -m "$M" --port 8090 --parallel 32 > "$D/serve.log" 2>&1 &
SP=$!
unset LD_LIBRARY_PATH
timeout 150 python3 "$S/server_bench.py" --port 8090 --levels 1 4 16 32 --max-tokens 128 > "$OUT/server_bench.json"; cat "$OUT/server_bench.json"
kill $SP; tail -5 "$D/serve.log"
python3 "$S/summarize.py" "$OUT" "$M" > "$OUT/summary.json"; cat "$OUT/summary.json"
bash "$S/build_decode_profile.sh" "$SRCD" "$BUILDD" "$SITE/mlx" "$D/decode_profile" "$D/llg" &&
  LD_LIBRARY_PATH=$PENSIEVE_LD_PATH timeout 120 "$D/decode_profile" "$M" 512 64 1,8,32 > "$OUT/decode_profile.json"
cat "$OUT/decode_profile.json"
timeout 60 python3 "$S/qmv_bandwidth.py"
timeout 60 python3 bench/mlx_lm_bench.py "$D/mid" --prompt-tokens 128 --gen-tokens 64 --repeats 2
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,power.draw --format=csv
