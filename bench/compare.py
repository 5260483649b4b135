#!/usr/bin/env python3
"""Runs `quiver bench` and curl_h3_bench against one server, alternating, and prints medians and ratios.

Called by bench/compare.sh, which starts (and stops) the server. Standard library only.

Each client run is one process, measured the same way for both clients. CPU time (user + sys) is the
kernel's rusage of the exited child (os.wait4): everything the process did, start-up, CA loading, the
handshake and the requests. Peak RSS is the process's own VmHWM, written at exit by the LD_PRELOAD shim
bench/rss_probe.cpp. ru_maxrss cannot stand in for it: the kernel carries it across exec, so every child
reports at least this Python process's RSS (about 17 MB, more than either client), and two clients
would read the same number. Without the shim, or when a run leaves no probe value, peak RSS is shown
as not measured ("—"), never as ru_maxrss. Wall-clock numbers (req/s, MB/s, latency) come from the
clients' own JSON, which must have these keys (`quiver bench --json` and curl_h3_bench print them):
requests, ok, errors, seconds, req_per_s, bytes, mb_per_s, latency_ms {p50, p90, p99, max}, connections.

Ratios are quiver / libcurl, taken pair by pair (the two runs of one round, back to back) and then the
median over the rounds; the goal column is issue 6's.

With --baseline PATH (another build of the quiver CLI, e.g. of an older commit), that build runs as a third
client in the same rounds, and a second table gives this quiver / the baseline pair by pair: a before/after
comparison measured under the same conditions, for changes that must not cost speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

EXPECTED_KEYS = ("requests", "ok", "errors", "seconds", "req_per_s", "bytes", "mb_per_s", "latency_ms", "connections")
RUN_TIMEOUT_S = 180
CLIENTS = ("quiver", "libcurl")
BASELINE = "baseline"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    large: bool      # the 1 MB document instead of the 1 KB one
    streams: int
    requests: int
    post: bool = False


SCENARIOS = (
    Scenario("get1k_m20", "1 KB GET, 20 streams", False, 20, 20000),
    Scenario("get1k_m1", "1 KB GET, 1 stream", False, 1, 3000),
    Scenario("get1m_m20", "1 MB GET, 20 streams", True, 20, 1000),
    Scenario("post1k_m20", "1 KB POST, 20 streams", False, 20, 10000, post=True),
)


@dataclass(frozen=True)
class Metric:
    scenario: str
    label: str
    unit: str
    key: str             # see metrics_of()
    goal: str | None     # ">=1.0", "<=0.7", or None (informational)


METRICS = (
    Metric("get1k_m20", "req/s", "req/s", "req_per_s", ">=1.0"),
    Metric("get1k_m20", "CPU per request", "µs", "cpu_us_per_request", "<=0.7"),
    Metric("get1k_m20", "latency p50", "ms", "p50_ms", "<=1.0"),
    Metric("get1k_m20", "latency p99", "ms", "p99_ms", "<=1.0"),
    Metric("get1k_m20", "peak RSS", "KB", "max_rss_kb", "<=1.0"),
    Metric("get1k_m1", "req/s", "req/s", "req_per_s", None),
    Metric("get1k_m1", "latency p50", "ms", "p50_ms", "<=1.0"),
    Metric("get1k_m1", "latency p99", "ms", "p99_ms", "<=1.0"),
    Metric("get1m_m20", "throughput", "MB/s", "mb_per_s", ">=1.0"),
    Metric("get1m_m20", "CPU per MB", "ms", "cpu_ms_per_mb", "<=0.8"),
    Metric("get1m_m20", "peak RSS", "KB", "max_rss_kb", "<=1.0"),
    Metric("post1k_m20", "req/s", "req/s", "req_per_s", ">=1.0"),
    Metric("post1k_m20", "CPU per request", "µs", "cpu_us_per_request", None),
    Metric("post1k_m20", "peak RSS", "KB", "max_rss_kb", "<=1.0"),
)


@dataclass
class Run:
    ok: bool
    metrics: dict = field(default_factory=dict)
    problem: str = ""
    client: str = ""     # the JSON's "client" (curl_h3_bench: "libcurl/8.14.1"), when given


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the server's CPU time ----

class ServerProcess:
    """The server's CPU time (user + sys, all threads) from /proc/PID/stat, to see how busy it was.

    compare.sh starts the server under `timeout`, so the pid it passes may be timeout's: then the server
    is its only child.
    """

    def __init__(self, pid: int | None):
        self.pid = self._server_of(pid) if pid else None
        self.ticks = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _server_of(pid: int) -> int | None:
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() != "timeout":
                    return pid
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                child = children.read().split()
            return int(child[0]) if child else None
        except (OSError, ValueError):
            return None

    def cpu_s(self) -> float | None:
        if self.pid is None:
            return None
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (comm)"
            return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime: fields 14 and 15
        except (OSError, ValueError, IndexError):
            return None


# ---- running one client ----

def wait_with_rusage(process: subprocess.Popen, timeout_s: float):
    """Waits for the child (killing it after timeout_s); returns (status, rusage, timed_out)."""
    pidfd = os.pidfd_open(process.pid)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    timed_out = not readable
    if timed_out:
        process.kill()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return process.returncode, usage, timed_out


def probe_environment(rss_probe: str | None, probe_out: str) -> dict:
    env = dict(os.environ)
    if rss_probe:
        env["LD_PRELOAD"] = os.path.abspath(rss_probe)  # independent of the client's working directory
        env["QUIVER_RSS_PROBE_OUT"] = probe_out
    return env


def read_probe(probe_out: str, pid: int) -> int | None:
    """The peak RSS (KB) the probe wrote for `pid`: one "PID KB" line per process that loaded it."""
    try:
        with open(probe_out) as lines:
            for line in lines:
                fields = line.split()
                if len(fields) == 2 and fields[0] == str(pid):
                    return int(fields[1])
    except (OSError, ValueError):
        pass
    return None


def run_process(command: list[str], rss_probe: str | None, timeout_s: float = RUN_TIMEOUT_S):
    """Runs a client to its end; returns (exit code, stdout, stderr, rusage, peak RSS KB or None, timed_out)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as scratch:
        probe_out = os.path.join(scratch, "peak-rss-kb")
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   env=probe_environment(rss_probe, probe_out))
        try:
            code, usage, timed_out = wait_with_rusage(process, timeout_s)
        except BaseException:
            if process.returncode is None:
                process.kill()
                os.waitpid(process.pid, 0)
                process.returncode = -signal.SIGKILL
            raise
        out.seek(0)
        err.seek(0)
        return (code, out.read().decode(errors="replace"), err.read().decode(errors="replace"), usage,
                read_probe(probe_out, process.pid), timed_out)


def metrics_of(report: dict, usage, peak_rss_kb: int | None) -> dict:
    cpu_s = usage.ru_utime + usage.ru_stime
    requests = max(report["requests"], 1)
    megabytes = max(report["bytes"] / 1e6, 1e-9)
    return {
        "req_per_s": report["req_per_s"],
        "mb_per_s": report["mb_per_s"],
        "p50_ms": report["latency_ms"]["p50"],
        "p99_ms": report["latency_ms"]["p99"],
        "cpu_s": cpu_s,
        "cpu_us_per_request": cpu_s * 1e6 / requests,
        "cpu_ms_per_mb": cpu_s * 1e3 / megabytes,
        "max_rss_kb": peak_rss_kb,  # None: not measured (no probe); see the module's docstring
        # curl_h3_bench also reports its own VmHWM, read just before it exits: a cross-check of the probe.
        "self_reported_rss_kb": report.get("max_rss_kb"),
        "seconds": report["seconds"],
        "requests": report["requests"],
        "errors": report["errors"],
        "connections": report["connections"],
    }


def run_client(command: list[str], expected_requests: int, rss_probe: str | None,
               timeout_s: float = RUN_TIMEOUT_S, server: ServerProcess | None = None) -> Run:
    server_before = server.cpu_s() if server else None
    started = time.monotonic()
    code, out, err, usage, peak_rss_kb, timed_out = run_process(command, rss_probe, timeout_s)
    wall_s = time.monotonic() - started
    server_after = server.cpu_s() if server else None
    if timed_out:
        return Run(False, problem=f"timed out after {timeout_s:.0f} s")
    if rss_probe and peak_rss_kb is None:
        log(f"compare: warning: {os.path.basename(command[0])} left no peak RSS from {rss_probe}; "
            "its RSS is not measured in this run")
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return Run(False, problem=f"exit {code}, no JSON on stdout; stderr: {err.strip()[:300]}")
    missing = [key for key in EXPECTED_KEYS if key not in report]
    if missing:
        return Run(False, problem=f"JSON lacks {', '.join(missing)}")
    metrics = metrics_of(report, usage, peak_rss_kb)
    # The process's wall time (start to exit) and the server's CPU time over it: for CPU use in cores.
    metrics["wall_s"] = wall_s
    metrics["server_cpu_s"] = (server_after - server_before
                               if server_before is not None and server_after is not None else None)
    client = report.get("client", "")
    if report["errors"] or report["ok"] != expected_requests:
        problem = f"{report['errors']} errors, {report['ok']}/{expected_requests} ok; {err.strip()[:200]}"
        return Run(False, metrics, problem, client)
    return Run(True, metrics, client=client)


# ---- commands ----

class Commands:
    def __init__(self, args):
        self.args = args

    def url(self, scenario: Scenario) -> str:
        return self.args.origin + (self.args.large if scenario.large else self.args.small)

    def common(self, scenario: Scenario, requests: int) -> list[str]:
        body = ["-d", "@" + self.args.post_body] if scenario.post else []
        protocol = ["--http2"] if self.args.http2 else []
        return ["-n", str(requests), "-c", "1", "-m", str(scenario.streams), "--cacert", self.args.cacert, *body,
                *protocol]

    def quiver(self, scenario: Scenario, requests: int) -> list[str]:
        return [self.args.quiver, "bench", self.url(scenario), *self.common(scenario, requests), "--json"]

    def baseline(self, scenario: Scenario, requests: int) -> list[str]:
        return [self.args.baseline, "bench", self.url(scenario), *self.common(scenario, requests), "--json"]

    def libcurl(self, scenario: Scenario, requests: int) -> list[str]:
        return [self.args.curl_bench, self.url(scenario), *self.common(scenario, requests), "--json"]


def quiver_bench_available(path: str) -> bool:
    try:
        result = subprocess.run([path, "bench", "--help"], stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def client_version(command: list[str]) -> str:
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, text=True)
        return (result.stdout or result.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


# ---- rounds ----

def run_rounds(args, scenarios, clients) -> dict:
    """results[scenario][client] = list of Run, one per round (index = round)."""
    commands = Commands(args)
    server = ServerProcess(args.server_pid)
    command_for = {"quiver": commands.quiver, "libcurl": commands.libcurl, BASELINE: commands.baseline}
    results = {s.name: {c: [] for c in clients} for s in scenarios}
    for round_index in range(args.rounds):
        order = clients if round_index % 2 == 0 else tuple(reversed(clients))
        for scenario in scenarios:
            requests = max(scenario.requests // (10 if args.quick else 1), 20)
            for client in order:
                run = run_client(command_for[client](scenario, requests), requests, args.rss_probe, server=server)
                results[scenario.name][client].append(run)
                log(describe_run(round_index, scenario, client, run))
    return results


def describe_run(round_index: int, scenario: Scenario, client: str, run: Run) -> str:
    head = f"round {round_index + 1} {scenario.name:<11} {client:<8}"
    if not run.ok:
        return f"{head} FAILED: {run.problem}"
    m = run.metrics
    return (f"{head} {m['req_per_s']:9.0f} req/s {m['mb_per_s']:8.1f} MB/s  p50 {m['p50_ms']:.3f} ms  "
            f"p99 {m['p99_ms']:.3f} ms  {m['cpu_us_per_request']:8.1f} µs CPU/req  {rss_text(m['max_rss_kb'])} RSS")


def rss_text(kb: int | None) -> str:
    return "— (not measured)" if kb is None else f"{kb} KB"


# ---- the table ----

def median_of(runs: list[Run], key: str) -> float | None:
    values = [run.metrics[key] for run in runs if run.ok and run.metrics.get(key) is not None]
    return statistics.median(values) if values else None


def pair_ratios(quiver_runs: list[Run], curl_runs: list[Run], key: str) -> list[float]:
    return [q.metrics[key] / c.metrics[key] for q, c in zip(quiver_runs, curl_runs)
            if q.ok and c.ok and q.metrics.get(key) is not None and c.metrics.get(key)]


def verdict(goal: str | None, ratio: float | None) -> str:
    if goal is None or ratio is None:
        return ""
    bound = float(goal[2:])
    met = ratio >= bound if goal.startswith(">=") else ratio <= bound
    return "met" if met else "NOT met"


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def table_rows(results: dict, scenarios, reference: str = "libcurl") -> list[list[str]]:
    titles = {s.name: s.title for s in scenarios}
    rows = []
    for metric in METRICS:
        if metric.scenario not in results:
            continue
        runs = results[metric.scenario]
        quiver_runs, curl_runs = runs.get("quiver", []), runs[reference]
        ratios = pair_ratios(quiver_runs, curl_runs, metric.key)
        goal = metric.goal if reference == "libcurl" else None  # the goals are against libcurl
        ratio = statistics.median(ratios) if ratios else None
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}" if len(ratios) > 1 else ""
        rows.append([titles[metric.scenario], f"{metric.label} ({metric.unit})", number(median_of(quiver_runs, metric.key)),
                     number(median_of(curl_runs, metric.key)), f"{ratio:.2f}" if ratio is not None else "—", spread,
                     (goal or "").replace(">=", "≥ ").replace("<=", "≤ "), verdict(goal, ratio)])
    return rows


def markdown_table(rows: list[list[str]], reference: str = "libcurl") -> str:
    header = ["scenario", "metric", "quiver (median)", f"{reference} (median)", f"ratio q/{reference[0]}",
              "ratio range", "goal", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---- main ----

def machine_line() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} × {model}, Linux {platform.release()}"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--small", required=True, help="path of the 1 KB document")
    parser.add_argument("--large", required=True, help="path of the 1 MB document")
    parser.add_argument("--post-body", required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--server", default="gtlsserver")
    parser.add_argument("--http2", action="store_true", help="both clients over HTTP/2 (TLS over TCP) instead of HTTP/3")
    parser.add_argument("--quiver", required=True)
    parser.add_argument("--curl-bench", required=True)
    parser.add_argument("--baseline", help="another build of the quiver CLI, run as a third client (before/after)")
    parser.add_argument("--json-out")
    parser.add_argument("--server-pid", type=int, help="the server's pid (or its `timeout` wrapper's), for its CPU time")
    parser.add_argument("--rss-probe", help="librss_probe.so (bench/rss_probe.cpp); without it peak RSS is not measured")
    return parser.parse_args(argv)


def chosen_scenarios(only: str):
    if not only:
        return SCENARIOS
    names = set(only.split(","))
    unknown = names - {s.name for s in SCENARIOS}
    if unknown:
        sys.exit(f"compare.py: unknown scenario(s): {', '.join(sorted(unknown))}")
    return tuple(s for s in SCENARIOS if s.name in names)


def main(argv) -> int:
    # compare.sh stops us with SIGTERM: unwind, so that run_process() kills the client it is running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    scenarios = chosen_scenarios(args.only)
    clients = CLIENTS
    if not quiver_bench_available(args.quiver):
        log(f"compare: `{args.quiver} bench` is not available (not built yet?); measuring libcurl only.")
        clients = ("libcurl",)
    if args.baseline:
        if not quiver_bench_available(args.baseline):
            sys.exit(f"compare.py: --baseline: `{args.baseline} bench` is not available")
        clients = (*clients, BASELINE)
    if not args.rss_probe:
        log("compare: warning: no --rss-probe; peak RSS is not measured (shown as —)")
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1) / 2:
        log(f"compare: warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; numbers will be noisy")
    log(f"compare: {machine_line()}; server {args.server} at {args.origin}; {args.rounds} rounds"
        f"{' (quick)' if args.quick else ''}")
    started = time.monotonic()
    results = run_rounds(args, scenarios, clients)
    if "quiver" not in clients:
        for by_client in results.values():
            by_client["quiver"] = []

    print(f"\nquiver vs libcurl, {'HTTP/2' if args.http2 else 'HTTP/3'}, 1 connection, server {args.server}, {args.rounds} rounds, "
          f"medians; ratio = quiver/libcurl per round, median over rounds")
    print(f"machine: {machine_line()}; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}; "
          f"{time.monotonic() - started:.0f} s")
    quiver_label = client_version([args.quiver, "--version"]) if "quiver" in clients else "quiver: not run"
    print(f"clients: {quiver_label}; {libcurl_label(results)} via curl_h3_bench\n")
    print(markdown_table(table_rows(results, scenarios)))
    if BASELINE in clients:
        print(f"\nbefore/after: this quiver against the baseline {client_version([args.baseline, '--version'])} "
              f"({args.baseline}), the same rounds; ratio = quiver/baseline per round, median over rounds; "
              "no goal: within noise is the aim\n")
        print(markdown_table(table_rows(results, scenarios, BASELINE), BASELINE))
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({name: {client: [vars(run) for run in runs] for client, runs in by_client.items()}
                       for name, by_client in results.items()}, out, indent=1)
    failed = sum(not run.ok for by_client in results.values() for runs in by_client.values() for run in runs)
    if failed:
        log(f"compare: {failed} run(s) failed and are left out of the medians (see above)")
    return 1 if failed else 0


def libcurl_label(results: dict) -> str:
    names = {run.client for by_client in results.values() for run in by_client["libcurl"] if run.client}
    return ", ".join(sorted(names)) or "libcurl"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
