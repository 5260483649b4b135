#!/bin/sh
# Generates the test PKI used by the integration/interop tests (needs certtool from gnutls-bin).
#
#   ca.pem / ca-key.pem                  test CA (ECDSA P-256), ~30 years
#   server.pem / server-key.pem          signed by the CA; DNS localhost, IP 127.0.0.1, IP ::1; ~30 years
#   expired.pem / expired-key.pem        signed by the CA; localhost/127.0.0.1/::1; validity wholly in the past
#   wrong-host.pem / wrong-host-key.pem  signed by the CA; SAN only DNS other.example; ~30 years
#   selfsigned.pem / selfsigned-key.pem  self-signed; localhost/127.0.0.1/::1; ~30 years
#   client.pem / client-key.pem          TLS client certificate (mTLS) signed by the CA, CN quiver-test-client
#
# Idempotent: files that already exist are kept (so committed certs stay stable). Pass --force to
# regenerate everything. Run from anywhere; output goes next to this script.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"

if [ "${1:-}" = "--force" ]; then
  rm -f ca.pem ca-key.pem server.pem server-key.pem expired.pem expired-key.pem \
        wrong-host.pem wrong-host-key.pem selfsigned.pem selfsigned-key.pem client.pem client-key.pem
fi

command -v certtool >/dev/null || { echo "certtool not found (apt-get install gnutls-bin)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Valid from a day ago (tolerates clock skew) for ~30 years.
not_before=$(date -u -d '1 day ago' '+%Y-%m-%d %H:%M:%S')
not_after=$(date -u -d '30 years' '+%Y-%m-%d %H:%M:%S')
validity="activation_date = \"$not_before\"
expiration_date = \"$not_after\""

key() {  # key FILE: an ECDSA P-256 private key, unless present
  [ -f "$1" ] || certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile "$1" 2>/dev/null
}

leaf_template() {  # leaf_template CN EXTRA-LINES...: TLS server certificate template on stdout
  cn=$1; shift
  printf 'organization = "Quiver test"\ncn = "%s"\n' "$cn"
  for line in "$@"; do printf '%s\n' "$line"; done
  printf 'tls_www_server\nsigning_key\nencryption_key\n'
}

san_local='dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"'

# --- CA -----------------------------------------------------------------------------------------------
key ca-key.pem
if [ ! -f ca.pem ]; then
  cat > "$tmp/ca.tmpl" <<TMPL
organization = "Quiver test"
cn = "Quiver Test CA"
$validity
ca
cert_signing_key
crl_signing_key
TMPL
  certtool --generate-self-signed --load-privkey ca-key.pem --template "$tmp/ca.tmpl" \
    --no-text --outfile ca.pem 2>/dev/null
fi

signed_leaf() {  # signed_leaf NAME TEMPLATE-FILE: NAME.pem signed by the CA, unless present
  key "$1-key.pem"
  [ -f "$1.pem" ] || certtool --generate-certificate --load-privkey "$1-key.pem" \
    --load-ca-certificate ca.pem --load-ca-privkey ca-key.pem --template "$2" \
    --no-text --outfile "$1.pem" 2>/dev/null
}

# --- server: valid for localhost, 127.0.0.1, ::1 -------------------------------------------------------
leaf_template localhost "$san_local" "$validity" > "$tmp/server.tmpl"
signed_leaf server "$tmp/server.tmpl"

# --- expired: validity wholly in the past --------------------------------------------------------------
leaf_template localhost "$san_local" \
  'activation_date = "2015-01-01 00:00:00"' 'expiration_date = "2016-01-01 00:00:00"' > "$tmp/expired.tmpl"
signed_leaf expired "$tmp/expired.tmpl"

# --- wrong-host: SAN only other.example ----------------------------------------------------------------
leaf_template other.example 'dns_name = "other.example"' "$validity" > "$tmp/wrong-host.tmpl"
signed_leaf wrong-host "$tmp/wrong-host.tmpl"

# --- client: a TLS client certificate for mutual TLS ----------------------------------------------------
printf 'organization = "Quiver test"\ncn = "quiver-test-client"\n%s\ntls_www_client\nsigning_key\n' \
  "$validity" > "$tmp/client.tmpl"
signed_leaf client "$tmp/client.tmpl"

# --- selfsigned: not signed by the test CA -------------------------------------------------------------
key selfsigned-key.pem
if [ ! -f selfsigned.pem ]; then
  leaf_template localhost "$san_local" "$validity" > "$tmp/selfsigned.tmpl"
  certtool --generate-self-signed --load-privkey selfsigned-key.pem --template "$tmp/selfsigned.tmpl" \
    --no-text --outfile selfsigned.pem 2>/dev/null
fi

chmod 644 ./*.pem
echo "test certificates in $dir"
