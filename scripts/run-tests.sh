#!/usr/bin/env bash
# README's test command: lint, types, then unit and system tests in one pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh --kernel-builds --dev
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
.venv/bin/tox -e lint,type,all 2>&1 | tee "$log" || status=$?
# Repeat pytest's closing line last, so a CI log reader finds it.
grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 || true
exit "$status"
