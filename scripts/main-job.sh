#!/usr/bin/env bash
# README's main job: install what is missing, build the images (cached), run the default
# suite (configs/suites/default.yaml: every starter scenario in probe mode on debian-6.1 with
# max and cortex-a57, the masking scenarios in linux mode on max) and print the verdict
# table. Exit code as `pmu-harness run`. Extra arguments go to `pmu-harness run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
.venv/bin/pmu-harness validate testcases/scenarios
.venv/bin/pmu-harness images build --kernel debian-6.1
exec .venv/bin/pmu-harness run --suite default "$@"
