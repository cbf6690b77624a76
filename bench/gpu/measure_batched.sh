#!/usr/bin/env bash
# Measurements on the GPU machine once call1.sh and call2.sh have built Pensieve and the model
# (bench/gpu/README.md, third round): pensieve bench with and without the CUDA GEMV, mlx-lm,
# the server at 1 and 32 streams with per-sequence caches, shared batch buffers, and shared
# buffers without queued steps, greedy texts compared, decode_profile, and llama-bench when
# LLAMA_BENCH names a binary (built by hand, outside this repository).
D=/root/pd; REPO=$(pwd); S=$REPO/.gpu/scripts
export PDEPS=/opt/pdeps SITE=/tmp/site; source "$S/deps_env.sh" >/dev/null 2>&1
read -r SRCD BUILDD < "$D/build.ok"; M=$D/phi3; P="$BUILDD/pensieve"
nvidia-smi --query-gpu=name --format=csv,noheader
timeout 60 python3 "$S/copy_bandwidth.py" > "$OUT/bandwidth.json"; grep GBps_median "$OUT/bandwidth.json"
for r in 1 2; do
  LD_LIBRARY_PATH=$PENSIEVE_LD_PATH timeout 120 "$P" bench -m $M -p 512 -n 128 -r 5 --json > "$OUT/pensieve_bench.json"; echo "gemv on"; grep -E '^  "(decode|prefill)_tokens_per_s' "$OUT/pensieve_bench.json"
  PENSIEVE_CUDA_GEMV=0 LD_LIBRARY_PATH=$PENSIEVE_LD_PATH timeout 120 "$P" bench -m $M -p 512 -n 128 -r 5 --json > "$OUT/pensieve_bench_nogemv.json"; echo "gemv off"; grep -E '^  "(decode|prefill)_tokens_per_s' "$OUT/pensieve_bench_nogemv.json"
done
timeout 150 python3 $REPO/bench/mlx_lm_bench.py "$M" --prompt-tokens 512 --gen-tokens 128 --repeats 5 > "$OUT/mlx_lm_bench.json"; grep -E "tokens_per_s" "$OUT/mlx_lm_bench.json"
for name in own shared shared_sync; do
  case $name in own) E="PENSIEVE_BATCHED_KV=0 PENSIEVE_CUDA_GEMV=0";; shared) E="PENSIEVE_BATCHED_KV=1";; shared_sync) E="PENSIEVE_BATCHED_KV=1 PENSIEVE_PIPELINED_DECODE=0 PENSIEVE_CUDA_GEMV=0";; esac
  env LD_LIBRARY_PATH=$PENSIEVE_LD_PATH $E "$P" serve -m "$M" --port 8090 --parallel 32 > "$D/s_$name.log" 2>&1 &
  SP=$!
  for i in $(seq 1 60); do curl -sf localhost:8090/health >/dev/null && break; sleep 1; done
  timeout 100 python3 "$S/check_batched.py" 8090 > /dev/null
  timeout 100 python3 "$S/check_batched.py" 8090 > "$D/t_$name.json"
  timeout 200 python3 "$S/server_bench.py" --port 8090 --levels 1 1 32 32 --max-tokens 128 > "$OUT/server_$name.json"
  echo "== $name"; grep -E "steady_decode|time_to_first_token_s_max" "$OUT/server_$name.json"
  curl -s localhost:8090/metrics | grep -E "^pensieve_(batched|queued|batch_kv)"
  kill $SP; wait $SP
done
python3 - <<'PY'
import json
t = {n: json.load(open(f"/root/pd/t_{n}.json")) for n in ("own", "shared", "shared_sync")}
for n in ("shared", "shared_sync"):
    print(n, "== own:", [a == b for a, b in zip(t["own"], t[n])])
PY
LD_LIBRARY_PATH=$PENSIEVE_LD_PATH timeout 200 $D/decode_profile $M 512 32 1,32 > "$OUT/decode_profile.json" 2> "$OUT/dp_err.txt"; tail -4 "$OUT/dp_err.txt"
[ -x "${LLAMA_BENCH:-}" ] && \
"$LLAMA_BENCH" -m $D/phi3-q4_0.gguf -p 512 -n 128 -ngl 99 -r 3 -o json > "$OUT/llama_bench.json" 2>/dev/null; grep -E '"n_prompt"|"n_gen"|"avg_ts"' "$OUT/llama_bench.json"
