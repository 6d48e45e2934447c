#!/usr/bin/env bash
# README's main job: install what is missing, build the images (cached), run the default
# suite (every starter scenario, probe mode, debian-6.1 on max and cortex-a57; the masking
# scenarios in linux mode on max) and print the verdict table. Exit code as `pmu-harness run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
.venv/bin/pmu-harness validate testcases/scenarios
.venv/bin/pmu-harness images build --kernel debian-6.1
status=0
.venv/bin/pmu-harness run testcases/scenarios --kernel debian-6.1 \
    --machine max --machine cortex-a57 --mode probe "$@" || status=$?
.venv/bin/pmu-harness run testcases/scenarios --tag masking --kernel debian-6.1 \
    --machine max --mode linux "$@" || { s=$?; [ "$status" -eq 1 ] || status=$s; }
exit "$status"
