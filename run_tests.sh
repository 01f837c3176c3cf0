#!/usr/bin/env bash
# Runs the whole w2vvx test suite and the docstring examples of w2vvx/ (pytest.ini: --doctest-modules) on the
# default backend (TensorFlow), then the
# backend-parity subset (tests marked `parity`) on PyTorch and JAX, and on PyTorch the fallbacks behind the
# backend fast paths' gate (W2VVX_FAST_PATH=0: Keras's own train step, the portable GRU; about 20 s).
# Sets up .venv on first use.
# Extra arguments go to every pytest call (e.g. ./run_tests.sh -x -k bigfile).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
bash scripts/bootstrap.sh || { echo "bootstrap failed" >&2; exit 1; }
py="$root/.venv/bin/python"
# Thread counts are set on purpose: torch slows many times over on a 2-core machine when another
# process holds the other core and its pool is left at the default.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# Test files are spread over W2VVX_TEST_WORKERS processes (pytest-xdist, default: one per core; 1 = no
# workers); each worker then gets an equal share of the threads, so the cores are not oversubscribed.
workers="${W2VVX_TEST_WORKERS:-$(nproc)}"
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers" --dist loadfile)
  OMP_NUM_THREADS=$(( OMP_NUM_THREADS / workers > 0 ? OMP_NUM_THREADS / workers : 1 ))
fi
# OpenMP threads that spin while waiting for a busy core slow torch 7-9x on a shared 2-core machine
# (benchmarks/README.md, bench_epoch.py); passive waiting costs nothing when the cores are free.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export TF_NUM_INTRAOP_THREADS="${TF_NUM_INTRAOP_THREADS:-$OMP_NUM_THREADS}"
export TF_NUM_INTEROP_THREADS="${TF_NUM_INTEROP_THREADS:-1}"
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONHASHSEED=0
# JAX spends most of its test time compiling tiny models; XLA's CPU optimisation passes do not pay for
# themselves there (the JAX parity leg: 27% faster, same results within the tests' tolerances). Set
# XLA_FLAGS yourself to test with the defaults users run.
export XLA_FLAGS="${XLA_FLAGS:---xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true}"
status=0
run() {
  local backend="$1"; shift
  echo "=== pytest on ${W2VVX_FAST_PATH:+W2VVX_FAST_PATH=$W2VVX_FAST_PATH }KERAS_BACKEND=$backend $* ==="
  KERAS_BACKEND="$backend" "$py" -m pytest ${parallel[@]+"${parallel[@]}"} "$@"
  local rc=$?
  # exit code 5 = no tests collected for this selection; anything else non-zero is a failure
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi
}
run tensorflow "$@"
run torch -m parity "$@"
run jax -m parity "$@"
W2VVX_FAST_PATH=0 run torch tests/test_backend_fast_path.py tests/test_recurrent.py "$@"
if [ $status -eq 0 ]; then echo "ALL BACKENDS PASSED"; else echo "SOME TESTS FAILED" >&2; fi
exit $status
