#!/usr/bin/env bash
# Configures and builds dmon with Ninja.  usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
jobs=${DMON_JOBS:-2}
echo "[build] configuring $build_dir"
mkdir -p "$build_dir"
cmake -S . -B "$build_dir" -G Ninja "$@" >"$build_dir/configure.log" 2>&1 || {
  cat "$build_dir/configure.log" >&2
  exit 1
}
echo "[build] building $build_dir with $jobs jobs"
# DMON_TARGETS: build only these targets (the ThreadSanitizer step needs just the tests).
# shellcheck disable=SC2086
ninja -C "$build_dir" -j "$jobs" ${DMON_TARGETS:-} | sed -u 's/^/[build] /'
exit "${PIPESTATUS[0]}"
