#!/usr/bin/env bash
# Batch-1 decode on the GPU machine in one run, once call1.sh and call2.sh have built Pensieve and
# the model (bench/gpu/README.md, fifth round): copy bandwidth, decoder_check (CudaDecoder against
# MLX's forward), `pensieve bench` with the decoder and with MLX's path alternated, mlx-lm, and
# llama-bench when LLAMA_BENCH names a binary built by hand outside this repository (with GGUF the
# Q4_0 file of tools/make_test_gguf.py), the server at 1 and 32 streams (SERVER=0 leaves it out),
# then summary.json (summarize.py: the ratios and the roofline fraction). Nothing here starts
# background work that outlives it: a build running beside it would take the host's cores from
# MLX's host-bound path.
# Usage: measure_decoder.sh BUILD_DIR MODEL_DIR [OUT_DIR]
set -u
B=${1:?build dir}; M=${2:?model dir}; O=${3:-${OUT:-/tmp}}
here=$(cd "$(dirname "$0")" && pwd)
P="$B/pensieve"
# Pensieve's binaries run with PENSIEVE_LD_PATH (deps_env.sh: the carried httplib and curl); the
# Python references without it.
with_libs() { LD_LIBRARY_PATH=${PENSIEVE_LD_PATH:-${LD_LIBRARY_PATH:-}} "$@"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 90 python3 "$here/copy_bandwidth.py" > "$O/bandwidth.json" && grep GBps_median "$O/bandwidth.json"
[ -x "$B/decoder_check" ] && with_libs timeout 300 "$B/decoder_check" "$M" --no-batch > "$O/decoder_check.json" 2> "$O/decoder_check.err" &&
  python3 -c "import json; d=json.load(open('$O/decoder_check.json')); [print(c) for c in d['checks']]; print('decoder_check tokens/s', d['decoder_tokens_per_s'])"
bench() {  # bench DECODER(0|1) → one line: decode tokens/s of runs 2.., prefill
  PENSIEVE_CUDA_DECODER=$1 with_libs timeout 120 "$P" bench -m "$M" -p 512 -n 128 -r 6 --json > "$O/pensieve_bench_$1.json" 2>/dev/null &&
    python3 -c "
import json, statistics as s; d=json.load(open('$O/pensieve_bench_$1.json')); v=sorted(r['decode_tokens_per_s'] for r in d['runs'][1:])
print('pensieve decoder=$1 decode median %.1f best %.1f prefill %.0f' % (s.median(v), v[-1], d['prefill_tokens_per_s']), [round(x) for x in v])"
}
for round in 1 2; do bench 1; bench 0; done
# bench/mlx_lm_bench.py: beside this folder in the repository, or from the repository's root
# where the scripts were copied elsewhere (.gpu/scripts).
MLX_LM_BENCH=$here/../mlx_lm_bench.py; [ -f "$MLX_LM_BENCH" ] || MLX_LM_BENCH=bench/mlx_lm_bench.py
timeout 200 python3 "$MLX_LM_BENCH" "$M" --prompt-tokens 512 --gen-tokens 128 --repeats 5 > "$O/mlx_lm_bench.json" &&
  grep -E "tokens_per_s" "$O/mlx_lm_bench.json"
if [ -x "${LLAMA_BENCH:-}" ] && [ -f "${GGUF:-}" ]; then
  for round in 1 2; do
    timeout 200 "$LLAMA_BENCH" -m "$GGUF" -p 512 -n 128 -ngl 99 -r 3 -o json > "$O/llama_bench.json" 2>/dev/null &&
      python3 -c "import json; [print('llama.cpp', r['n_prompt'], r['n_gen'], round(r['avg_ts'], 1)) for r in json.load(open('$O/llama_bench.json'))]"
    bench 1
  done
fi
if [ "${SERVER:-1}" = 1 ]; then
  with_libs "$P" serve -m "$M" --port 8090 --parallel 32 > "$O/serve.log" 2>&1 &
  SP=$!
  timeout 240 python3 "$here/server_bench.py" --port 8090 --levels 1 32 --max-tokens 128 > "$O/server_bench.json"
  kill $SP; wait $SP
fi
cp "$O/pensieve_bench_1.json" "$O/pensieve_bench.json"  # the decoder's, last round
python3 "$here/summarize.py" "$O" "$M" > "$O/summary.json"; cat "$O/summary.json"
