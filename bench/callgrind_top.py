#!/usr/bin/env python3
"""The top functions of a callgrind profile of `quiver bench`, in instructions per request.

Used by bench/profile.sh. Takes two callgrind outputs of the same scenario, one of N requests and one of
a single request, so that start-up (loading the trust store, the handshake, exit) can be subtracted:

    per request = (Ir of the N-request run - Ir of the 1-request run) / (N - 1)

for the whole program and for each function, self cost and inclusive cost (callgrind_annotate
--inclusive=yes). Prints the top K of each, writes summary.json, and with --baseline (an earlier
profile.sh output directory) prints what changed per request. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

# "13,825,771 ( 6.76%)  ./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]"
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)\s*$")


def short_name(entry: str) -> str:
    """'file:function(args) [object]' -> 'function [object basename]', argument lists dropped."""
    obj = ""
    match = re.match(r"^(.*) \[([^\]]+)\]$", entry)
    if match:
        entry, obj = match.group(1), os.path.basename(match.group(2))
    function = entry.split(":", 1)[1] if ":" in entry and not entry.startswith(":") else entry
    function = function.replace("(anonymous namespace)", "{anon}")
    # Drop top-level "(...)" groups that hold parameter lists, keeping lambda and template text.
    out, depth = [], 0
    for index, char in enumerate(function):
        if char == "(" and depth == 0 and not function.startswith("operator", max(0, index - 8)):
            depth = 1
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            continue
        out.append(char)
    name = "".join(out).replace(" const", "").strip() or function
    if len(name) > 100:
        name = name[:97] + "..."
    return f"{name} [{obj}]" if obj else name


def annotate(path: str, inclusive: bool) -> tuple[int, dict[str, int]]:
    """(program total, {function: Ir}) from callgrind_annotate, every function (no threshold)."""
    result = subprocess.run(["callgrind_annotate", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}",
                             path], capture_output=True, text=True, check=True)
    total = 0
    functions: dict[str, int] = {}
    for line in result.stdout.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        cost, entry = int(match.group(1).replace(",", "")), match.group(2)
        if entry == "PROGRAM TOTALS":
            total = cost
            continue
        if entry.startswith("*"):  # callgrind_annotate marks totals of files this way in some modes
            continue
        name = short_name(entry)
        functions[name] = functions.get(name, 0) + cost
    return total, functions


def per_request(run: dict[str, int], startup: dict[str, int], requests: int) -> dict[str, float]:
    return {name: (cost - startup.get(name, 0)) / (requests - 1) for name, cost in run.items()}


def print_top(title: str, costs: dict[str, float], total: float, top: int) -> None:
    print(f"\n{title}\n")
    print("| Ir per request | share | function |")
    print("|---:|---:|---|")
    for name, cost in sorted(costs.items(), key=lambda item: -item[1])[:top]:
        print(f"| {cost:,.0f} | {100 * cost / total:.1f}% | `{name}` |")


def print_changes(summary: dict, baseline: dict, top: int) -> None:
    before, after = baseline["ir_per_request"], summary["ir_per_request"]
    print(f"\nAgainst the baseline ({baseline.get('label', 'baseline')}): {before:,.0f} -> {after:,.0f} Ir per "
          f"request ({after / before:.3f}x); start-up {baseline['ir_startup']:,} -> {summary['ir_startup']:,} Ir")
    names = set(summary["self"]) | set(baseline["self"])
    changes = {name: summary["self"].get(name, 0.0) - baseline["self"].get(name, 0.0) for name in names}
    print("\n| self Ir/req before | after | change | function |")
    print("|---:|---:|---:|---|")
    for name, change in sorted(changes.items(), key=lambda item: -abs(item[1]))[:top]:
        print(f"| {baseline['self'].get(name, 0.0):,.0f} | {summary['self'].get(name, 0.0):,.0f} | "
              f"{change:+,.0f} | `{name}` |")


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="callgrind output of the N-request run")
    parser.add_argument("--startup", required=True, help="callgrind output of the 1-request run")
    parser.add_argument("-n", "--requests", type=int, required=True)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--label", default="", help="what was profiled, stored in summary.json")
    parser.add_argument("--save", help="write summary.json here")
    parser.add_argument("--baseline", help="an earlier summary.json (or the directory holding it)")
    args = parser.parse_args(argv)
    if args.requests < 2:
        sys.exit("callgrind_top.py: -n must be at least 2")

    run_total, run_self = annotate(args.run, inclusive=False)
    startup_total, startup_self = annotate(args.startup, inclusive=False)
    _, run_inclusive = annotate(args.run, inclusive=True)
    _, startup_inclusive = annotate(args.startup, inclusive=True)
    ir_per_request = (run_total - startup_total) / (args.requests - 1)
    self_costs = per_request(run_self, startup_self, args.requests)
    inclusive_costs = per_request(run_inclusive, startup_inclusive, args.requests)

    print(f"{args.label}\n" if args.label else "", end="")
    print(f"instructions: {run_total:,} for {args.requests} requests, {startup_total:,} for 1 request (start-up, "
          f"handshake, exit); per request net of start-up: {ir_per_request:,.0f}")
    print_top("Self cost per request (top functions)", self_costs, ir_per_request, args.top)
    print_top("Inclusive cost per request (top functions; callers include their callees, so shares add up to "
              "more than 100%)", inclusive_costs, ir_per_request, args.top)

    summary = {"label": args.label, "requests": args.requests, "ir_total": run_total, "ir_startup": startup_total,
               "ir_per_request": ir_per_request,
               "self": {name: cost for name, cost in self_costs.items() if abs(cost) >= 1},
               "inclusive": {name: cost for name, cost in inclusive_costs.items() if abs(cost) >= 1}}
    if args.save:
        with open(os.path.join(args.save, "summary.json"), "w") as out:
            json.dump(summary, out, indent=1)
    if args.baseline:
        path = os.path.join(args.baseline, "summary.json") if os.path.isdir(args.baseline) else args.baseline
        with open(path) as baseline:
            print_changes(summary, json.load(baseline), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
