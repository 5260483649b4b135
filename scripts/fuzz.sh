#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang into build-fuzz/ and runs each one briefly from its
# seed corpus: the short CI run. Fails on any crash, leak, timeout, sanitizer report or property
# violation, printing the report and the input that caused it.
#
#   scripts/fuzz.sh                      every target, FUZZ_SECONDS (20) each, in parallel
#   scripts/fuzz.sh url_fuzz             one target
#   FUZZ_SECONDS=3600 scripts/fuzz.sh    longer runs (docs/reliability.md, "Tooling")
#   FUZZ_SEED=7                          libFuzzer's -seed (fixed by default, for repeatable CI runs)
#   FUZZ_KEEP_CORPUS=1                   keep build-fuzz/corpus/<target> between runs (default: start from
#                                        the seeds each time, so CI runs are comparable)
# Crashes land in build-fuzz/artifacts/<target>/ (crash-*, leak-*, timeout-*, oom-*). Reproduce one with
#   build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-fuzz"
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-1}
all_targets=(url_fuzz request_fields_fuzz response_assembly_fuzz h2_response_assembly_fuzz h1_response_assembly_fuzz
  capsule_fuzz)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# clang 19 from Debian 12 (clang 14 cannot compile the library: libstdc++ 12's std::expected needs
# clang >= 16). setup.sh installs it.
clangxx=${FUZZ_CXX:-clang++-19}
if ! command -v "$clangxx" >/dev/null || [ ! -d /usr/lib/llvm-19/lib/clang/19/lib/linux ]; then
  if [ "$(id -u)" -eq 0 ]; then bash "$root/scripts/setup.sh"; else sudo bash "$root/scripts/setup.sh"; fi
fi
symbolizer=$(command -v llvm-symbolizer-19 || ls /usr/lib/llvm-19/bin/llvm-symbolizer 2>/dev/null || true)

t0=$(date +%s)
cmake -S "$root" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER="$clangxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQUIVER_FUZZ=ON -DQUIVER_BUILD_TESTS=OFF -DQUIVER_BUILD_EXAMPLES=OFF -DQUIVER_BUILD_BENCH=OFF \
  -DQUIVER_INSTALL=OFF >/dev/null
cmake --build "$out" -j "$(nproc)" --target "${targets[@]}"
echo "fuzz.sh: build took $(( $(date +%s) - t0 )) s"

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${symbolizer:+:external_symbolizer_path=$symbolizer}"

t0=$(date +%s)
pids=()
for target in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$target"
  work="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  [ "${FUZZ_KEEP_CORPUS:-}" = "1" ] || rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  # New inputs go to the first folder (the work corpus), never into the repository's seeds.
  "$out/tests/fuzz/$target" "$work" "$seeds" -seed="$seed" -max_total_time="$seconds" -timeout=5 \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$out/$target.log" 2>&1 &
  pids+=($!)
done

failed=()
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  rc=0
  wait "${pids[$i]}" || rc=$?
  log="$out/$target.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 || true)
  if [ $rc -eq 0 ]; then
    echo "fuzz.sh: $target: ok (${runs:-?} inputs, ${cov:-cov: ?})"
    continue
  fi
  failed+=("$target")
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1 || true)
  echo "=================== FUZZ FAILURE: $target (exit $rc) ==================="
  # The property or sanitizer report, and the stack (libFuzzer's own frames left out).
  sed -n '/FUZZ_CHECK\|==[0-9]*==ERROR\|runtime error:\|ERROR: libFuzzer/,/SUMMARY/p' "$log" | grep -v ' in fuzzer::' | head -n 60 || true
  echo "input: ${artifact:-see $log}"
  echo "reproduce: $out/tests/fuzz/$target ${artifact:-<input>}"
  [ "$target" = response_assembly_fuzz ] && echo "trace it:  QUIVER_FUZZ_TRACE=1 $out/tests/fuzz/$target ${artifact:-<input>}"
  echo "=================== end of $target report; full log: $log ==================="
done
echo "fuzz.sh: runs took $(( $(date +%s) - t0 )) s"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each: no crash"
