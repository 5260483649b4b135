#include "self_signed.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string_view>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

namespace quiver::cli {

namespace {

constexpr auto validity = std::chrono::days(30);
constexpr auto backdate = std::chrono::hours(1);  // tolerates a client clock slightly behind ours

struct PrivkeyDeleter {
  void operator()(gnutls_x509_privkey_int* key) const noexcept { gnutls_x509_privkey_deinit(key); }
};
struct CrtDeleter {
  void operator()(gnutls_x509_crt_int* crt) const noexcept { gnutls_x509_crt_deinit(crt); }
};
using PrivkeyPtr = std::unique_ptr<gnutls_x509_privkey_int, PrivkeyDeleter>;
using CrtPtr = std::unique_ptr<gnutls_x509_crt_int, CrtDeleter>;

// Owns a gnutls_datum_t filled by an export2 call.
struct Datum {
  gnutls_datum_t value{};
  ~Datum() { gnutls_free(value.data); }
  std::string_view view() const { return {reinterpret_cast<const char*>(value.data), value.size}; }
};

void check(int rv, std::string_view step) {
  if (rv < 0) throw std::runtime_error(fmt::format("generating a self-signed certificate: {}: {}", step, gnutls_strerror(rv)));
}

PrivkeyPtr generate_key() {
  gnutls_x509_privkey_t raw = nullptr;
  check(gnutls_x509_privkey_init(&raw), "gnutls_x509_privkey_init");
  PrivkeyPtr key(raw);
  check(gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                      0, nullptr, 0),
        "gnutls_x509_privkey_generate2");
  return key;
}

void add_ip_san(gnutls_x509_crt_t crt, int family, const char* text) {
  std::array<unsigned char, 16> address{};
  if (inet_pton(family, text, address.data()) != 1) throw std::runtime_error("bad built-in address");
  const unsigned size = family == AF_INET ? 4 : 16;
  check(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, address.data(), size, GNUTLS_FSAN_APPEND),
        "subject alt name (IP)");
}

void set_names(gnutls_x509_crt_t crt) {
  static constexpr std::string_view cn = "localhost";
  static constexpr std::string_view org = "quiver self-signed";
  check(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn.data(), cn.size()), "common name");
  check(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, org.data(), org.size()),
        "organization");
  check(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, cn.data(), cn.size(), GNUTLS_FSAN_APPEND),
        "subject alt name (DNS)");
  add_ip_san(crt, AF_INET, "127.0.0.1");
  add_ip_san(crt, AF_INET6, "::1");
}

void set_validity_and_serial(gnutls_x509_crt_t crt) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = [](std::chrono::system_clock::time_point t) {
    return static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  check(gnutls_x509_crt_set_activation_time(crt, seconds(now - backdate)), "activation time");
  check(gnutls_x509_crt_set_expiration_time(crt, seconds(now + validity)), "expiration time");
  std::array<unsigned char, 16> serial{};
  check(gnutls_rnd(GNUTLS_RND_NONCE, serial.data(), serial.size()), "serial number");
  serial[0] &= 0x7f;  // a positive INTEGER
  serial[0] |= 0x01;  // and no leading zero byte
  check(gnutls_x509_crt_set_serial(crt, serial.data(), serial.size()), "serial number");
}

// A leaf certificate for TLS servers, signed with its own key.
CrtPtr make_certificate(gnutls_x509_privkey_t key) {
  gnutls_x509_crt_t raw = nullptr;
  check(gnutls_x509_crt_init(&raw), "gnutls_x509_crt_init");
  CrtPtr crt(raw);
  check(gnutls_x509_crt_set_version(crt.get(), 3), "version");
  check(gnutls_x509_crt_set_key(crt.get(), key), "public key");
  set_names(crt.get());
  set_validity_and_serial(crt.get());
  check(gnutls_x509_crt_set_basic_constraints(crt.get(), 0, -1), "basic constraints");
  check(gnutls_x509_crt_set_key_usage(crt.get(), GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
  check(gnutls_x509_crt_set_key_purpose_oid(crt.get(), GNUTLS_KP_TLS_WWW_SERVER, 0), "extended key usage");
  std::array<unsigned char, 64> key_id{};
  std::size_t key_id_size = key_id.size();
  check(gnutls_x509_crt_get_key_id(crt.get(), GNUTLS_KEYID_USE_SHA1, key_id.data(), &key_id_size), "key id");
  check(gnutls_x509_crt_set_subject_key_id(crt.get(), key_id.data(), key_id_size), "subject key id");
  check(gnutls_x509_crt_sign2(crt.get(), crt.get(), key, GNUTLS_DIG_SHA256, 0), "signing");
  return crt;
}

std::string fingerprint_of(gnutls_x509_crt_t crt) {
  std::array<unsigned char, 32> digest{};
  std::size_t size = digest.size();
  check(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, digest.data(), &size), "fingerprint");
  std::string text;
  for (std::size_t i = 0; i < size; ++i) text += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
  return text;
}

std::string public_key_pin_of(gnutls_x509_crt_t crt) {
  std::array<unsigned char, 32> digest{};
  std::size_t size = digest.size();
  check(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, digest.data(), &size), "public key id");
  gnutls_datum_t raw{digest.data(), static_cast<unsigned>(size)};
  Datum encoded;
  check(gnutls_base64_encode2(&raw, &encoded.value), "base64");
  return "sha256//" + std::string(reinterpret_cast<const char*>(encoded.value.data), encoded.value.size);
}

void write_file(const std::string& path, std::string_view contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  if (!file.flush()) throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
}

std::filesystem::path make_private_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "quiver-cert-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(fmt::format("cannot create a temporary directory: {}", std::strerror(errno)));
  }
  return pattern;
}

}  // namespace

SelfSignedCertificate::SelfSignedCertificate() {
  PrivkeyPtr key = generate_key();
  CrtPtr crt = make_certificate(key.get());
  Datum key_pem, cert_pem;
  check(gnutls_x509_privkey_export2(key.get(), GNUTLS_X509_FMT_PEM, &key_pem.value), "exporting the key");
  check(gnutls_x509_crt_export2(crt.get(), GNUTLS_X509_FMT_PEM, &cert_pem.value), "exporting the certificate");
  fingerprint_ = fingerprint_of(crt.get());
  public_key_pin_ = public_key_pin_of(crt.get());

  dir_ = make_private_dir();
  cert_file_ = (dir_ / "cert.pem").string();
  key_file_ = (dir_ / "key.pem").string();
  try {
    write_file(key_file_, key_pem.view());
    write_file(cert_file_, cert_pem.view());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

SelfSignedCertificate::~SelfSignedCertificate() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace quiver::cli
