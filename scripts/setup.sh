#!/usr/bin/env bash
# Installs everything Quiver needs to build and test on a fresh Debian 12 machine (run as root).
# Idempotent: re-running only refreshes package lists and skips what is installed.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

# bookworm-backports carries ngtcp2 1.11, nghttp3 1.8 and an HTTP/3-enabled libcurl.
# Reuse the mirror of the machine's existing bookworm entry rather than naming one here.
backports_list=/etc/apt/sources.list.d/quiver-bookworm-backports.list
find_bookworm_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: a stanza whose Suites include "bookworm" gives its URIs line.
    awk '
      /^[[:space:]]*$/ { if (uri != "" && bw) { print uri; exit } uri=""; bw=0; next }
      /^URIs:/ { uri=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") bw=1 }
      END { if (uri != "" && bw) print uri }
    ' "$f" | head -n1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    [ "$f" = "$backports_list" ] && continue
    awk '$1 == "deb" && $0 !~ /\[/ && $3 == "bookworm" { print $2; exit }
         $1 == "deb" && $2 ~ /^\[/ { for (i = 3; i <= NF; i++) if ($i ~ /^(https?|file):/) { if ($(i+1) == "bookworm") print $i; break } }' "$f" | head -n1
  done
}

if [ ! -f "$backports_list" ]; then
  mirror=$(find_bookworm_mirror | head -n1)
  if [ -z "$mirror" ]; then
    echo "setup.sh: no bookworm entry found in apt's sources; cannot derive a backports mirror" >&2
    exit 1
  fi
  echo "deb $mirror bookworm-backports main" > "$backports_list"
  echo "setup.sh: added bookworm-backports from $mirror"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ninja-build \
  libgnutls28-dev libasio-dev libgtest-dev libgmock-dev libcli11-dev libfmt-dev nlohmann-json3-dev \
  gnutls-bin caddy ca-certificates

# Sanitizer builds and fuzzing (scripts/sanitize.sh, scripts/fuzz.sh): g++'s ASan/UBSan/TSan runtimes
# come with build-essential; libFuzzer needs clang. clang 19 (Debian 12 main), not the default clang 14,
# which cannot compile libstdc++ 12's std::expected; llvm-19 brings llvm-symbolizer for readable stacks.
apt-get install -y -qq --no-install-recommends clang-19 libclang-rt-19-dev llvm-19

apt-get install -y -qq --no-install-recommends -t bookworm-backports \
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev ngtcp2-server libcurl4-gnutls-dev

echo "setup.sh: done"
