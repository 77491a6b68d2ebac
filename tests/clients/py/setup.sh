#!/usr/bin/env bash
# Creates tests/clients/py/.venv (if missing) and installs requirements.txt into it.
# Idempotent and quick: it does nothing when the venv already holds exactly this requirements.txt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
py="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"

want="$( { sha256sum "$req" | cut -d' ' -f1; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
echo "$want" > "$stamp"
echo "py client tests: venv ready at $venv" >&2
