#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv and installs w2vvx with every
# dependency. Fast when the environment already matches requirements.txt and setup.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.w2vvx-installed"
want="$(cat "$root/requirements.txt" "$root/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version 2>&1)" >&2
  "$python" -m venv "$venv"
fi
echo "[bootstrap] installing requirements (first run takes a few minutes)" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$root"
echo "$want" > "$stamp"
echo "[bootstrap] done" >&2
