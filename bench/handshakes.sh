#!/usr/bin/env bash
# New-connection cost, quiver vs libcurl, one request per connection (a 100-byte body), against `quiver
# serve` on loopback with the test certificate. Runs bench/quiver_handshakes and bench/curl_handshakes
# alternately for R rounds and prints each run's JSON line, then the medians. See docs/benchmarks.md.
#
# Default: cold (full handshake), resumed (TLS session ticket) and early (resumed + 0-RTT), HTTP/3 only;
# quiver runs twice per mode: on its own io thread (the default Client) and --one-thread (the Client on
# the benchmark's io_context, run by its one thread, as libcurl's multi handle runs in the caller's).
#
# --fallback: time to the first response when HTTP/3 is not there, both clients in their "HTTP/3 first,
# TCP as the fallback" mode (quiver's default; curl's --http3 = CURL_HTTP_VERSION_3), full handshakes,
# against `quiver serve --no-h3` (TCP only: HTTP/2) in two cases:
#   refused     nothing on the UDP port: the QUIC Initial meets ICMP port unreachable
#   blackholed  a UDP socket bound on the port that never reads: QUIC's packets vanish
# quiver runs twice: --fresh-client (a new Client per connection: every connection a first contact, as
# each of libcurl's easy handles here) and one Client for all (after the first failure its broken-HTTP/3
# mark sends later connections straight to TCP).
#
#   bench/handshakes.sh [--fallback] [-r ROUNDS] [-n CONNECTIONS] [--build DIR]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
connections=
fallback=
build=$repo/build
while (($#)); do
  case $1 in
    --fallback) fallback=1; shift ;;
    -r) rounds=${2:?}; shift 2 ;;
    -n) connections=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    *) echo "handshakes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${connections:=${fallback:+20}}"  # a blackholed first contact waits the race delay: fewer by default
: "${connections:=200}"
quiver=$build/tools/quiver/quiver
for binary in "$quiver" "$build/bench/quiver_handshakes" "$build/bench/curl_handshakes"; do
  [ -x "$binary" ] || { echo "handshakes.sh: $binary not built" >&2; exit 2; }
done

log=$(mktemp)
results=$(mktemp)
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null
  [ -n "${hole_pid:-}" ] && kill "$hole_pid" 2>/dev/null
  rm -f "$log" "$results"
}
trap cleanup EXIT
timeout 3600 "$quiver" serve --port 0 -q --cert "$repo/tests/data/server.pem" --key "$repo/tests/data/server-key.pem" \
  ${fallback:+--no-h3} >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  origin=$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true)
  [ -n "$origin" ] && break
  sleep 0.1
done
[ -n "$origin" ] || { echo "handshakes.sh: the server did not start:" >&2; cat "$log" >&2; exit 1; }

run() {  # label client [options...]: one run, its JSON line labelled with the case
  local label=$1 client=$2
  shift 2
  timeout 600 "$build/bench/${client}_handshakes" --cacert "$repo/tests/data/ca.pem" -n "$connections" "$@" \
    "$origin/bytes/100" | sed "s/^{/{\"case\":\"$label\",/" | tee -a "$results"
}

if [ -z "$fallback" ]; then
  for round in $(seq "$rounds"); do
    for mode in cold resumed early; do
      run "$mode" quiver --mode "$mode"
      run "$mode" quiver --mode "$mode" --one-thread
      run "$mode" curl --mode "$mode"
    done
  done
else
  fallback_rounds() {  # case
    for round in $(seq "$rounds"); do
      run "$1" quiver --mode cold --auto --fresh-client
      run "$1" quiver --mode cold --auto
      run "$1" curl --mode cold --auto
    done
  }
  fallback_rounds refused
  port=${origin##*:}
  python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); time.sleep(3600)' \
    "$port" &
  hole_pid=$!
  for _ in $(seq 100); do
    ss -uan | grep -q "127.0.0.1:$port " && break
    sleep 0.1
  done
  ss -uan | grep -q "127.0.0.1:$port " || { echo "handshakes.sh: could not bind UDP port $port" >&2; exit 1; }
  fallback_rounds blackholed
fi

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{'case':11} {'client':24} {'median ms':>10} {'p90 ms':>8} {'CPU us/conn':>12} {'conn/s':>8} {'resumed':>8} {'early':>6}")
for case in dict.fromkeys(r["case"] for r in runs):
    for client, fresh, one_thread in (("quiver", True, False), ("quiver", False, False), ("quiver", False, True),
                                      ("libcurl", False, False)):
        rs = [r for r in runs if r["case"] == case and r["client"] == client and r["fresh_client"] == fresh
              and r["one_thread"] == one_thread]
        if not rs:
            continue
        med = lambda key: statistics.median(r[key] for r in rs)
        name = client + (" (new Client each)" if fresh else " (one thread)" if one_thread
                         else " (one Client)" if case in ("refused", "blackholed") and client == "quiver" else "")
        print(f"{case:11} {name:24} {med('median_ms'):10.3f} {med('p90_ms'):8.3f} {med('cpu_us_per_connection'):12.1f} "
              f"{med('connections_per_s'):8.1f} {rs[-1]['resumed']:8} {rs[-1]['early']:6}")
PY
