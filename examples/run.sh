#!/usr/bin/env bash
# Runs the examples' tests against the built tobira ($TOBIRA_BIN, default target/debug/tobira),
# after installing what they need: npm packages into examples/node_modules (when the lock file
# changed) and moto + localstripe into examples/.venv. TOBIRA_TEST_STORE=postgres runs them on
# PostgreSQL. Extra arguments go to `node --test` (e.g. a single test file).
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.tobira-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

vstamp=.venv/.tobira-requirements.sha256
vwant="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ ! -f "$vstamp" ] || [ "$(cat "$vstamp")" != "$vwant" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$vwant" > "$vstamp"
fi

if [ "$#" -gt 0 ]; then
  exec node --test --test-concurrency=1 "$@"
fi
exec node --test --test-concurrency=1 */test.mjs
