#!/usr/bin/env bash
# Installs everything Quiver needs to build and test on a fresh Debian 12 machine (run as root).
# Idempotent: re-running only refreshes package lists and skips what is installed.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

# bookworm-backports: added unless some source file already has it (see apt_sources.sh).
# shellcheck source=apt_sources.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_sources.sh"
ensure_bookworm_backports

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ninja-build \
  libgnutls28-dev libasio-dev libgtest-dev libgmock-dev libcli11-dev libfmt-dev nlohmann-json3-dev liburiparser-dev \
  zlib1g-dev libbrotli-dev libzstd-dev libpsl-dev publicsuffix \
  gnutls-bin caddy ca-certificates libnghttp2-dev nghttp2-server libhttp-parser-dev

# Sanitizer builds and fuzzing (scripts/sanitize.sh, scripts/fuzz.sh): g++'s ASan/UBSan/TSan runtimes
# come with build-essential; libFuzzer needs clang. clang 19 (Debian 12 main), not the default clang 14,
# which cannot compile libstdc++ 12's std::expected; llvm-19 brings llvm-symbolizer for readable stacks.
apt-get install -y -qq --no-install-recommends clang-19 libclang-rt-19-dev llvm-19

# quiver bench --html: tests/cli/bench_test.cpp renders the page in headless Chromium.
apt-get install -y -qq --no-install-recommends chromium

apt-get install -y -qq --no-install-recommends -t bookworm-backports \
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev ngtcp2-server libcurl4-gnutls-dev

echo "setup.sh: done"
