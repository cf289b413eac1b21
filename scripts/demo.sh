#!/usr/bin/env bash
# Sets up and builds Quilt, then runs the 3-node demo mesh of config/:
# beta and gamma in the background, alpha in front through its line
# interface, which pings the others, sends messages, shows peers and
# counters, then everything stops cleanly. Then quilt-sim runs a ring of 20
# nodes in one process (config/sim-demo.toml).
#   bash scripts/demo.sh            # scripted tour, then stop
#   bash scripts/demo.sh --stay     # scripted tour, then alpha's prompt is yours
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh quiltd quilt-console quilt-sim

quiltd=${QUILTD:-build/apps/quiltd/quiltd}
logs=build/demo
mkdir -p "$logs"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

for n in beta gamma; do
  "$quiltd" "config/$n.toml" >"$logs/$n.out" 2>"$logs/$n.log" </dev/null &
  pids+=($!)
done
echo "demo: beta and gamma are running (logs in $logs/); alpha follows"

tour() {
  sleep 2 # the links come up within a heartbeat or two
  for cmd in "/peers" "/routes" "/ping beta" "/ping gamma" "/ping all" "/traceroute gamma" \
             "beta hello beta, this is alpha" "all hello everyone" \
             "/stats"; do
    echo "$cmd"
    sleep 0.5
  done
}

if [ "${1:-}" = "--stay" ] && [ -t 0 ]; then
  # The tour, then the keyboard: type /help, or /quit (or Ctrl-C) to stop.
  { tour; cat; } | script -qfec "$quiltd config/alpha.toml --log-level warning" /dev/null
else
  { tour; sleep 1; echo "/quit"; } \
    | script -qfec "$quiltd config/alpha.toml --log-level warning" /dev/null
fi

echo
echo "demo: what beta and gamma received:"
sleep 0.5
cleanup
grep -h -E "hello" "$logs"/beta.log "$logs"/gamma.log 2>/dev/null || true
echo "demo: all nodes stopped"

echo
echo "demo: the same node, 20 times in one process (quilt-sim config/sim-demo.toml):"
"${QUILT_SIM:-build/apps/quilt-sim/quilt-sim}" config/sim-demo.toml \
  --report "$logs/sim-demo.json" --dot "$logs/sim-demo.dot"
echo "demo: report in $logs/sim-demo.json, topology in $logs/sim-demo.dot"
