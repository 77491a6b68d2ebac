#!/usr/bin/env bash
# Runs the Python client suite against target/debug/tobira (or $TOBIRA_BIN).
# Store: TOBIRA_TEST_STORE=sqlite (default) | postgres. Extra args go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
cd "$here"
exec "$here/.venv/bin/python" -m pytest "$@"
