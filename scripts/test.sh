#!/usr/bin/env bash
# Sets up, builds and runs every test through ctest, then runs the unit
# tests again in an AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-asan/; any report fails the run). Extra arguments go to the first
# ctest run (e.g. -R codec). Benchmarks and soaks carry the label "slow" and
# are excluded here; run them with: ctest --test-dir build -L slow
# QUILT_SKIP_SANITIZERS=1 skips the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j2 -LE slow "$@"

if [ "${QUILT_SKIP_SANITIZERS:-0}" != 1 ]; then
  unit_tests=(codec_test config_test protocol_test node_test routing_test
              sim_test topology_test scenario_test)
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQUILT_SANITIZE=ON \
        -DCMAKE_CXX_FLAGS=-O1 >/dev/null
  targets=()
  for t in "${unit_tests[@]}"; do targets+=(--target "$t"); done
  cmake --build build-asan -j"$(nproc)" "${targets[@]}"
  # The process tests (label integration) drive binaries, not this build.
  ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp" \
    ctest --test-dir build-asan --output-on-failure -j2 -LE "slow|integration"
fi
