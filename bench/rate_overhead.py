#!/usr/bin/env python3
"""The client's own cost at a fixed request rate: `quiver bench --rps R` beside libcurl's harness
(`curl_h3_bench --rps R`) doing the same open loop against the same `quiver serve` (issue 18).

Both run on one connection with M streams, for S seconds at R requests per second, alternating which
goes first in each round. The client CPU is the kernel's rusage of the exited client process (os.wait4:
user + sys, all threads, start-up included) divided by its succeeded requests; latency and the count of
requests sent late come from each client's own JSON. Prints a markdown table of medians.

    bench/rate_overhead.py --quiver build/tools/quiver/quiver --curl build/bench/curl_h3_bench \\
        [--rps 2000] [--seconds 10] [--rounds 3] [--streams 20] [--target /bytes/1024]
"""

import argparse
import json
import os
import select
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")


def wait_with_rusage(process: subprocess.Popen, timeout_s: float):
    """Waits for the child (killing it after timeout_s); returns (exit code, rusage)."""
    pidfd = os.pidfd_open(process.pid)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if not readable:
        process.kill()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage


def start_server(quiver: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([quiver, "serve", "--port", "0", "-q", "--cert", os.path.join(DATA, "server.pem"),
                               "--key", os.path.join(DATA, "server-key.pem")],
                              stdout=subprocess.PIPE, text=True)
    first = server.stdout.readline()  # "quiver serve: listening on https://127.0.0.1:PORT (HTTP/3)"
    if "listening on " not in first:
        server.kill()
        sys.exit(f"rate_overhead: quiver serve did not start: {first!r}")
    return server, first.split("listening on ")[1].split()[0]


def run_client(name: str, command: list[str], seconds: float) -> dict:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = process.stdout.read()
    err = process.stderr.read()
    code, usage = wait_with_rusage(process, seconds + 60)
    report = json.loads(out) if out.strip() else {}
    ok = report.get("ok", 0)
    if code != 0 or not ok:
        sys.exit(f"rate_overhead: {name} failed (exit {code}): {err.strip()[:300]}")
    cpu_s = usage.ru_utime + usage.ru_stime
    late = report["open_loop"]["late"] if "open_loop" in report else report.get("late", 0)
    return {"cpu_us_per_request": cpu_s * 1e6 / ok, "cpu_s": cpu_s, "ok": ok, "late": late,
            "p50_ms": report["latency_ms"]["p50"], "p99_ms": report["latency_ms"]["p99"],
            "req_per_s": report["req_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiver", required=True)
    parser.add_argument("--curl", required=True)
    parser.add_argument("--rps", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--target", default="/bytes/1024")
    args = parser.parse_args()

    server, origin = start_server(args.quiver)
    url, ca = origin + args.target, os.path.join(DATA, "ca.pem")
    common = ["-D", str(args.seconds), "--rps", f"{args.rps:g}", "-c", "1", "-m", str(args.streams), "--cacert", ca]
    commands = {"quiver": [args.quiver, "bench", "--json", *common, url], "libcurl": [args.curl, *common, url]}
    runs = {name: [] for name in commands}
    try:
        for round_index in range(args.rounds):
            order = list(commands) if round_index % 2 == 0 else list(reversed(commands))
            for name in order:
                run = run_client(name, commands[name], args.seconds)
                runs[name].append(run)
                print(f"round {round_index + 1} {name}: {run['cpu_us_per_request']:.1f} µs CPU/request, "
                      f"{run['req_per_s']:.0f} req/s, p50 {run['p50_ms']:.3f} ms, p99 {run['p99_ms']:.3f} ms, "
                      f"{run['late']} late", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"| client ({args.rps:g} req/s, {args.seconds:g} s, 1 connection, {args.streams} streams) "
          "| CPU µs per request | req/s | p50 ms | p99 ms | sent late |")
    print("|---|---|---|---|---|---|")
    for name, results in runs.items():
        median = lambda key: statistics.median(run[key] for run in results)  # noqa: E731
        spread = [f"{run['cpu_us_per_request']:.1f}" for run in results]
        print(f"| {name} | {median('cpu_us_per_request'):.1f} ({', '.join(spread)}) | {median('req_per_s'):.0f} "
              f"| {median('p50_ms'):.3f} | {median('p99_ms'):.3f} | {median('late'):.0f} |")


if __name__ == "__main__":
    main()
