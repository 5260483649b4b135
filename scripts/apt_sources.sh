# Sourced by setup.sh (and its test, tests/cli/setup_script_test.cpp): makes sure apt has a
# bookworm-backports entry, adding one only when no file already names that suite, so apt never warns
# "configured multiple times". QUIVER_APT_DIR replaces /etc/apt (for the test).
#
# bookworm-backports carries ngtcp2 1.11, nghttp3 1.8 and an HTTP/3-enabled libcurl. The entry we add
# reuses the mirror of the machine's existing bookworm entry rather than naming one here.

apt_dir="${QUIVER_APT_DIR:-/etc/apt}"
backports_list="$apt_dir/sources.list.d/quiver-bookworm-backports.list"

# The one-line-style files: sources.list and sources.list.d/*.list.
one_line_source_files() {
  local f
  for f in "$apt_dir/sources.list" "$apt_dir"/sources.list.d/*.list; do
    [ -f "$f" ] && printf '%s\n' "$f"
  done
  return 0
}

# The deb822 files: sources.list.d/*.sources.
deb822_source_files() {
  local f
  for f in "$apt_dir"/sources.list.d/*.sources; do
    [ -f "$f" ] && printf '%s\n' "$f"
  done
  return 0
}

# Prints the URI of each enabled "deb" entry whose suites include $1, one a line.
# One-line form: deb [options] URI SUITE COMPONENTS...; comments and deb-src lines do not count.
one_line_uris_for_suite() {
  local suite=$1 f
  while read -r f; do
    awk -v suite="$suite" '
      $1 != "deb" { next }
      {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }  # skip [options]
        if ($(i + 1) == suite) print $i
      }' "$f"
  done < <(one_line_source_files)
}

# deb822 form: stanzas separated by blank lines; Types must include deb, Enabled must not be no.
deb822_uris_for_suite() {
  local suite=$1 f
  while read -r f; do
    awk -v suite="$suite" '
      function flush() {
        if (uri != "" && has_suite && is_deb && enabled) print uri
        uri = ""; has_suite = 0; is_deb = 0; enabled = 1
      }
      BEGIN { flush() }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
      tolower($1) == "enabled:" { if (tolower($2) == "no") enabled = 0 }
      END { flush() }' "$f"
  done < <(deb822_source_files)
}

uris_for_suite() {
  deb822_uris_for_suite "$1"
  one_line_uris_for_suite "$1"
}

has_bookworm_backports() { [ -n "$(uris_for_suite bookworm-backports | head -n1)" ]; }

ensure_bookworm_backports() {
  if has_bookworm_backports; then
    echo "setup.sh: apt already has bookworm-backports"
    return 0
  fi
  local mirror
  mirror=$(uris_for_suite bookworm | head -n1)
  if [ -z "$mirror" ]; then
    echo "setup.sh: no bookworm entry found in apt's sources; cannot derive a backports mirror" >&2
    return 1
  fi
  echo "deb $mirror bookworm-backports main" > "$backports_list"
  echo "setup.sh: added bookworm-backports from $mirror"
}
