#!/usr/bin/env bash
# New-connection cost, quiver vs libcurl: cold (full handshake), resumed (TLS session ticket) and early
# (resumed + 0-RTT), one request per connection, against `quiver serve` on loopback with the test
# certificate. Runs bench/quiver_handshakes and bench/curl_handshakes alternately for R rounds and prints
# each run's JSON line, then the medians per client and mode. See docs/benchmarks.md.
#
#   bench/handshakes.sh [-r ROUNDS] [-n CONNECTIONS] [--build DIR]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
connections=200
build=$repo/build
while (($#)); do
  case $1 in
    -r) rounds=${2:?}; shift 2 ;;
    -n) connections=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    *) echo "handshakes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
quiver=$build/tools/quiver/quiver
for binary in "$quiver" "$build/bench/quiver_handshakes" "$build/bench/curl_handshakes"; do
  [ -x "$binary" ] || { echo "handshakes.sh: $binary not built" >&2; exit 2; }
done

log=$(mktemp)
results=$(mktemp)
cleanup() { [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null; rm -f "$log" "$results"; }
trap cleanup EXIT
timeout 3600 "$quiver" serve --port 0 -q --cert "$repo/tests/data/server.pem" --key "$repo/tests/data/server-key.pem" \
  >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  origin=$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true)
  [ -n "$origin" ] && break
  sleep 0.1
done
[ -n "$origin" ] || { echo "handshakes.sh: the server did not start:" >&2; cat "$log" >&2; exit 1; }

for round in $(seq "$rounds"); do
  for mode in cold resumed early; do
    for client in quiver curl; do
      timeout 600 "$build/bench/${client}_handshakes" --cacert "$repo/tests/data/ca.pem" -n "$connections" \
        --mode "$mode" "$origin/bytes/100" | tee -a "$results"
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{'client':8} {'mode':8} {'median ms':>10} {'p90 ms':>8} {'CPU us/conn':>12} {'conn/s':>8} {'resumed':>8} {'early':>6}")
for mode in ("cold", "resumed", "early"):
    for client in ("quiver", "libcurl"):
        rs = [r for r in runs if r["client"] == client and r["mode"] == mode]
        if not rs:
            continue
        med = lambda key: statistics.median(r[key] for r in rs)
        print(f"{client:8} {mode:8} {med('median_ms'):10.3f} {med('p90_ms'):8.3f} {med('cpu_us_per_connection'):12.1f} "
              f"{med('connections_per_s'):8.1f} {rs[-1]['resumed']:8} {rs[-1]['early']:6}")
PY
