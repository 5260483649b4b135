#!/usr/bin/env bash
# Profiles one scenario of `quiver bench` against ngtcp2's gtlsserver on loopback and prints the top
# functions, so that a before/after comparison is one command each time. See docs/benchmarks.md.
#
#   bench/profile.sh [options]
#     --tool callgrind|perf   callgrind (default): instruction counts (repeatable), per request net of
#                             start-up: a 1-request run is subtracted from the N-request run.
#                             perf: sampled CPU time of the client (call graphs from DWARF).
#     --scenario NAME         get1k_m20 (default), get1k_m1, get1m_m20, post1k_m20 (as in compare.sh)
#     -n N                    requests (default, callgrind: 20000, 5000, 200, 10000 by scenario;
#                             perf: ten times that)
#     --top K                 functions listed (default 25)
#     --out DIR               where the profile stays (default build-bench/profile/SCENARIO-TOOL-TIME)
#     --baseline DIR          an earlier --out DIR (same tool and scenario): print what changed
#     --quiver PATH           the CLI (default build-bench/tools/quiver/quiver, else build/tools/quiver/quiver)
#     --port P                UDP port on 127.0.0.1 (default 14443)
#
# Any build of the CLI works; a RelWithDebInfo build adds file names and inlined frames to perf. The
# server is stopped on exit (trap) and has a hard time limit of its own.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tool=callgrind
scenario=get1k_m20
requests=
top=25
out=
baseline=
quiver=
port=14443

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "profile.sh: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    --tool) tool=${2:?}; shift 2 ;;
    --scenario) scenario=${2:?}; shift 2 ;;
    -n|--requests) requests=${2:?}; shift 2 ;;
    --top) top=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --baseline) baseline=$(realpath "${2:?}"); shift 2 ;;
    --quiver) quiver=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

case $scenario in
  get1k_m20) path=/1k.bin streams=20 default_n=20000 body=() ;;
  get1k_m1) path=/1k.bin streams=1 default_n=5000 body=() ;;
  get1m_m20) path=/1m.bin streams=20 default_n=200 body=() ;;
  post1k_m20) path=/1k.bin streams=20 default_n=10000 body=(-d @post-1k.bin) ;;
  *) die "--scenario: get1k_m20, get1k_m1, get1m_m20 or post1k_m20" ;;
esac
case $tool in
  callgrind) if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then die "needs valgrind"; fi ;;
  perf) command -v perf >/dev/null || die "needs perf (linux-perf)"; default_n=$((default_n * 10)) ;;
  *) die "--tool: callgrind or perf" ;;
esac
requests=${requests:-$default_n}
((requests >= 2)) || die "-n: at least 2"
if [[ -z $quiver ]]; then
  for candidate in "$repo/build-bench/tools/quiver/quiver" "$repo/build/tools/quiver/quiver"; do
    [[ -x $candidate ]] && { quiver=$candidate; break; }
  done
fi
[[ -x $quiver ]] || die "quiver CLI not found; build it: cmake --build build-bench --target quiver_cli"
quiver=$(realpath "$quiver")
[[ -x /usr/sbin/gtlsserver ]] || die "gtlsserver not found (apt-get install ngtcp2-server)"
out=${out:-$repo/build-bench/profile/$scenario-$tool-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(realpath "$out")

data=$repo/tests/data
work=$(mktemp -d "${TMPDIR:-/tmp}/quiver-profile.XXXXXX")
server_pid=
# shellcheck disable=SC2317  # called from the trap
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head -c 1024 /dev/urandom >"$work/1k.bin"
head -c 1048576 /dev/urandom >"$work/1m.bin"
head -c 1024 /dev/zero | tr '\0' 'q' >"$work/post-1k.bin"
timeout 1800 /usr/sbin/gtlsserver -q -d "$work" 127.0.0.1 "$port" "$data/server-key.pem" "$data/server.pem" \
  >"$work/server.log" 2>&1 &
server_pid=$!
url=https://127.0.0.1:$port$path
for _ in $(seq 50); do
  if timeout 5 "$quiver" bench "https://127.0.0.1:$port/1k.bin" -n 1 -m 1 --cacert "$data/ca.pem" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "gtlsserver exited"; }
  sleep 0.1
done
[[ ${ready:-} ]] || die "gtlsserver did not answer within ~10 s"

bench_command() {  # bench_command N: sets `command` to the quiver bench command line for N requests
  command=("$quiver" bench "$url" -n "$1" -c 1 -m "$streams" --cacert "$data/ca.pem" "${body[@]}" --json)
}
tidy() {  # perf's report lines: the first $top, without the padding perf adds on the right
  grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]-]+$//' | head -n "$top"
}
check_report() {  # check_report FILE N: the run's JSON says N ok and no errors
  python3 - "$1" "$2" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
if report["ok"] != int(sys.argv[2]) or report["errors"]:
    sys.exit(f"profile.sh: the profiled run had {report['errors']} errors, {report['ok']} ok of {sys.argv[2]}")
print(f"run: {report['ok']} ok, {report['req_per_s']:.0f} req/s under the profiler, {report['connections']} connection(s)")
EOF
}

if [[ $quiver == "$repo"/* ]]; then  # built from this tree: say which commit, and whether it had edits
  source_state="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo '+changes')"
else
  source_state=$quiver
fi
label="$scenario, $requests requests, $("$quiver" --version 2>&1 | head -1), $source_state"
echo "profile.sh: $tool, $label; output in $out" >&2
cd "$work"  # -d @post-1k.bin is relative

case $tool in
  callgrind)
    # Cache simulation off (instruction counts only); one output file for all threads.
    for n in 1 "$requests"; do
      bench_command "$n"
      valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$n.out" --separate-threads=no \
        "${command[@]}" >"$out/report.$n.json" 2>"$out/valgrind.$n.log" \
        || { tail -5 "$out/valgrind.$n.log" >&2; die "the callgrind run of $n request(s) failed"; }
    done
    check_report "$out/report.$requests.json" "$requests"
    python3 "$repo/bench/callgrind_top.py" --run "$out/callgrind.$requests.out" --startup "$out/callgrind.1.out" \
      -n "$requests" --top "$top" --label "$label" --save "$out" ${baseline:+--baseline "$baseline"} | tee "$out/top.md"
    ;;
  perf)
    bench_command "$requests"
    perf record -q -F 999 --call-graph dwarf,16384 -o "$out/perf.data" -- "${command[@]}" \
      >"$out/report.$requests.json" 2>"$out/perf.log" || { tail -5 "$out/perf.log" >&2; die "perf record failed"; }
    check_report "$out/report.$requests.json" "$requests"
    {  # (set -e and pipefail stay on in here: every pipeline must not fail)
      echo "$label"
      echo; echo "Self (top $top; % of the client's samples)"; echo
      perf report -i "$out/perf.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.3 2>/dev/null \
        | tidy || true  # head closes the pipe early
      echo; echo "Inclusive (children; top $top)"; echo
      perf report -i "$out/perf.data" --stdio --children --sort dso,symbol -g none --percent-limit 0.3 2>/dev/null \
        | tidy || true  # head closes the pipe early
      if [[ -n $baseline ]]; then
        echo; echo "perf diff: $baseline/perf.data (baseline) against this run (first $top lines)"; echo
        perf diff --sort dso,symbol "$baseline/perf.data" "$out/perf.data" 2>/dev/null | tidy || true  # head closes the pipe early
      fi
    } | tee "$out/top.txt"
    ;;
esac
