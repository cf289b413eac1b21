#!/usr/bin/env bash
# The test command (CI runs it through .ci/run). In order, each stage failing
# the run:
# 1. setup.sh, then every test of build/ through ctest (extra arguments go to
#    this run, e.g. -R codec). Benchmarks and soaks carry the label "slow"
#    and are excluded; run them with: ctest --test-dir build -L slow
# 2. AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/): the unit
#    tests, then the integration tests against the sanitized quiltd,
#    quilt-console and quilt-sim, minus those labelled "timing" (they measure
#    time, which the sanitizers slow down) and "packaging" (it installs and
#    packages the build). A report by any of those
#    processes fails the run, even when the test itself passed.
# 3. ThreadSanitizer (build-tsan/): the tests that run the ZeroMQ reactor
#    thread beside CAF's scheduler threads (node_test, sim_test), and the
#    simulator's network model under concurrent senders (link_model_test).
# 4. libFuzzer (build-fuzz/, clang): fuzz.codec, fuzz.config, fuzz.protocol,
#    30 s each.
# QUILT_SKIP_SANITIZERS=1 skips stages 2 and 3, QUILT_SKIP_FUZZ=1 stage 4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j2 -LE slow "$@"

jobs=-j"$(nproc)"
# Only what the tests run is built (no benchmarks).
build() {
  local dir=$1
  shift
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$dir" "$jobs" "${targets[@]}"
}

if [ "${QUILT_SKIP_SANITIZERS:-0}" != 1 ]; then
  # -O1: the sanitized code runs fast enough and builds faster than -O2.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQUILT_SANITIZE=ON \
        -DCMAKE_CXX_FLAGS=-O1 >/dev/null
  # quilt_unit_tests: every unit test (tests/CMakeLists.txt).
  build build-asan quilt_unit_tests quiltd quilt-console quilt-sim
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp"
  ASAN_OPTIONS=detect_leaks=1 \
    ctest --test-dir build-asan --output-on-failure -j2 -LE "slow|integration"
  # The programs the integration tests start write any report to a file of
  # their own (a test may pass although a node it started failed).
  logs=$PWD/build-asan/sanitizer-logs
  rm -rf "$logs" && mkdir -p "$logs"
  status=0
  ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" \
  UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$logs/ubsan" \
    ctest --test-dir build-asan --output-on-failure -j2 -L integration \
          -LE "slow|timing|packaging" || status=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "test: sanitizer reports from the integration tests' programs:" >&2
    cat "$logs"/* >&2
    status=1
  fi
  [ "$status" = 0 ] || exit "$status"

  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DQUILT_SANITIZE=thread \
        -DCMAKE_CXX_FLAGS=-O1 >/dev/null
  build build-tsan node_test sim_test link_model_test
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j2 -R '^(node_test|sim_test|link_model_test):'
fi

if [ "${QUILT_SKIP_FUZZ:-0}" != 1 ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DQUILT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  build build-fuzz fuzz_codec fuzz_config fuzz_protocol
  ctest --test-dir build-fuzz --output-on-failure -j2 -L fuzz
fi
