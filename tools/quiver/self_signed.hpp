#pragma once
// A throw-away self-signed certificate for `quiver serve`, `bench` and `demo` when no certificate is
// given: ECDSA P-256, SAN DNS:localhost, IP:127.0.0.1 and IP:::1, valid from an hour ago for 30 days,
// for TLS server authentication. Clients trust it by using cert_file() as their CA file (--cacert), so
// verification stays on.

#include <filesystem>
#include <string>

namespace quiver::cli {

class SelfSignedCertificate {
 public:
  // Generates the key and certificate with GnuTLS into a new private temporary directory (mode 0700).
  // Throws std::runtime_error naming the step that failed.
  SelfSignedCertificate();
  // Removes the directory and both files.
  ~SelfSignedCertificate();
  SelfSignedCertificate(const SelfSignedCertificate&) = delete;
  SelfSignedCertificate& operator=(const SelfSignedCertificate&) = delete;

  const std::string& cert_file() const noexcept { return cert_file_; }
  const std::string& key_file() const noexcept { return key_file_; }
  // SHA-256 of the DER certificate, "AB:CD:..." (as `openssl x509 -fingerprint -sha256` prints it).
  const std::string& fingerprint() const noexcept { return fingerprint_; }
  // Its public key as curl's --pinnedpubkey takes it: "sha256//" + base64 SHA-256 of the SPKI.
  const std::string& public_key_pin() const noexcept { return public_key_pin_; }

 private:
  std::filesystem::path dir_;
  std::string cert_file_, key_file_, fingerprint_, public_key_pin_;
};

}  // namespace quiver::cli
