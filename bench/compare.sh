#!/usr/bin/env bash
# quiver bench vs libcurl (bench/curl_h3_bench) over HTTP/3 (or, with --http2, HTTP/2) on loopback,
# against the same server: the comparison of issues 6 and 14. Starts the server, then bench/compare.py runs both clients in alternating
# order for R rounds and prints medians and pair-by-pair ratios. Other suites (bench/suites.py) measure
# memory per idle connection, scaling over threads and connections, and the cost per request from 1k to
# 1M requests. See docs/benchmarks.md.
#
#   bench/compare.sh [options]
#     -r, --rounds R        rounds (default 5)
#     --quick               a tenth of the requests (a smoke run, not a measurement)
#     --suite NAME          compare (default): quiver vs libcurl, the scenarios below
#                           idle: memory per idle connection, quiver and libcurl (--conns)
#                           scale: quiver, 2 io threads x 4 connections vs 1 x 1, 1 KB GET, 20 streams
#                           flat: quiver, 1 KB GET, 20 streams, at each of --sizes requests
#     --only LIST           compare: scenarios, comma-separated: get1k_m20,get1k_m1,get1m_m20,post1k_m20
#     --conns LIST          idle: connection counts (default 1,10,100; must include 1)
#     --idle SECONDS        idle: how long the connections sit idle before memory is read (default 2)
#     --sizes LIST          flat: request counts (default 1000,10000,100000,1000000)
#     -n, --requests N      scale: requests per run (default 200000)
#     --with-libcurl        flat: run curl_h3_bench at each size too
#     --server KIND         gtlsserver (default; ngtcp2's example server) or quiver (`quiver serve`);
#                           or caddy (HTTP/3 and, with --http2, HTTP/2); with --http2 also nghttpd
#                           (nghttp2's server, the default then)
#     --http2               both clients over HTTP/2 (TLS over TCP): `quiver bench --http2` and
#                           `curl_h3_bench --http2` (libcurl's CURL_HTTP_VERSION_2TLS)
#     --port P              UDP port on 127.0.0.1 (default 14433)
#     --quiver PATH         the quiver CLI (default build/tools/quiver/quiver, else build-bench/...;
#                           skipped if it has no bench)
#     --curl-bench PATH     the harness (default build-bench/bench/curl_h3_bench, else build/bench/...);
#                           librss_probe.so, quiver_idle_conns and curl_idle_conns are looked for beside it
#     --rss-probe PATH      librss_probe.so (default: beside curl_h3_bench, else build-bench/bench, build/bench)
#     --baseline PATH       compare: another build of the quiver CLI (e.g. an older commit's), run as a
#                           third client in the same rounds, with a before/after table
#     --json-out FILE       also write every run's numbers as JSON
#
# The server is stopped on exit (trap), and it cannot outlive the script by more than its own hard
# time limit; every client run has a timeout, so the script never hangs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=5
port=14433
server_kind=
http2=
quiver=
curl_bench=
rss_probe=
suite=compare
extra=()

usage() { sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "compare.sh: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    -r|--rounds) rounds=${2:?}; shift 2 ;;
    --quick) extra+=(--quick); shift ;;
    --only) extra+=(--only "${2:?}"); shift 2 ;;
    --suite) suite=${2:?}; shift 2 ;;
    --conns) extra+=(--conns "${2:?}"); shift 2 ;;
    --idle) extra+=(--idle "${2:?}"); shift 2 ;;
    --sizes) extra+=(--sizes "${2:?}"); shift 2 ;;
    -n|--requests) extra+=(--requests "${2:?}"); shift 2 ;;
    --with-libcurl) extra+=(--with-libcurl); shift ;;
    --rss-probe) rss_probe=${2:?}; shift 2 ;;
    --server) server_kind=${2:?}; shift 2 ;;
    --http2) http2=1; extra+=(--http2); shift ;;
    --port) port=${2:?}; shift 2 ;;
    --quiver) quiver=${2:?}; shift 2 ;;
    --curl-bench) curl_bench=${2:?}; shift 2 ;;
    --baseline) extra+=(--baseline "$(realpath "${2:?}")"); shift 2 ;;
    --json-out) extra+=(--json-out "${2:?}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [[ -z $server_kind ]]; then
  server_kind=gtlsserver
  [[ -z $http2 ]] || server_kind=nghttpd
fi
[[ -z $http2 || $server_kind == nghttpd || $server_kind == caddy ]] || die "--http2: --server nghttpd or caddy"
[[ -n $http2 || $server_kind != nghttpd ]] || die "--server nghttpd speaks HTTP/2 only: add --http2"

case $suite in
  compare) script=compare.py ;;
  idle|scale|flat) script=suites.py; extra+=(--suite "$suite") ;;
  *) die "--suite: compare, idle, scale or flat" ;;
esac

if [[ -z $quiver ]]; then
  quiver=$repo/build/tools/quiver/quiver
  [[ -x $quiver ]] || [[ ! -x $repo/build-bench/tools/quiver/quiver ]] || quiver=$repo/build-bench/tools/quiver/quiver
fi

if [[ -z $curl_bench ]]; then
  for candidate in "$repo/build-bench/bench/curl_h3_bench" "$repo/build/bench/curl_h3_bench"; do
    [[ -x $candidate ]] && { curl_bench=$candidate; break; }
  done
fi
[[ -x $curl_bench ]] || die "curl_h3_bench not found; build it: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench --target curl_h3_bench rss_probe"

curl_bench=$(realpath "$curl_bench")
bench_dir=$(dirname "$curl_bench")

# The peak-RSS probe. Without it the clients' peak RSS is not measured (shown as —): ru_maxrss, the only
# other figure, is carried across exec and reads as this script's Python for both clients.
if [[ -z $rss_probe ]]; then
  for candidate in "$bench_dir/librss_probe.so" "$repo/build-bench/bench/librss_probe.so" "$repo/build/bench/librss_probe.so"; do
    [[ -f $candidate ]] && { rss_probe=$candidate; break; }
  done
fi
if [[ -n $rss_probe ]]; then
  [[ -f $rss_probe ]] || die "--rss-probe: $rss_probe not found"
  rss_probe=$(realpath "$rss_probe")
else
  echo "compare.sh: librss_probe.so not found (build target rss_probe); peak RSS will not be measured" >&2
fi

if [[ $suite == idle ]]; then
  for program in quiver_idle_conns curl_idle_conns; do
    [[ -x $bench_dir/$program ]] || die "$bench_dir/$program not found; build it: cmake --build $(dirname "$bench_dir") --target $program"
  done
  extra+=(--idle-quiver "$bench_dir/quiver_idle_conns" --idle-curl "$bench_dir/curl_idle_conns")
fi

data=$repo/tests/data
work=$(mktemp -d "${TMPDIR:-/tmp}/quiver-compare.XXXXXX")
server_pid=
compare_pid=

# shellcheck disable=SC2317  # called from the trap
stop() {  # stop PID (one we started) and reap it
  if [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# shellcheck disable=SC2317
cleanup() {
  stop "$compare_pid"
  stop "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The documents (gtlsserver serves files) and the POST body, 1 KB = 1024 bytes.
head -c 1024 /dev/urandom >"$work/1k.bin"
head -c 1048576 /dev/urandom >"$work/1m.bin"
head -c 1024 /dev/zero | tr '\0' 'q' >"$work/post-1k.bin"

# A hard cap on the server's life, in case the trap never runs (SIGKILL): generous for 5 full rounds.
server_limit=$((600 + rounds * 600))
case $server_kind in
  gtlsserver)
    command -v gtlsserver >/dev/null || [[ -x /usr/sbin/gtlsserver ]] || die "gtlsserver not found (apt-get install ngtcp2-server)"
    timeout "$server_limit" /usr/sbin/gtlsserver -q -d "$work" 127.0.0.1 "$port" "$data/server-key.pem" "$data/server.pem" \
      >"$work/server.log" 2>&1 &
    small=/1k.bin large=/1m.bin ;;
  quiver)
    [[ -x $quiver ]] || die "--server quiver needs the quiver CLI ($quiver)"
    timeout "$server_limit" "$quiver" serve -q --host 127.0.0.1 --port "$port" --max-streams 100 \
      --cert "$data/server.pem" --key "$data/server-key.pem" >"$work/server.log" 2>&1 &
    small=/bytes/1024 large=/bytes/1048576 ;;
  nghttpd)
    [[ -x /usr/sbin/nghttpd ]] || die "nghttpd not found (apt-get install nghttp2-server)"
    timeout "$server_limit" /usr/sbin/nghttpd -a 127.0.0.1 -d "$work" "$port" "$data/server-key.pem" "$data/server.pem" \
      >"$work/server.log" 2>&1 &
    small=/1k.bin large=/1m.bin ;;
  caddy)
    command -v caddy >/dev/null || die "caddy not found (apt-get install caddy)"
    printf '{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system %s\n}\nhttps://127.0.0.1:%s {\n\tbind 127.0.0.1\n\ttls %s %s\n\troot * %s\n\tfile_server\n}\n' \
      "$work/caddy-data" "$port" "$data/server.pem" "$data/server-key.pem" "$work" >"$work/Caddyfile"
    HOME=$work XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work timeout "$server_limit" caddy run --config "$work/Caddyfile" \
      --adapter caddyfile >"$work/server.log" 2>&1 &
    small=/1k.bin large=/1m.bin ;;
  *) die "--server: gtlsserver, quiver, nghttpd or caddy" ;;
esac
server_pid=$!

# Ready when one verified request succeeds (UDP has no listen state to poll).
origin=https://127.0.0.1:$port
for _ in $(seq 50); do
  if timeout 5 "$curl_bench" -n 1 -m 1 --timeout 1 --cacert "$data/ca.pem" ${http2:+--http2} "$origin$small" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "$server_kind exited"; }
  sleep 0.1
done
[[ ${ready:-} ]] || die "$server_kind did not answer on $origin$small within ~10 s"

# In the background so that a signal to this script is handled at once (the trap stops Python, which
# stops the client it is running, then the server).
python3 "$repo/bench/$script" --server-pid "$server_pid" --rounds "$rounds" --origin "$origin" --small "$small" --large "$large" \
  --post-body "$work/post-1k.bin" --cacert "$data/ca.pem" --server "$server_kind" \
  --quiver "$quiver" --curl-bench "$curl_bench" ${rss_probe:+--rss-probe "$rss_probe"} "${extra[@]}" &
compare_pid=$!
status=0
wait "$compare_pid" || status=$?
compare_pid=
exit "$status"
