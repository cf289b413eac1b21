#!/usr/bin/env bash
# Sets up, builds and runs every test through ctest. Extra arguments go to
# ctest (e.g. -R codec). Benchmarks and soaks carry the label "slow" and are
# excluded here; run them with: ctest --test-dir build -L slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j2 -LE slow "$@"
