#!/usr/bin/env bash
# One GPU session's measurements of issue #24, in the order of what they explain (each step has its own time
# limit and writes its files as it goes, so a step that runs out of time keeps what the earlier steps found):
#   1. profile_gpu_step.py: float32 products in torch and JAX (which backends use TF32 by default), then the
#      torch step of nrccr (batch 128 and 1024) and w2vvpp (batch 128), float32 against tf32: kernels, waits;
#   2. bench_train.py: torch and JAX against torch_reference.py, w2vvpp and nrccr at batch 128, tf32,
#      3 interleaved rounds of 100 timed steps;
#   3. with the time left of DEADLINE seconds (default 570), the parity tests on the torch backend on this GPU
#      (tests/conftest.py turns TF32 off for them).
# Usage: OUT=folder REFERENCE=path/to/torch_reference.py [DEADLINE=570] bash benchmarks/gpu_session.sh
set -uo pipefail
out="${OUT:-benchmarks/results/gpu}"
reference="${REFERENCE:-../shared/bench/torch_reference.py}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
deadline=$((SECONDS + ${DEADLINE:-570}))
# XLA compiles each round's identical steps once: the cache keeps rounds 2 and 3 from compiling again
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/w2vvx_jax_cache}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, jax, keras; print('torch', torch.__version__, 'jax', jax.__version__, 'keras', keras.__version__)" \
  | tee -a "$out/gpu.txt"
start=$SECONDS
KERAS_BACKEND=torch timeout 140 python3 benchmarks/profile_gpu_step.py --matmul --config nrccr --batches 128,1024 \
  --precision float32,tf32 --steps 30 --profile-steps 5 --out "$out/profile_nrccr.json" 2>&1 | tee "$out/profile_nrccr.md"
KERAS_BACKEND=torch timeout 50 python3 benchmarks/profile_gpu_step.py --config w2vvpp --batches 128 \
  --precision float32,tf32 --steps 100 --profile-steps 5 --out "$out/profile_w2vvpp.json" 2>&1 | tee "$out/profile_w2vvpp.md"
echo "profiles: $((SECONDS - start)) s"; start=$SECONDS
timeout $((deadline - SECONDS - 20)) python3 benchmarks/bench_train.py --device gpu --threads 4 --backends torch,jax --configs w2vvpp,nrccr \
  --batches 128 --precision tf32 --steps 100 --warmup 5 --repeats 3 --reference "$reference" \
  --out "$out/train_gpu_lineage_tf32.json" 2>&1 | tee "$out/train_gpu.log"
echo "bench_train: $((SECONDS - start)) s"; start=$SECONDS
left=$((deadline - SECONDS))
if [ "$left" -gt 30 ]; then
  KERAS_BACKEND=torch timeout "$left" python3 -m pytest -m parity -q -p no:cacheprovider tests 2>&1 \
    | tail -25 | tee "$out/parity_torch_gpu.txt"
else
  echo "parity tests not run: $left s left" | tee "$out/parity_torch_gpu.txt"
fi
echo "parity tests: $((SECONDS - start)) s"
