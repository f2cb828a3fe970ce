#!/bin/bash
# test/run.sh PATTERN [CJS_PATTERN]: runs every test/*.test.ts (or QEMU_SCRIPT_TEST_DIR's) matching PATTERN
# against the executable (or QEMU_SCRIPT_TEST_BINARY), and those matching CJS_PATTERN once more against
# dist/qemu-script.cjs; each run in its own process and private mount namespace
# (test/isolate.sh), QEMU_SCRIPT_TEST_JOBS at a time (default 3: much of a test is waiting on its
# guests), the longest first. It closes with "N passed, N failed, N skipped" and the reason of every skip.
# It fails when a file fails or counts no test (a file whose tests were all skipped is a skip, not a
# failure), and when the host is not as it was before (test/host-state.sh): uvu reports a suite whose
# before-hook threw as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-'\.test\.ts$'}
cjs_pattern=${2:-}
jobs=${QEMU_SCRIPT_TEST_JOBS:-3}
# A run is FILE or FILE@cjs.
dir=${QEMU_SCRIPT_TEST_DIR:-test}
mapfile -t files < <(ls "$dir"/*.test.ts | grep -E -- "$pattern"
  [ -n "$cjs_pattern" ] && ls "$dir"/*.test.ts | grep -E -- "$cjs_pattern" | sed 's/$/@cjs/')
[ "${#files[@]}" -gt 0 ] || { echo "test/run.sh: no test file matches $pattern"; exit 1; }
logs=$(mktemp -d)
before=$(test/host-state.sh)
started=$SECONDS

run_file() {
  local run=$1 log=$2 t0=$SECONDS
  if [ "${run%@cjs}" != "$run" ]; then
    QEMU_SCRIPT_TEST_BINARY=dist/qemu-script.cjs test/isolate.sh node --import tsx "${run%@cjs}" >"$log" 2>&1
  else
    test/isolate.sh node --import tsx "$run" >"$log" 2>&1
  fi
  echo "rc $? seconds $((SECONDS - t0))" >"$log.status"
}

# The longest first (as timed by the last run here; on a new machine, the ones that boot guests),
# so that the pool ends together.
declare -a order=()
mapfile -t order < <(for file in "${files[@]}"; do
  case $file in *e2e*) guess=100 ;; *) guess=10 ;; esac
  echo "$(cat ".cache/test-seconds/${file##*/}" 2>/dev/null || echo "$guess") $file"
done | sort -rn | cut -d' ' -f2)

running=0
for file in "${order[@]}"; do
  while [ "$running" -ge "$jobs" ]; do wait -n; running=$((running - 1)); done
  run_file "$file" "$logs/${file##*/}" &
  running=$((running + 1))
done
wait

total=0; passed=0; skipped=0; failed_files=()
mkdir -p .cache/test-seconds
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
for file in "${files[@]}"; do
  log=$logs/${file##*/}
  read -r _ rc _ seconds <"$log.status"
  # Timed only for the project's own files (test/runner.test.ts runs this on files of its own).
  [ "$dir" = test ] && echo "$seconds" >".cache/test-seconds/${file##*/}"
  t=$(plain "$log" | awk '/^ *Total:/ {print $2}' | tail -1)
  p=$(plain "$log" | awk '/^ *Passed:/ {print $2}' | tail -1)
  s=$(plain "$log" | awk '/^ *Skipped:/ {print $2}' | tail -1)
  t=${t:-0}; p=${p:-0}; s=${s:-0}
  echo "== ${file##*/} (${seconds}s): $p/$t passed, $s skipped"
  if [ "$rc" != 0 ] || { [ "$t" = 0 ] && [ "$s" = 0 ]; } || [ "$p" != "$t" ]; then
    failed_files+=("${file##*/}")
    plain "$log" | grep -vE '^(• )+ *$' | sed 's/^/   /'
    # A file that died before its summary (or failed with every test passed) counts one failure.
    [ "$p" = "$t" ] && t=$((t + 1))
  fi
  total=$((total + t)); passed=$((passed + p)); skipped=$((skipped + s))
done
echo
plain_skips=$(cat "$logs"/* | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^skipped: ' | sort -u)
[ -n "$plain_skips" ] && echo "$plain_skips"
rm -rf "$logs"

rc=0
[ "${#failed_files[@]}" -gt 0 ] && { echo "failed: ${failed_files[*]}"; rc=1; }
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
echo "$passed passed, $((total - passed)) failed, $skipped skipped ($((SECONDS - started)) s, $jobs at a time)"
exit "$rc"
