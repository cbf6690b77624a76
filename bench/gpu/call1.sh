#!/usr/bin/env bash
# GPU machine, first call (bench/gpu/README.md): probe the image, keep the first part of the
# mlx-cuda-13 wheel outside the tree, unpack the build .debs into /opt/pdeps, and start writing
# the random Hugging Face checkpoints in a background session (it outlives the call).
set -x
D=/root/pd; mkdir -p "$D"; REPO=$(pwd); S=$REPO/.gpu/scripts
{
  cat /etc/os-release; uname -a; nproc; free -g; df -h / /tmp
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
  gcc --version | head -1; cmake --version | head -1; ninja --version; nvcc --version | tail -2
  command -v pkg-config pkgconf
  ls -d /usr/include/nlohmann /usr/include/CLI /usr/include/httplib.h /usr/include/x86_64-linux-gnu/curl /usr/include/openssl
  ldconfig -p | grep -E 'libcurl|libssl|libbrotli|libz\.so|libcpp-httplib|libcuda\.so'
  command -v python3; python3 --version
  python3 -m pip list 2>/dev/null | grep -iE '^(transformers|protobuf|jinja2|pyyaml|sentencepiece|numpy|safetensors|torch|nvidia|mlx)'
  python3 -c "import nvidia, os; [print(p, sorted(os.listdir(p))) for p in nvidia.__path__]"
  ls /usr/local/cuda/include/cuda_runtime.h /usr/local/cuda/lib64/stubs 2>&1 | head -5
} > "$OUT/probe.txt" 2>&1
cp .gpu/p1/mlxcuda.part_aa .gpu/p1/*.whl "$D/"
export PDEPS=/opt/pdeps; source "$S/deps_env.sh"; unpack_debs .gpu/p1/debs
ls "$PDEPS/usr/lib/x86_64-linux-gnu" >> "$OUT/probe.txt"
cd "$REPO"
setsid nohup bash -c "python3 $S/gpu_test_model.py hf $D/work-mid --preset mid && \
  python3 $S/gpu_test_model.py hf $D/work-phi3 --preset phi3-mini-128k" > "$D/hf.log" 2>&1 < /dev/null &
sleep 5; cat "$D/hf.log"; ls -la "$D"
cat "$OUT/probe.txt"
