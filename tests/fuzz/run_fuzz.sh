#!/bin/sh
# run_fuzz.sh FUZZER SEEDS WORKDIR SECONDS [LIBFUZZER OPTIONS...]
# Runs FUZZER for SECONDS over a fresh copy of the seed corpus SEEDS in
# WORKDIR/corpus (libFuzzer adds what it finds to its first corpus folder,
# which must not be the source tree); a crashing input lands in
# WORKDIR/artifacts. Exits non-zero on any crash, leak, sanitizer report or
# timeout (an input that takes more than 10 s).
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus"
