#!/usr/bin/env bash
# Draws a quilt-sim run's mesh with Graphviz: every node and link of the
# scenario, dead nodes greyed and dashed, cut links red and dashed.
#   scripts/sim-picture.sh SCENARIO.toml OUT.svg|OUT.png [AT_MS]
# With AT_MS the picture shows the mesh as it stood then (after the events
# up to AT_MS), else as it ends. Needs `neato` (Debian package graphviz),
# whose spring layout draws grids and rings as they are meant.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 SCENARIO.toml OUT.svg|OUT.png [AT_MS]" >&2
  exit 2
fi
scenario=$1 out=$2 at=${3:-}
sim=${QUILT_SIM:-$(dirname "$0")/../build/apps/quilt-sim/quilt-sim}
command -v neato >/dev/null || { echo "$0: neato not found (apt-get install graphviz)" >&2; exit 2; }
case $out in
  *.svg) format=svg ;;
  *.png) format=png ;;
  *) echo "$0: OUT must end in .svg or .png" >&2; exit 2 ;;
esac
dot=$(mktemp --suffix=.dot)
trap 'rm -f "$dot"' EXIT
args=("$scenario" --report /dev/null --dot "$dot")
[ -n "$at" ] && args+=(--dot-at "$at")
# The run's own verdict does not matter for a picture: draw what happened.
"$sim" "${args[@]}" >/dev/null 2>&1 || true
[ -s "$dot" ] || { echo "$0: quilt-sim wrote no picture" >&2; exit 1; }
neato -T"$format" -Goverlap=false "$dot" -o "$out"
echo "$out"
