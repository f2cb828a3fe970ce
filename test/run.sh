#!/bin/bash
# Runs uvu over test files matching $1 and closes with "N passed, N failed".
# uvu reports a suite whose before-hook threw as passed and may count zero
# tests as success: this wrapper fails on either, and on a host left changed
# (test/host-state.sh before and after).
set -uo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-'\.test\.ts$'}
dir=${2:-test}
out=$(mktemp)
before=$(test/host-state.sh)
node --import tsx node_modules/uvu/bin.js "$dir" "$pattern" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
plain() { sed 's/\x1b\[[0-9;]*m//g' "$out"; }
total=$(plain | awk '/^ *Total:/ {print $2}' | tail -1)
passed=$(plain | awk '/^ *Passed:/ {print $2}' | tail -1)
rm -f "$out"
total=${total:-0}; passed=${passed:-0}
# A guest's cleanup may still be ending its processes as the last test returns: give it 10 s.
for _ in $(seq 20); do
  after=$(test/host-state.sh)
  [ "$before" = "$after" ] && break
  sleep 0.5
done
if [ "$before" != "$after" ]; then
  echo "the tests left the host changed (- before, + after):"
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | sed 's/^</-/; s/^>/+/'
  rc=1
fi
echo "$passed passed, $((total - passed)) failed"
[ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$passed" = "$total" ]
