#!/usr/bin/env bash
# Builds everything and runs every test: unit, integration (loopback, the project's server) and interop
# (caddy and ngtcp2's gtlsserver, installed by setup.sh). Then, for a full run (no arguments), the
# sanitizer builds (scripts/sanitize.sh: ASan+UBSan+LSan, TSan) and the short libFuzzer runs
# (scripts/fuzz.sh); see docs/reliability.md, "Tooling". Arguments go to ctest (e.g. -R url) and skip
# those extra steps, as does QUIVER_SKIP_SANITIZERS=1. A run that selects no test fails (a -R pattern
# that matches nothing must not pass for a green run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
cd "$root/build"
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
ctest --output-on-failure --no-tests=error -j 2 --timeout 300 "$@" | tee "$summary"

if [ $# -eq 0 ] && [ "${QUIVER_SKIP_SANITIZERS:-}" != "1" ]; then
  bash "$root/scripts/sanitize.sh"
  bash "$root/scripts/fuzz.sh"
  # ctest's own summary last, where CI reads it.
  echo "test.sh: ctest, sanitizer runs and fuzz runs all passed; ctest's summary:"
  grep -E '^[0-9]+% tests passed' "$summary"
fi
