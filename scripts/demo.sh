#!/usr/bin/env bash
# The main job on its embedded default: builds Quiver, starts the project's HTTP/3 server on loopback
# and fetches from it with the `quiver` command, printing what happened.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh" >/dev/null
exec "$root/build/tools/quiver/quiver" demo "$@"
