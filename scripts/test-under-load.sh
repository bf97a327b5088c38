#!/usr/bin/env bash
# Runs timing-sensitive tests on a loaded machine: one busy-looping process per core competes with
# the tests for CPU, so timers fire late and races that a quiet machine hides show up.
#
#   npm run test:loaded                                  the default timing-sensitive files
#   npm run test:loaded -- packages/transact/test/crash  only files whose path contains that text
#   STRATA_LOAD_PROCESSES=8 npm run test:loaded          more (or fewer) busy processes than cores
#
# Exits with the tests' exit code. The busy processes are killed on every exit path (trap).
# The tests run through `npm test`, which gives them (and the workers they spawn) the
# development condition, so they run the packages' sources, not dist/.

set -uo pipefail

cd "$(dirname "$0")/.."

# The files whose tests depend on timing: leases and takeover, crash recovery, graceful shutdown,
# queue wake-ups and cron ticks. Filters are substrings of test file paths, as in `npm test`.
DEFAULT_FILTERS=(
  packages/transact/test/scale-out
  packages/transact/test/crash
  packages/transact/test/shutdown
  packages/transact/test/queues
  packages/transact/test/schedules
)

if [ "$#" -gt 0 ]; then
  filters=("$@")
else
  filters=("${DEFAULT_FILTERS[@]}")
fi

# One busy process per core saturates the CPU without starving the machine of memory.
processes="${STRATA_LOAD_PROCESSES:-$(nproc)}"
if ! [[ "$processes" =~ ^[0-9]+$ ]]; then
  echo "test-under-load: STRATA_LOAD_PROCESSES must be a whole number, got '$processes'" >&2
  exit 2
fi

hog_pids=()
test_pid=""
stop_hogs() {
  for pid in "${hog_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${hog_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  hog_pids=()
}
# On a signal, stop the tests (their runner removes its PostgreSQL cluster), then exit with the
# shell's code for that signal; the EXIT trap stops the busy processes on every path.
on_signal() {
  if [ -n "$test_pid" ]; then
    # The whole group: npm does not pass a signal on to the runner, nor the runner to its typecheck.
    kill -TERM -- "-$test_pid" 2>/dev/null || true
    wait "$test_pid" 2>/dev/null || true
  fi
  exit "$1"
}
trap stop_hogs EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

for ((i = 0; i < processes; i++)); do
  # nice 0: the same priority as the tests, so they really compete for every core.
  nice -n 0 node -e 'for (;;) {}' &
  hog_pids+=("$!")
done
echo "test-under-load: ${processes} busy process(es) on $(nproc) core(s); running: npm test -- ${filters[*]}" >&2

# In the background so a signal to this script is handled at once, not after the tests finish;
# in a process group of its own (setsid) so that signal reaches every process of the run.
setsid npm test -- "${filters[@]}" &
test_pid=$!
wait "$test_pid"
code=$?
test_pid=""
echo "test-under-load: tests exited with ${code}" >&2
exit "$code"
