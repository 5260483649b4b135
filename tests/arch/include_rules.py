#!/usr/bin/env python3
"""Checks the layer rules of docs/architecture.md over src/ (a CTest test: arch.include_rules).

  - src/pool/ and src/client/ speak only the protocol-neutral contract (src/http/): they include nothing
    from src/h3/, src/h2/, src/h1/, src/quic/, src/tcp/ or src/tls/ and name nothing `h3::`, `h2::` or `h1::`, except the
    composition root (src/client/connection_factory.cpp), the one place that chooses a protocol;
  - src/http/ (the contract) includes nothing from h3/, h2/, quic/, tcp/, tls/, pool/ or client/;
  - src/h3/, src/h2/ and src/h1/ (the workers) do not include src/tls/ (TLS belongs to the dialers below
    them), nor each other, nor the other protocol's transport (h3/ no tcp/, h2/ and h1/ no quic/);
  - src/quic/ and src/tcp/ (transports and dialers) include no worker (h3/, h2/, h1/) and not each other;
  - src/test_server/ (the test oracle) shares nothing with the client's protocol code: no http/, h3/,
    quic/, tls/, pool/ or client/ (util/ and core/ are shared);
  - the test server's connection plumbing knows no specific misbehaviour: it reaches the test controls
    only through ConnectionHooks, so it includes neither test_controls.hpp nor misbehave.hpp and names
    none of the controls' switches.

Usage: include_rules.py SRC_DIR      checks the tree, prints each violation, exits 1 if any.
       include_rules.py --self-test  checks that a tree with one violation of each rule fails.
"""
import pathlib
import re
import sys
import tempfile

COMPOSITION_ROOT = "client/connection_factory.cpp"

# (folder, forbidden include prefixes, whether `h3::` names are forbidden)
RULES = [
    ("pool", ("h3/", "h2/", "h1/", "quic/", "tcp/", "tls/"), True),
    ("client", ("h3/", "h2/", "h1/", "quic/", "tcp/", "tls/"), True),
    ("http", ("h3/", "h2/", "h1/", "quic/", "tcp/", "tls/", "pool/", "client/"), True),
    ("h3", ("tls/", "h2/", "h1/", "tcp/"), False),
    ("h2", ("tls/", "h3/", "h1/", "quic/"), False),
    ("h1", ("tls/", "h3/", "h2/", "quic/"), False),
    ("quic", ("h3/", "h2/", "h1/", "tcp/"), False),
    ("tcp", ("h3/", "h2/", "h1/", "quic/"), False),
    ("test_server", ("http/", "h3/", "h2/", "h1/", "quic/", "tcp/", "tls/", "pool/", "client/"), True),
]

# Known exceptions, each (file, include) with the reason. Remove a line once its include is gone.
KNOWN_EXCEPTIONS: set = set()  # none: the quic::Dialer took the TLS context over from h3/connection.cpp

# The test server's connection plumbing (transport, session, route runner, stream roles, trampolines)
# and what it must not know: the test controls behind the hooks (docs/architecture.md, test server).
SERVER_PLUMBING = ("test_server/server_connection.", "test_server/route_runner.", "test_server/stream_control.",
                   "test_server/quic_transport.", "test_server/connection_callbacks.")
MISBEHAVIOUR_INCLUDES = ("test_server/test_controls.hpp", "test_server/misbehave.hpp")
MISBEHAVIOUR_NAMES = re.compile(r"\b(goaway_in_first_flight|reject_first_per_path|goaway_after_requests|"
                                r"hold_from|refuse_new_streams|reject_request_for)\b")

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
H3_NAME = re.compile(r"\bh[123]::")


def violations(src: pathlib.Path):
    found, used_exceptions = [], set()
    for folder, forbidden, no_h3_names in RULES:
        for path in sorted((src / folder).rglob("*")):
            if path.suffix not in (".hpp", ".cpp", ".h", ".cc"):
                continue
            rel = path.relative_to(src).as_posix()
            if rel == COMPOSITION_ROOT:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for include in INCLUDE.findall(text):
                if not include.startswith(forbidden):
                    continue
                if (rel, include) in KNOWN_EXCEPTIONS:
                    used_exceptions.add((rel, include))
                    continue
                found.append(f"src/{rel}: includes \"{include}\" (src/{folder}/ may not include "
                             f"{', '.join(p.rstrip('/') for p in forbidden)})")
            if no_h3_names:
                for number, line in enumerate(text.splitlines(), 1):
                    if H3_NAME.search(line):
                        found.append(f"src/{rel}:{number}: names a protocol namespace, h3:: or h2:: (only "
                                     f"{COMPOSITION_ROOT} may)")
    found += plumbing_violations(src)
    stale = KNOWN_EXCEPTIONS - used_exceptions
    return found, stale


def plumbing_violations(src: pathlib.Path):
    found = []
    for path in sorted((src / "test_server").glob("*")):
        rel = path.relative_to(src).as_posix()
        if not rel.startswith(SERVER_PLUMBING):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for include in INCLUDE.findall(text):
            if include in MISBEHAVIOUR_INCLUDES:
                found.append(f"src/{rel}: includes \"{include}\" (the plumbing reaches the test controls "
                             f"only through ConnectionHooks)")
        for number, line in enumerate(text.splitlines(), 1):
            if MISBEHAVIOUR_NAMES.search(line.split("//")[0]):
                found.append(f"src/{rel}:{number}: names a test control (only the hooks may)")
    return found


def self_test() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp)
        files = {
            "pool/ok.hpp": '#include "http/connection.hpp"\n',
            "pool/bad_include.cpp": '#include "h3/connection.hpp"\n',
            "client/bad_name.cpp": "auto x = h3::Connection::create();\n",
            "client/tls_user.cpp": '#include "tls/tls_context.hpp"\n',
            "pool/h2_user.cpp": '#include "h2/connection.hpp"\n',
            "client/h2_name.cpp": "auto y = h2::Connection::create();\n",
            "client/tcp_user.cpp": '#include "tcp/dialer.hpp"\n',
            "h2/bad.cpp": '#include "tls/tls_context.hpp"\n',
            "h2/ok.cpp": '#include "tcp/dialer.hpp"\n#include "http/connection.hpp"\n',
            "tcp/bad.cpp": '#include "h2/connection.hpp"\n',
            "tcp/ok.cpp": '#include "tls/tls_context.hpp"\n',
            COMPOSITION_ROOT: ('#include "h3/connection.hpp"\n#include "h2/connection.hpp"\n'
                               'auto c = h3::Connection::create();\nauto d = h2::Connection::create();\n'),
            "http/bad.hpp": '#include "pool/origin_pool.hpp"\n',
            "h3/bad.cpp": '#include "tls/tls_session.hpp"\n',
            "test_server/bad.cpp": '#include "quic/quic_transport.hpp"\n',
            "test_server/ok.cpp": '#include "test_server/quic_transport.hpp"\n#include "util/clock.hpp"\n',
            "test_server/route_runner.cpp": '#include "test_server/misbehave.hpp"\n',
            "test_server/stream_control.cpp": "if (options_.goaway_after_requests > 0) {}\n",
            "test_server/server_connection.cpp": "// a comment may say goaway_after_requests\n",
            "test_server/test_controls.cpp": "if (options_.goaway_after_requests > 0) {}\n",
        }
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        found, stale = violations(src)
        expected = ["src/pool/bad_include.cpp", "src/client/bad_name.cpp", "src/client/tls_user.cpp",
                    "src/pool/h2_user.cpp", "src/client/h2_name.cpp", "src/client/tcp_user.cpp",
                    "src/h2/bad.cpp", "src/tcp/bad.cpp",
                    "src/http/bad.hpp", "src/h3/bad.cpp", "src/test_server/bad.cpp",
                    "src/test_server/route_runner.cpp", "src/test_server/stream_control.cpp"]
        missing = [name for name in expected if not any(v.startswith(name) for v in found)]
        wrong = [v for v in found if not any(v.startswith(name) for name in expected)]
        if missing or wrong or stale:
            print(f"self-test failed: missing={missing} wrong={wrong} stale={stale}")
            return 1
        print(f"self-test passed: {len(found)} violations found as planted")
        return 0


def main(argv) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    found, stale = violations(pathlib.Path(argv[1]))
    for exception in sorted(stale):
        print(f"note: known exception no longer needed, remove it from KNOWN_EXCEPTIONS: {exception}")
    for violation in found:
        print(violation)
    if found:
        print(f"{len(found)} include-rule violation(s); see docs/architecture.md (Layers)")
        return 1
    print("include rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
