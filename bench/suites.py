#!/usr/bin/env python3
"""The measurements of issue 6 that are not a quiver-vs-libcurl scenario table (bench/compare.py is).

Called by `bench/compare.sh --suite idle|scale|flat`, which starts (and stops) the server. Standard
library only; the way a client run is measured (rusage CPU, the peak-RSS probe, the clients' JSON) is
compare.py's, imported from it.

  idle   Memory per idle connection. bench/quiver_idle_conns (and bench/curl_idle_conns for libcurl)
         opens N connections to the server with one request each, lets them sit idle (2 s), then reads
         its own VmRSS and RssAnon from /proc/self/status. Separate processes for each N; per
         connection = (RSS(N) - RSS(1)) / (N - 1), per round, then the median over rounds.
  scale  `quiver bench --threads 2 -c 4 -m 20` against `--threads 1 -c 1 -m 20`, 1 KB GETs, alternating
         order per round: req/s, CPU µs per request, the CPU each side used (in cores), and the ratio
         2x4 / 1x1 taken pair by pair (the two runs of one round) then the median.
  flat   `quiver bench -c 1 -m 20` 1 KB GETs at each request count (1k ... 1M): req/s, CPU µs per request
         over the whole process, the marginal CPU µs per request between one count and the next (which
         leaves out start-up and the handshake), and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import compare
from compare import Run, log, machine_line, number

STREAMS = 20


def positive_list(text: str) -> list[int]:
    try:
        values = [int(item) for item in text.split(",") if item]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sorted(set(values))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", required=True, choices=("idle", "scale", "flat"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests (scale, flat)")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--small", required=True, help="path of the 1 KB document")
    parser.add_argument("--large", required=True)
    parser.add_argument("--post-body", required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--server", default="gtlsserver")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--quiver", required=True)
    parser.add_argument("--curl-bench", required=True)
    parser.add_argument("--rss-probe")
    parser.add_argument("--json-out")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=positive_list, default=[1, 10, 100], help="idle: connection counts")
    parser.add_argument("--idle", type=float, default=2.0, help="idle: seconds the connections sit idle")
    parser.add_argument("--idle-quiver", help="idle: bench/quiver_idle_conns")
    parser.add_argument("--idle-curl", help="idle: bench/curl_idle_conns")
    parser.add_argument("--sizes", type=positive_list, default=[1000, 10000, 100000, 1000000],
                        help="flat: request counts")
    parser.add_argument("--with-libcurl", action="store_true", help="flat: curl_h3_bench at each size too")
    parser.add_argument("--requests", type=int, default=200000, help="scale: requests per run")
    args = parser.parse_args(argv)
    if args.only:
        parser.error("--only applies to the compare suite")
    return args


def timeout_for(requests: int) -> float:
    """Generous: 2 000 req/s would be ten times slower than either client on a busy machine."""
    return max(compare.RUN_TIMEOUT_S, requests / 2000)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def median_and_range(values: list[float], digits: int = 2) -> tuple[str, str]:
    if not values:
        return "—", ""
    middle = statistics.median(values)
    spread = f"{min(values):.{digits}f}–{max(values):.{digits}f}" if len(values) > 1 else ""
    return f"{middle:.{digits}f}", spread


def cores(run: Run, key: str) -> float | None:
    value = run.metrics.get(key)
    return value / run.metrics["wall_s"] if value is not None and run.metrics.get("wall_s") else None


def median_metric(runs: list[Run], key) -> float | None:
    """key: a metrics key, or a function of the run."""
    values = [key(run) if callable(key) else run.metrics.get(key) for run in runs if run.ok]
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def failed_runs(runs: list[Run]) -> int:
    return sum(not run.ok for run in runs)


# ---- idle: memory per idle connection ----

def run_idle_program(path: str, connections: int, args) -> Run:
    command = [path, "-c", str(connections), "--idle", str(args.idle), "--cacert", args.cacert,
               args.origin + args.small]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=compare.RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Run(False, problem=f"timed out after {compare.RUN_TIMEOUT_S} s")
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return Run(False, problem=f"exit {result.returncode}, no JSON; stderr: {result.stderr.strip()[:300]}")
    ok = result.returncode == 0 and report.get("connections_open") == connections
    problem = "" if ok else f"exit {result.returncode}: {result.stderr.strip()[:300]}"
    return Run(ok, report, problem, report.get("client", ""))


def idle_suite(args) -> tuple[str, dict, int]:
    if 1 not in args.conns or len(args.conns) < 2:
        sys.exit("suites.py: --conns must include 1 and at least one larger count")
    programs = {"quiver": args.idle_quiver, "libcurl": args.idle_curl}
    clients = tuple(client for client, path in programs.items() if path)
    results = {client: {n: [] for n in args.conns} for client in clients}
    for round_index in range(args.rounds):
        order = clients if round_index % 2 == 0 else tuple(reversed(clients))
        for n in args.conns:
            for client in order:
                run = run_idle_program(programs[client], n, args)
                results[client][n].append(run)
                m = run.metrics
                log(f"round {round_index + 1} idle c={n:<5} {client:<8} " +
                    (f"{m['rss_kb']} KB RSS, {m['rss_anon_kb']} KB anon, {m['sockets']} sockets"
                     if run.ok else f"FAILED: {run.problem}"))

    lines = [f"Memory per idle connection: N connections opened (one 1 KB GET each), idle {args.idle:g} s, "
             f"then VmRSS / RssAnon of the process; {args.rounds} rounds, medians"]
    totals = []
    for n in args.conns:
        row = [str(n)]
        for client in clients:
            rss = median_metric(results[client][n], "rss_kb")
            anon = median_metric(results[client][n], "rss_anon_kb")
            row.append(f"{number(rss)} / {number(anon)}")
        totals.append(row)
    lines += ["", markdown(["connections"] + [f"{client} VmRSS / RssAnon (KB)" for client in clients], totals)]

    rows = []
    for client in clients:
        base_runs = results[client][1]
        first = {key: [run.metrics[key] - run.metrics[key + "_before"] for run in base_runs if run.ok]
                 for key in ("rss_kb", "rss_anon_kb")}
        text, spread = median_and_range(first["rss_kb"], 0)
        rows.append([client, "first connection: RSS(1) − RSS before it", text, spread,
                     median_and_range(first["rss_anon_kb"], 0)[0]])
        for n in args.conns:
            if n == 1:
                continue
            per = {key: [(big.metrics[key] - one.metrics[key]) / (n - 1)
                         for big, one in zip(results[client][n], base_runs) if big.ok and one.ok]
                   for key in ("rss_kb", "rss_anon_kb")}
            rss_text, rss_spread = median_and_range(per["rss_kb"], 1)
            anon_text, _ = median_and_range(per["rss_anon_kb"], 1)
            rows.append([client, f"each further connection, N = {n}: (RSS(N) − RSS(1)) / (N − 1)", rss_text,
                         rss_spread, anon_text])
    lines += ["", markdown(["client", "KB", "from VmRSS (median)", "range", "from RssAnon (median)"], rows)]
    failed = sum(failed_runs(runs) for by_n in results.values() for runs in by_n.values())
    json_results = {client: {str(n): [vars(run) for run in runs] for n, runs in by_n.items()}
                    for client, by_n in results.items()}
    return "\n".join(lines), json_results, failed


# ---- scale: 2 io threads x 4 connections vs 1 x 1 ----

SCALE_CONFIGS = (("1x1", 1, 1), ("2x4", 2, 4))  # name, --threads, -c


def scale_suite(args) -> tuple[str, dict, int]:
    requests = max(args.requests // (10 if args.quick else 1), 100)
    server = compare.ServerProcess(args.server_pid)
    url = args.origin + args.small
    results = {name: [] for name, _, _ in SCALE_CONFIGS}
    for round_index in range(args.rounds):
        order = SCALE_CONFIGS if round_index % 2 == 0 else tuple(reversed(SCALE_CONFIGS))
        for name, threads, connections in order:
            command = [args.quiver, "bench", url, "-n", str(requests), "--threads", str(threads),
                       "-c", str(connections), "-m", str(STREAMS), "--cacert", args.cacert, "--json"]
            run = compare.run_client(command, requests, args.rss_probe, timeout_for(requests), server)
            results[name].append(run)
            log(describe(f"round {round_index + 1} scale {name}", run))

    metrics = (
        ("req/s", "req_per_s", 0),
        ("CPU per request (µs)", "cpu_us_per_request", 2),
        ("client CPU used (cores)", lambda run: cores(run, "cpu_s"), 2),
        ("server CPU used (cores)", lambda run: cores(run, "server_cpu_s"), 2),
        ("latency p50 (ms)", "p50_ms", 3),
        ("latency p99 (ms)", "p99_ms", 3),
        ("peak RSS (KB)", "max_rss_kb", 0),
        ("connections that carried traffic", "connections", 0),
    )
    rows = []
    for label, key, digits in metrics:
        value = key if callable(key) else (lambda run, key=key: run.metrics.get(key))
        medians = [median_metric(results[name], value) for name, _, _ in SCALE_CONFIGS]
        ratios = [value(big) / value(small) for small, big in zip(results["1x1"], results["2x4"])
                  if small.ok and big.ok and value(small) and value(big) is not None]
        ratio, spread = median_and_range(ratios)
        rows.append([label] + ["—" if m is None else f"{m:,.{digits}f}" for m in medians]
                    + [ratio, spread])
    text = (f"Scale: quiver bench, 1 KB GET, {STREAMS} streams per connection, {requests} requests per run, "
            f"{args.rounds} rounds, medians; ratio = 2x4 / 1x1 per round, median over rounds\n\n"
            + markdown(["metric", "1 thread × 1 connection", "2 threads × 4 connections", "ratio", "range"], rows))
    failed = sum(failed_runs(runs) for runs in results.values())
    return text, {name: [vars(run) for run in runs] for name, runs in results.items()}, failed


# ---- flat: cost per request from 1k to 1M requests ----

def flat_suite(args) -> tuple[str, dict, int]:
    sizes = sorted({max(size // (10 if args.quick else 1), 20) for size in args.sizes})
    commands = compare.Commands(args)
    scenario = compare.Scenario("get1k_m20", "1 KB GET, 20 streams", False, STREAMS, 0)
    clients = ("quiver", "libcurl") if args.with_libcurl else ("quiver",)
    command_for = {"quiver": commands.quiver, "libcurl": commands.libcurl}
    server = compare.ServerProcess(args.server_pid)
    results = {client: {size: [] for size in sizes} for client in clients}
    for round_index in range(args.rounds):
        order = clients if round_index % 2 == 0 else tuple(reversed(clients))
        for size in sizes:
            for client in order:
                run = compare.run_client(command_for[client](scenario, size), size, args.rss_probe,
                                         timeout_for(size), server)
                results[client][size].append(run)
                log(describe(f"round {round_index + 1} flat n={size:<8} {client:<8}", run))

    sections = []
    for client in clients:
        rows = []
        previous = None
        for size in sizes:
            runs = results[client][size]
            marginal = ""
            if previous is not None:
                values = [(big.metrics["cpu_s"] - small.metrics["cpu_s"]) * 1e6 / (size - previous)
                          for small, big in zip(results[client][previous], runs) if small.ok and big.ok]
                text, spread = median_and_range(values)
                marginal = f"{text} [{spread}]" if spread else text
            cpu_text, cpu_spread = median_and_range(
                [run.metrics["cpu_us_per_request"] for run in runs if run.ok])
            rows.append([f"{size:,}", number(median_metric(runs, "req_per_s")),
                         f"{cpu_text} [{cpu_spread}]" if cpu_spread else cpu_text, marginal,
                         number(median_metric(runs, "max_rss_kb")), number(median_metric(runs, "p99_ms")),
                         number(median_metric(runs, "seconds"))])
            previous = size
        sections.append(f"{client}:\n\n" + markdown(
            ["requests", "req/s", "CPU µs/req (whole process)", "CPU µs/req since the previous row",
             "peak RSS (KB)", "p99 (ms)", "seconds"], rows))
    text = (f"Cost per request against requests served: 1 KB GET, 1 connection, {STREAMS} streams, "
            f"{args.rounds} rounds, medians [range]\n\n" + "\n\n".join(sections))
    failed = sum(failed_runs(runs) for by_size in results.values() for runs in by_size.values())
    return text, {client: {str(size): [vars(run) for run in runs] for size, runs in by_size.items()}
                  for client, by_size in results.items()}, failed


def describe(head: str, run: Run) -> str:
    if not run.ok:
        return f"{head} FAILED: {run.problem}"
    m = run.metrics
    server = m.get("server_cpu_s")
    server_cores = "—" if server is None else f"{server / m['wall_s']:.2f}"
    return (f"{head} {m['req_per_s']:9.0f} req/s  p50 {m['p50_ms']:.3f} ms  p99 {m['p99_ms']:.3f} ms  "
            f"{m['cpu_us_per_request']:6.2f} µs CPU/req  client {m['cpu_s'] / m['wall_s']:.2f} cores  "
            f"server {server_cores} cores  "
            f"{compare.rss_text(m['max_rss_kb'])} RSS  {m['connections']} conn")


def main(argv) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the running client is killed
    args = parse_args(argv)
    if args.suite in ("scale", "flat") and not compare.quiver_bench_available(args.quiver):
        sys.exit(f"suites.py: `{args.quiver} bench` is not available; build quiver_cli first")
    if args.suite in ("scale", "flat") and not args.rss_probe:
        log("suites: warning: no --rss-probe; peak RSS is not measured (shown as —)")
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1) / 2:
        log(f"suites: warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; numbers will be noisy")
    started = time.monotonic()
    suite = {"idle": idle_suite, "scale": scale_suite, "flat": flat_suite}[args.suite]
    text, json_results, failed = suite(args)
    print(f"\nsuite {args.suite}, server {args.server} at {args.origin}{' (quick)' if args.quick else ''}")
    print(f"machine: {machine_line()}; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}; "
          f"{time.monotonic() - started:.0f} s")
    if args.suite != "idle":
        print(f"client: {compare.client_version([args.quiver, '--version'])}")
    print("\n" + text)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({"suite": args.suite, "results": json_results}, out, indent=1)
    if failed:
        log(f"suites: {failed} run(s) failed and are left out of the medians (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
