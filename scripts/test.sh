#!/usr/bin/env bash
# Builds everything and runs every test: unit, integration (loopback, the project's server) and interop
# (caddy and ngtcp2's gtlsserver, installed by setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j 2 --timeout 300 "$@"
