#!/usr/bin/env bash
# README's main job: install what is missing, build the images (cached), run the default
# suite (configs/suites/default.yaml: every starter scenario in probe mode on debian-6.1 with
# max and cortex-a57, the masking scenarios in linux mode on max) and print the verdict
# table. Exit code as `pmu-harness run`. Extra arguments go to `pmu-harness run`.
# Prints how long each set-up step took.
set -euo pipefail
cd "$(dirname "$0")/.."
step_started=0
begin() { step_started=$(date +%s%N); }
took() { echo "main-job: $1 took $(( ($(date +%s%N) - step_started) / 1000000 )) ms"; }

begin
scripts/setup-host.sh
took "set-up (scripts/setup-host.sh)"
# The scenarios are checked while the images build (the one needs no result of the other).
begin
.venv/bin/pmu-harness images build --kernel debian-6.1 &
images=$!
status=0
.venv/bin/pmu-harness validate testcases/scenarios || status=$?
wait "$images" || status=$?
took "validate + images build"
[ "$status" = 0 ] || exit "$status"
exec .venv/bin/pmu-harness run --suite default "$@"
