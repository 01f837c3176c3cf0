#!/usr/bin/env bash
# A GPU session's measurements of issue #24, as parts (PARTS, default "profile tests bench"), each with its own
# time limit and writing its files as it goes, so that a part that runs out of time keeps what the earlier ones found:
#   profile  profile_gpu_step.py: float32 products in torch and JAX (which backends use TF32 by default), then the
#            torch step of nrccr (batch 128 and 1024) and w2vvpp (batch 128), float32 against tf32: kernels, waits;
#   syncs    profile_gpu_step.py --sync-sources: the host waits of NRCCR's torch step (batch 128, tf32) by line;
#   quality  w2vvpp at the lineage's sizes trained on torch for QUALITY_EPOCHS epochs (default 10) on the embedded
#            collection, float32 against tf32 (same seed), then `w2vvx evaluate` on its test split;
#   tests    the parity tests on the torch backend on this GPU, at most TEST_SECONDS (default 150) (tests/conftest.py
#            turns TF32 off for them; TESTS narrows them, e.g. "tests/test_recurrent.py");
#   bench    (last, with the time left of DEADLINE seconds, default 570) bench_train.py: torch and JAX against
#            torch_reference.py, w2vvpp and nrccr (BENCH_CONFIGS) at batch 128, tf32, 3 interleaved rounds of 100 steps.
# Usage: OUT=folder REFERENCE=path/to/torch_reference.py [PARTS="..."] [DEADLINE=570] bash benchmarks/gpu_session.sh
set -uo pipefail
out="${OUT:-benchmarks/results/gpu}"
reference="${REFERENCE:-../shared/bench/torch_reference.py}"
parts=" ${PARTS:-profile tests bench} "
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
deadline=$((SECONDS + ${DEADLINE:-570}))
# XLA compiles each round's identical steps once: the cache keeps rounds 2 and 3 from compiling again
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/w2vvx_jax_cache}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, jax, keras; print('torch', torch.__version__, 'jax', jax.__version__, 'keras', keras.__version__)" \
  | tee -a "$out/gpu.txt"
has() { [[ "$parts" == *" $1 "* ]]; }
start=$SECONDS
if has profile; then
  KERAS_BACKEND=torch timeout 140 python3 benchmarks/profile_gpu_step.py --matmul --config nrccr --batches 128,1024 \
    --precision float32,tf32 --steps 30 --profile-steps 5 --out "$out/profile_nrccr.json" 2>&1 | tee "$out/profile_nrccr.md"
  KERAS_BACKEND=torch timeout 50 python3 benchmarks/profile_gpu_step.py --config w2vvpp --batches 128 \
    --precision float32,tf32 --steps 100 --profile-steps 5 --out "$out/profile_w2vvpp.json" 2>&1 | tee "$out/profile_w2vvpp.md"
  echo "profiles: $((SECONDS - start)) s"; start=$SECONDS
fi
if has syncs; then
  KERAS_BACKEND=torch timeout 90 python3 benchmarks/profile_gpu_step.py --config nrccr --batches 128 --precision tf32 \
    --steps 30 --profile-steps 5 --sync-sources --out "$out/syncs_nrccr.json" 2>&1 | tee "$out/syncs_nrccr.md"
  echo "syncs: $((SECONDS - start)) s"; start=$SECONDS
fi
if has quality; then
  root=/tmp/w2vvx_quality
  mkdir -p "$root" && python3 -m w2vvx.cli --rootpath "$root" generate --overwrite > /dev/null
  for precision in float32 tf32; do
    timeout 150 python3 -m w2vvx.cli --rootpath "$root" --backend torch train w2vvpp --size lineage \
      --epochs "${QUALITY_EPOCHS:-10}" --precision "$precision" --seed 0 --run-dir "$root/runs/$precision" --overwrite \
      > "$out/quality_train_$precision.log" 2>&1
    python3 -m w2vvx.cli --rootpath "$root" --backend torch evaluate "$root/runs/$precision" --split test \
      --out "$out/quality_$precision.md" 2>&1 | tail -12
    cp "$root/runs/$precision/history.csv" "$out/quality_history_$precision.csv" 2>/dev/null
  done
  echo "quality: $((SECONDS - start)) s"; start=$SECONDS
fi
if has tests; then
  # before the benchmark, which takes the time left
  # shellcheck disable=SC2086  # TESTS is a list of paths
  KERAS_BACKEND=torch timeout "${TEST_SECONDS:-150}" python3 -m pytest -m parity -q -p no:cacheprovider --tb=short \
    ${TESTS:-tests} 2>&1 | tee "$out/parity_torch_gpu.log" | tail -40
  echo "parity tests: $((SECONDS - start)) s"; start=$SECONDS
fi
if has bench; then
  timeout $((deadline - SECONDS - 20)) python3 benchmarks/bench_train.py --device gpu --threads 4 --backends torch,jax \
    --configs "${BENCH_CONFIGS:-w2vvpp,nrccr}" --batches 128 --precision tf32 --steps 100 --warmup 5 --repeats 3 --reference "$reference" \
    --out "$out/train_gpu_lineage_tf32.json" 2>&1 | tee "$out/train_gpu.log"
  echo "bench_train: $((SECONDS - start)) s"
fi
