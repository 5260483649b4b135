#!/usr/bin/env bash
# Sanitizer runs (docs/reliability.md, "Tooling"), built with g++ into build-san/ (-g1, frame pointers):
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer over the unit and integration
#         tests at -O0 (the build dominates: -O0 builds ~20% faster and the tests still take seconds),
#         except tests that measure resident memory (ASan's quarantine and shadow memory inflate RSS, so
#         their bounds do not hold there): the filter below names them.
#   tsan  ThreadSanitizer over the Client's multi-threaded tests (ClientTest.*, and LifetimeTest.*: the
#         lifetime and shutdown rules of docs/api.md) at -O1, with Asio's fenced blocks off
#         (ASIO_DISABLE_FENCED_BLOCK: TSan does not model std::atomic_thread_fence; Asio's handler queues
#         are mutex-protected, which TSan does see). The tests wait on events, not on timing: none is
#         skipped.
# Each test binary runs as nproc gtest shards in parallel, each under a 15-minute limit.
# Any sanitizer report fails the run (halt_on_error; UBSan is built with -fno-sanitize-recover), and the
# report is printed under a banner. Usage: scripts/sanitize.sh [asan] [tsan]   (default: both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-san"
jobs=$(nproc)

# Tests that measure RSS (their memory bounds are meaningless under ASan).
rss_tests='*TwoHundredMegabytes*'
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(asan tsan)

# ASan/LSan/UBSan/TSan settings: stop at the first report, with a symbolized stack.
symbolizer=$(command -v llvm-symbolizer || ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | tail -n1 || true)
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:abort_on_error=0:exitcode=86"
export LSAN_OPTIONS="exitcode=86"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:exitcode=86"
if [ -n "$symbolizer" ]; then
  for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; do export "$v=${!v}:external_symbolizer_path=$symbolizer"; done
fi

now() { date +%s; }
report_time() { echo "sanitize.sh: $1 took $(( $(now) - $2 )) s"; }

configure() {  # dir sanitizers optimization [extra compile flags]
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="${4:-}" -DCMAKE_CXX_FLAGS_DEBUG="$3 -g1" -DQUIVER_SANITIZE="$2" \
    -DQUIVER_BUILD_EXAMPLES=OFF -DQUIVER_BUILD_BENCH=OFF -DQUIVER_INSTALL=OFF >/dev/null
}

# Runs one gtest binary in $jobs shards in parallel; on failure prints the sanitizer report (if any) and
# the failing shard's log. Returns non-zero on any failure.
run_sharded() {  # name binary filter
  local name=$1 binary=$2 filter=$3 logdir="$out/logs/$1" pids=() status=0 i
  rm -rf "$logdir" && mkdir -p "$logdir"
  for ((i = 0; i < jobs; i++)); do
    GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i timeout -k 10 900 \
      "$binary" --gtest_filter="$filter" --gtest_brief=1 >"$logdir/shard$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    local rc=0
    wait "${pids[$i]}" || rc=$?
    [ $rc -eq 0 ] && continue
    status=1
    if [ $rc -eq 86 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$logdir/shard$i.log"; then
      echo "=================== SANITIZER REPORT ($name, shard $i, exit $rc) ==================="
      grep -nE '^\[ RUN|ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$logdir/shard$i.log" | tail -n 5
      sed -n '/==[0-9]*==ERROR\|runtime error:\|WARNING: ThreadSanitizer/,$p' "$logdir/shard$i.log" | head -n 120
      echo "=================== end of report; full log: $logdir/shard$i.log ==================="
    else
      [ $rc -eq 124 ] && echo "sanitize.sh: $name shard $i hung: stopped after 15 minutes"
      echo "=================== TEST FAILURE ($name, shard $i, exit $rc) ==================="
      tail -n 60 "$logdir/shard$i.log"
    fi
  done
  # gtest prints a summary per shard; show the counts.
  grep -hE '^\[  (PASSED|FAILED)  \]' "$logdir"/shard*.log | sed "s/^/sanitize.sh: $name: /" || true
  return $status
}

failed=()
for step in "${steps[@]}"; do
  case "$step" in
    asan)
      t0=$(now)
      configure "$out/asan" "address,undefined" -O0
      cmake --build "$out/asan" -j "$jobs" --target quiver_unit_tests quiver_integration_tests
      report_time "asan build" "$t0"
      t0=$(now)
      run_sharded asan-unit "$out/asan/tests/quiver_unit_tests" "*" || failed+=(asan-unit)
      report_time "asan unit tests" "$t0"
      t0=$(now)
      run_sharded asan-integration "$out/asan/tests/quiver_integration_tests" "*:-$rss_tests" || failed+=(asan-integration)
      report_time "asan integration tests" "$t0"
      ;;
    tsan)
      t0=$(now)
      configure "$out/tsan" "thread" -O1 "-DASIO_DISABLE_FENCED_BLOCK"
      cmake --build "$out/tsan" -j "$jobs" --target quiver_client_tsan_tests
      report_time "tsan build" "$t0"
      t0=$(now)
      run_sharded tsan-client "$out/tsan/tests/quiver_client_tsan_tests" "ClientTest.*:LifetimeTest.*" || failed+=(tsan-client)
      report_time "tsan client tests" "$t0"
      ;;
    *) echo "sanitize.sh: unknown step '$step' (asan, tsan)" >&2; exit 2 ;;
  esac
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize.sh: all sanitizer runs passed (${steps[*]})"
