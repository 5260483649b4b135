#!/usr/bin/env bash
# Installs the dependencies when missing (scripts/setup.sh, as root) and builds into build/.
# Used by demo.sh and test.sh; CI=true turns warnings into errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

needs_setup() {
  ! pkg-config --atleast-version=1.11 libngtcp2 2>/dev/null ||
  ! pkg-config --atleast-version=1.8 libnghttp3 2>/dev/null ||
  ! pkg-config --exists libnghttp2 2>/dev/null || [ ! -x /usr/sbin/nghttpd ] ||
  [ ! -f /usr/include/http_parser.h ] ||
  ! command -v cmake >/dev/null || ! command -v ninja >/dev/null ||
  ! command -v caddy >/dev/null || ! command -v gtlsserver >/dev/null ||
  [ ! -f /usr/include/asio.hpp ] || [ ! -d /usr/include/CLI ] || [ ! -d /usr/include/gtest ] ||
  ! pkg-config --exists libcurl || ! pkg-config --exists libpsl || ! command -v clang++-19 >/dev/null ||
  ! pkg-config --exists liburiparser zlib libbrotlidec libbrotlienc libzstd || ! command -v chromium >/dev/null
}

if needs_setup; then
  if [ "$(id -u)" -eq 0 ]; then
    bash "$root/scripts/setup.sh"
  else
    sudo bash "$root/scripts/setup.sh"
  fi
fi

werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUIVER_WERROR=$werror >/dev/null
cmake --build "$root/build" -j "$(nproc)"
