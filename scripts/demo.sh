#!/usr/bin/env bash
# Installs what is missing, builds, and runs dmon on this machine with config/standalone.yaml:
# CPU, memory, disk and network samples, live, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DDMON_BUILD_TESTS=OFF
echo
echo "[demo] build/bin/dmon run --config config/standalone.yaml   (Ctrl-C to stop)"
echo
exec build/bin/dmon run --config config/standalone.yaml
