#!/usr/bin/env bash
# docs/plugin-sdk.md, step by step: install dmon and its SDK into a prefix, copy the installed
# examples (a C++ collector, a C++ sink, a C sink) out of it and build them against the
# installed SDK only, load them into the installed dmon, and check that the collector's samples
# reach both sinks.
#
# usage: tests/sdk/out_of_tree_test.sh BUILD_DIR
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/dmon-sdk.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAILED: $*"; echo "sdk out-of-tree: 0 passed, 1 failed"; exit 1; }

# Step 1: install (docs/plugin-sdk.md "Building outside the dmon tree").
cmake --install "$build" --prefix "$work/prefix" >/dev/null

# Step 2: each example is copied away from the source tree and built against the prefix.
examples=$work/prefix/share/dmon-sdk/examples
for example in hello_collector cpp_sink c_sink; do
  [ -d "$examples/$example" ] || fail "$example is not installed in $examples"
  cp -r "$examples/$example" "$work/$example"
  cmake -S "$work/$example" -B "$work/$example/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$work/$example.log" 2>&1 || { cat "$work/$example.log"; fail "configure $example"; }
  ninja -C "$work/$example/build" >>"$work/$example.log" 2>&1 || { cat "$work/$example.log"; fail "build $example"; }
  # Nothing of the dmon source tree was on the compiler's command line: the SDK alone sufficed.
  if grep -q "$source_dir" "$work/$example/build/compile_commands.json"; then fail "$example reached into $source_dir"; fi
  [ -f "$work/$example/build/$example.so" ] || fail "$example.so was not built"
  # The C++ examples' own tests, with the installed harness (dmon::sdk_testing).
  if [ -f "$work/$example/${example}_test.cpp" ]; then
    ctest --test-dir "$work/$example/build" --output-on-failure >>"$work/$example.log" 2>&1 ||
      { cat "$work/$example.log"; fail "$example's own tests (dmon::sdk_testing)"; }
    grep -q "100% tests passed" "$work/$example.log" || fail "$example's tests did not run"
  fi
done

# Step 3: load both into the installed dmon and check the samples arrive.
cat >"$work/hello.yaml" <<YAML
node: sdk-test
self_metrics: false
plugin_paths: [$work/hello_collector/build, $work/cpp_sink/build, $work/c_sink/build]
collectors:
  - plugin: hello_collector
    interval: 100ms
    greeting: hi
sinks:
  - plugin: c_sink
    path: $work/out.txt
    flush_interval: 100ms
  - plugin: cpp_sink
    path: $work/out.lp
    flush_interval: 100ms
YAML
"$work/prefix/bin/dmon" check --config "$work/hello.yaml" || fail "dmon check"
# check creates every sink in check mode: nothing written yet.
[ ! -e "$work/out.txt" ] && [ ! -e "$work/out.lp" ] || fail "dmon check created a sink's file"
timeout -s TERM 1.5 "$work/prefix/bin/dmon" run --config "$work/hello.yaml" 2>"$work/run.log" || true
grep -q "^hello.rounds 1$" "$work/out.txt" || { cat "$work/run.log"; fail "no samples from hello_collector in c_sink's file"; }
grep -q "^hello.rounds 5$" "$work/out.txt" || { cat "$work/out.txt"; fail "fewer than 5 rounds arrived"; }
grep -q "\[hello_collector\] ready to greet with 'hi'" "$work/run.log" || fail "the plugin's log line is missing"
grep -q "^hello.rounds,host=sdk-test,greeting=hi counter=5 " "$work/out.lp" || { cat "$work/out.lp"; fail "cpp_sink's file lacks round 5"; }
echo "sdk out-of-tree: 1 passed, 0 failed"
