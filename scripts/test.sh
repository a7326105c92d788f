#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit, host and integration tests
# (a real RabbitMQ), dmonctl serve's API and server tests and its page in Debian's headless
# Chromium (tests/browser), the Debian packages (built, installed, upgraded, purged), the format
# check, the Windows build with its tests under Wine and its installer (installed, upgraded,
# uninstalled under Wine), and the unit, host and integration tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Then ThreadSanitizer on the host, pipeline and reload tests, and the fuzzers (tests/fuzz).
# usage: scripts/test.sh            (CI runs exactly this through .ci/run)
set -uo pipefail
cd "$(dirname "$0")/.."

failures=0
passed=0
failed_steps=""
durations=""
run_started=$SECONDS
step_started=$SECONDS
step_name=""
# Each step says how long it took, so a slow one is seen before CI's 90 minutes are.
step_done() {
  [ -n "$step_name" ] && echo "[test] step '$step_name' took $((SECONDS - step_started)) s" &&
    durations+="  $((SECONDS - step_started)) s  $step_name"$'\n'
  step_name=""
}
step() { step_done; echo; echo "==== $*"; step_name="$*"; step_started=$SECONDS; }
record() {  # record NAME EXIT_CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "[test] $1: ok"; else
    failures=$((failures + 1)); failed_steps+=" '$1'"; echo "[test] $1: FAILED (exit $2)"; fi
}

step "setup"
bash scripts/setup.sh --tests || { echo "[test] setup failed"; exit 1; }

step "build (RelWithDebInfo)"
bash scripts/build.sh build -DDMON_BUILD_TESTS=ON || { echo "[test] build failed"; exit 1; }

step "tests"
(cd build && ctest --output-on-failure -j 2 --timeout 300)
record "tests" $?

# The .deb files as an administrator meets them: built (lintian clean), installed, the agent run
# as its unit runs it, upgraded, removed and purged (tests/package/deb_test.sh; needs root).
step "Debian packages"
if [ "$(id -u)" = 0 ]; then
  bash tests/package/deb_test.sh build
  record "debian packages" $?
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo bash tests/package/deb_test.sh build
  record "debian packages" $?
else
  echo "[test] the package test installs with dpkg: run scripts/test.sh as root or with sudo"
  record "debian packages" 1
fi

step "format check"
bash scripts/format.sh --check
record "format" $?

step "Windows build (mingw-w64) and tests under Wine"
if bash scripts/build-windows.sh build-windows; then
  bash tests/windows/wine_tests.sh build-windows build
  record "windows tests under wine" $?
  step "Windows installer (wixl) under Wine"
  bash tests/package/msi_test.sh build-windows build
  record "windows installer" $?
else
  record "windows build" 1
fi

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
if bash scripts/build.sh build-asan -DDMON_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug \
     -DDMON_SANITIZE=address,undefined; then
  step "tests under ASan + UBSan"
  # Not again under ASan: the scaling suite (load across PostgreSQL and several controllers: its
  # code paths are the integration suite's, only more of them), the page in Chromium (the API
  # behind it runs here as web tests) and the out-of-tree SDK build (a compile, no new code).
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j 2 --timeout 300 -E '^(scaling|browser|sdk\.out_of_tree)$')
  record "sanitizer tests" $?
else
  record "sanitizer build" 1
fi

# Data races: the host, pipeline and reload tests (threads: io pool, control clients, reload,
# status, stop) built with ThreadSanitizer.
step "build with ThreadSanitizer"
if DMON_TARGETS="dmon_unit_tests dmon_host_tests" bash scripts/build.sh build-tsan \
     -DDMON_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug -DDMON_SANITIZE=thread; then
  step "tests under ThreadSanitizer"
  (cd build-tsan && export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" &&
     ./bin/dmon_unit_tests --gtest_brief=1 && ./bin/dmon_host_tests --gtest_brief=1)
  record "thread sanitizer tests" $?
else
  record "thread sanitizer build" 1
fi

# Hostile input: libFuzzer on the line-protocol parser (and its round trip), the config loader
# and the control request parser, each for 60 s from the seed corpus in tests/fuzz/corpus.
step "fuzzing (libFuzzer, ASan + UBSan)"
bash scripts/fuzz.sh "${DMON_FUZZ_SECONDS:-60}"
record "fuzzing" $?

step_done
echo
echo "[test] step durations:"
printf '%s' "$durations"
echo "[test] all steps took $((SECONDS - run_started)) s"
echo "test steps: $passed passed, $failures failed${failed_steps:+ (failed:$failed_steps)}"
[ "$failures" -eq 0 ]
