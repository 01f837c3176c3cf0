#!/usr/bin/env bash
# The lineage's whole pipeline in one command, as coco-cn's ./do_all.sh:
#   ./do_all.sh [CONFIG] [--rootpath DIR] [--backend B] [-v] [w2vvx do-all options...]
# CONFIG is a named config (base_w2vv, w2vv_attention, w2vv_attention_ctl, w2vvpp, nrccr, ...);
# default w2vv_attention_ctl. Without --collection it generates and uses the embedded default
# collection (offline, deterministic). It builds vocabularies, trains and evaluates the source-
# language model and the target-language model (CM), matches target-language queries against the
# source-language test sentences (CL), fuses CL and CM with the weight chosen on validation (CLM)
# and prints the results table (also written as Markdown and CSV into the run folder).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/scripts/bootstrap.sh"
config=w2vv_attention_ctl
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then config="$1"; shift; fi
# options of the w2vvx command itself (--rootpath, --backend, -v) go before the do-all subcommand
global=()
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rootpath|--backend)
      [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
      global+=("$1" "$2"); shift 2 ;;
    --rootpath=*|--backend=*|-v|-vv|--verbose) global+=("$1"); shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# OpenMP threads that spin while waiting for a busy core slow torch 7-9x on a shared 2-core machine
# (benchmarks/README.md, bench_epoch.py); passive waiting costs nothing when the cores are free.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$root/.venv/bin/w2vvx" ${global[@]+"${global[@]}"} do-all "$config" ${rest[@]+"${rest[@]}"}
