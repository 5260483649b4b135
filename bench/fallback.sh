#!/usr/bin/env bash
# Time to the first response when HTTP/3 is not there, quiver vs libcurl, both in their "HTTP/3 first,
# TCP as the fallback" mode (quiver's default; curl's --http3 = CURL_HTTP_VERSION_3). Against `quiver
# serve --no-h3` on loopback (TCP only: HTTP/2), in two cases:
#   refused     nothing on the UDP port: the QUIC Initial meets ICMP port unreachable
#   blackholed  a UDP socket bound on the port that never reads: QUIC's packets vanish
# Each connection is a new one with a full handshake (--mode cold), time from the request to its
# complete response (a 100-byte body). quiver runs twice: --fresh-client (a new Client per connection:
# every connection a first contact, as libcurl's easy handles here) and one Client for all (after the
# first failure its broken-HTTP/3 mark sends later connections straight to TCP). Prints each run's JSON
# line, then the medians. See docs/benchmarks.md.
#
#   bench/fallback.sh [-r ROUNDS] [-n CONNECTIONS] [--build DIR]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
connections=20
build=$repo/build
while (($#)); do
  case $1 in
    -r) rounds=${2:?}; shift 2 ;;
    -n) connections=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    *) echo "fallback.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
quiver=$build/tools/quiver/quiver
for binary in "$quiver" "$build/bench/quiver_handshakes" "$build/bench/curl_handshakes"; do
  [ -x "$binary" ] || { echo "fallback.sh: $binary not built" >&2; exit 2; }
done

log=$(mktemp)
results=$(mktemp)
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null
  [ -n "${hole_pid:-}" ] && kill "$hole_pid" 2>/dev/null
  rm -f "$log" "$results"
}
trap cleanup EXIT
timeout 3600 "$quiver" serve --no-h3 --port 0 -q --cert "$repo/tests/data/server.pem" \
  --key "$repo/tests/data/server-key.pem" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  origin=$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true)
  [ -n "$origin" ] && break
  sleep 0.1
done
[ -n "$origin" ] || { echo "fallback.sh: the server did not start:" >&2; cat "$log" >&2; exit 1; }
port=${origin##*:}

run_clients() {  # case
  for round in $(seq "$rounds"); do
    for client in "quiver --fresh-client" quiver curl; do
      set -- $client
      timeout 600 "$build/bench/${1}_handshakes" --cacert "$repo/tests/data/ca.pem" -n "$connections" --mode cold \
        --auto ${2:-} "$origin/bytes/100" | sed "s/^{/{\"case\":\"$case\",/" | tee -a "$results"
    done
  done
}

case=refused
run_clients
# A UDP socket on the server's port that never reads: no ICMP error, no answer.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); time.sleep(3600)' \
  "$port" &
hole_pid=$!
for _ in $(seq 100); do
  ss -uan | grep -q "127.0.0.1:$port " && break
  sleep 0.1
done
ss -uan | grep -q "127.0.0.1:$port " || { echo "fallback.sh: could not bind UDP port $port" >&2; exit 1; }
case=blackholed
run_clients

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{'case':11} {'client':24} {'median ms':>10} {'p90 ms':>8} {'CPU us/conn':>12} {'failures':>8}")
for case in ("refused", "blackholed"):
    for client, fresh in (("quiver", True), ("quiver", False), ("libcurl", False)):
        rs = [r for r in runs if r["case"] == case and r["client"] == client and r["fresh_client"] == fresh]
        if not rs:
            continue
        med = lambda key: statistics.median(r[key] for r in rs)
        name = client + (" (new Client each)" if fresh else " (one Client)" if client == "quiver" else "")
        print(f"{case:11} {name:24} {med('median_ms'):10.1f} {med('p90_ms'):8.1f} {med('cpu_us_per_connection'):12.1f} "
              f"{sum(r['failures'] for r in rs):8}")
PY
