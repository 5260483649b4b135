#!/usr/bin/env bash
# A bounded soak of the client (issue 7, "Memory and load"); not run in CI. Two phases:
#
#   load    DURATION seconds with CONCURRENCY requests in flight through one quiver::Client (GET /bytes of
#           1 B..32 KiB, POST /echo 4 KiB, GET /delay/20; every body checked). Pass: 0 failures, resident
#           memory at the end <= 110% of what it was after the warm-up, open file descriptors steady (the
#           same at the end as after the warm-up, never more than 2 above it).
#   cycles  CYCLES times: a new Client, one request on a new connection, the Client destroyed. Pass: 0
#           failures and the same number of open descriptors after the last cycle as before the first.
#
# The server is the project's own, in the soak process by default (the numbers then cover client and
# server), or `quiver serve` in its own process with --serve (its memory and descriptors are watched too).
# Memory and descriptors are read from /proc/PID/status (VmRSS) and /proc/PID/fd every SAMPLE seconds.
#
#   bench/soak.sh [--duration SECONDS=600] [--concurrency N=50] [--warmup SECONDS=duration/10, at most 60]
#                 [--cycles N=10000] [--sample SECONDS=5] [--build-dir DIR=build-soak] [--serve]
#                 [--skip-load] [--skip-cycles]
#
# It configures DIR if needed, builds the quiver and quiver_server libraries (and the CLI with --serve),
# compiles bench/soak.cpp against them, and writes its samples to DIR/soak-<time>/. Exit status 0 when
# every criterion holds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=600 concurrency=50 warmup="" cycles=10000 sample=5 build_dir="$root/build-soak" serve=0
run_load=1 run_cycles=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --sample) sample=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --serve) serve=1; shift ;;
    --skip-load) run_load=0; shift ;;
    --skip-cycles) run_cycles=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$warmup" ]]; then
  warmup=$(( duration / 10 )); (( warmup > 60 )) && warmup=60; (( warmup < 5 )) && warmup=5
fi

# ---- build -------------------------------------------------------------------------------------------
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQUIVER_BUILD_BENCH=OFF -DQUIVER_BUILD_EXAMPLES=OFF >/dev/null
fi
targets=(quiver quiver_server)
(( serve )) && targets+=(quiver_cli)
cmake --build "$build_dir" --target "${targets[@]}" >/dev/null
soak="$build_dir/soak"
if [[ ! -x "$soak" || "$root/bench/soak.cpp" -nt "$soak" || "$build_dir/src/libquiver.a" -nt "$soak" \
      || "$build_dir/src/libquiver_server.a" -nt "$soak" ]]; then
  # shellcheck disable=SC2046
  g++ -std=c++23 -O2 -g -DASIO_STANDALONE -DASIO_NO_DEPRECATED -I"$root/include" -I"$root/src" \
    "$root/bench/soak.cpp" "$build_dir/src/libquiver_server.a" "$build_dir/src/libquiver.a" \
    $(pkg-config --libs libngtcp2 libngtcp2_crypto_gnutls libnghttp3 gnutls) -lfmt -pthread -o "$soak"
fi

out="$build_dir/soak-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
echo "soak: duration ${duration}s (warm-up ${warmup}s), concurrency $concurrency, cycles $cycles; output in $out"

# ---- helpers -------------------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2" | tail -1; }

verdict=0
fail() { echo "FAIL: $*"; verdict=1; }
pass() { echo "pass: $*"; }

server_args=(--data-dir "$root/tests/data")
server_pid=""
if (( serve )); then
  port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$build_dir/tools/quiver/quiver" serve --port "$port" --cert "$root/tests/data/server.pem" \
    --key "$root/tests/data/server-key.pem" --quiet >"$out/serve.log" 2>&1 &
  server_pid=$!
  trap '[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true' EXIT
  sleep 1
  server_args+=(--url "https://127.0.0.1:$port" --ca "$root/tests/data/ca.pem")
fi

# Judges one process's samples ("t rss_kb fds" lines) after the warm-up.
judge_samples() {
  local who=$1 file=$2
  read -r warm_rss warm_fds < <(awk -v w="$warmup" '$1 >= w {print $2, $3; exit}' "$file")
  read -r end_rss end_fds < <(tail -1 "$file" | awk '{print $2, $3}')
  read -r peak_rss max_fds min_fds < <(awk -v w="$warmup" '$1 >= w {if ($2 > r) r = $2; if ($3 > m) m = $3;
      if (n == "" || $3 < n) n = $3} END {print r, m, n}' "$file")
  if [[ -z "${warm_rss:-}" ]]; then fail "$who: no sample after the warm-up"; return; fi
  local growth
  growth=$(awk -v a="$warm_rss" -v b="$end_rss" 'BEGIN {printf "%.1f", (b - a) * 100 / a}')
  echo "$who: RSS ${warm_rss} kB after warm-up, ${end_rss} kB at the end (${growth}%), peak ${peak_rss} kB;" \
       "fds ${warm_fds} after warm-up, ${end_fds} at the end, range ${min_fds}..${max_fds}"
  if awk -v g="$growth" 'BEGIN {exit !(g <= 10)}'; then pass "$who RSS growth ${growth}% <= 10%"
  else fail "$who RSS growth ${growth}% > 10%"; fi
  if (( end_fds == warm_fds && max_fds <= warm_fds + 2 )); then pass "$who descriptors steady (${warm_fds})"
  else fail "$who descriptors not steady (${warm_fds} -> ${end_fds}, max ${max_fds})"; fi
}

# ---- load ---------------------------------------------------------------------------------------------
if (( run_load )); then
  "$soak" load --seconds "$duration" --concurrency "$concurrency" --sample "$sample" "${server_args[@]}" \
    >"$out/load.log" 2>&1 &
  pid=$!
  started=$(date +%s.%N)
  : >"$out/load.samples"
  : >"$out/server.samples"
  while kill -0 "$pid" 2>/dev/null; do
    sleep "$sample"
    t=$(awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
    kill -0 "$pid" 2>/dev/null && echo "$t $(rss_kb "$pid") $(fds "$pid")" >>"$out/load.samples"
    [[ -n "$server_pid" ]] && echo "$t $(rss_kb "$server_pid") $(fds "$server_pid")" >>"$out/server.samples"
  done
  wait "$pid" || true
  result=$(grep '^result ' "$out/load.log" || true)
  grep '^error ' "$out/load.log" || true
  if [[ -z "$result" ]]; then
    fail "load: no result line (see $out/load.log)"
  else
    echo "load: $result"
    ok=$(field ok "$result") failed=$(field failed "$result") unfinished=$(field unfinished "$result")
    if (( failed == 0 && unfinished == 0 && ok > 0 )); then pass "load: $ok requests, 0 failures"
    else fail "load: $failed failures, $unfinished unfinished"; fi
    judge_samples "load process" "$out/load.samples"
    [[ -n "$server_pid" ]] && judge_samples "quiver serve" "$out/server.samples"
  fi
fi

# ---- connect/close cycles ---------------------------------------------------------------------------------
if (( run_cycles )); then
  [[ -n "$server_pid" ]] && server_fds_before=$(fds "$server_pid")
  "$soak" cycles --cycles "$cycles" "${server_args[@]}" >"$out/cycles.log" 2>&1 || true
  if [[ -n "$server_pid" ]]; then
    sleep 1  # closed connections linger for their closing period (3 PTO)
    server_fds_after=$(fds "$server_pid")
    if (( server_fds_before == server_fds_after )); then
      pass "cycles: quiver serve descriptors $server_fds_before before, $server_fds_after after"
    else
      fail "cycles: quiver serve descriptors $server_fds_before before, $server_fds_after after"
    fi
  fi
  result=$(grep '^result ' "$out/cycles.log" || true)
  grep '^error ' "$out/cycles.log" || true
  if [[ -z "$result" ]]; then
    fail "cycles: no result line (see $out/cycles.log)"
  else
    echo "cycles: $result"
    failed=$(field failed "$result") before=$(field fds_before "$result") after=$(field fds_after "$result")
    if (( failed == 0 )); then pass "cycles: $cycles connect/close cycles, 0 failures"
    else fail "cycles: $failed failures"; fi
    if (( before == after )); then pass "cycles: descriptors $before before, $after after"
    else fail "cycles: descriptors $before before, $after after"; fi
  fi
fi

(( verdict == 0 )) && echo "soak: PASS" || echo "soak: FAIL"
exit "$verdict"
