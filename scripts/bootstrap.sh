#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv and installs w2vvx with every
# dependency. Fast when the environment already matches the requirements file and setup.py.
#
# Device: with an NVIDIA GPU (`nvidia-smi -L` lists one) the GPU builds of TensorFlow, PyTorch and
# JAX are installed from requirements-gpu.txt; otherwise the CPU builds from requirements.txt.
# W2VVX_DEVICE=gpu or W2VVX_DEVICE=cpu overrides the detection. Switching rebuilds the environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.w2vvx-installed"
device="${W2VVX_DEVICE:-auto}"
if [ "$device" = "auto" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
    device=gpu
  else
    device=cpu
  fi
fi
case "$device" in
  gpu) requirements="$root/requirements-gpu.txt" ;;
  cpu) requirements="$root/requirements.txt" ;;
  *) echo "[bootstrap] W2VVX_DEVICE must be auto, cpu or gpu, got '$device'" >&2; exit 2 ;;
esac
want="$device $(cat "$requirements" "$root/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python="${PYTHON:-python3}"
previous="$( [ -f "$stamp" ] && cut -d' ' -f1 "$stamp" || true)"
if { [ "$previous" = "cpu" ] || [ "$previous" = "gpu" ]; } && [ "$previous" != "$device" ]; then
  echo "[bootstrap] switching .venv from $previous to $device builds: recreating it" >&2
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version 2>&1)" >&2
  "$python" -m venv "$venv"
fi
echo "[bootstrap] installing the $device builds from $(basename "$requirements") (first run takes a few minutes)" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$root"
echo "$want" > "$stamp"
expect=""
[ "$device" = "gpu" ] && expect="--expect-gpu"
status=0
report="$("$venv/bin/w2vvx" env $expect 2>&1)" || status=$?
echo "[bootstrap] done: $(echo "$report" | grep 'trains on' | tr -s ' ' | paste -sd ';' -)" >&2
if [ "$status" -eq 3 ]; then
  echo "$report" | grep '^w2vvx env:' >&2
  echo "[bootstrap] WARNING: the environment works, on the CPU. Fix the above, then rm -rf .venv and run again." >&2
elif [ "$status" -ne 0 ]; then
  echo "[bootstrap] WARNING: 'w2vvx env' failed (exit $status):" >&2
  echo "$report" | tail -5 >&2
fi
