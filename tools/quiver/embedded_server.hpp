#pragma once
// The project's server on loopback for `bench` (no URL) and `demo`, with a freshly generated self-signed
// certificate that clients trust through TlsOptions::ca_file, so verification stays on.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "self_signed.hpp"
#include "test_server/server.hpp"

namespace quiver::cli {

class EmbeddedServer {
 public:
  struct Options {
    std::uint64_t max_streams = 100;
    std::function<void(const server::AccessLogEntry&)> access_log;  // optional; runs on the server's thread
    bool http3 = true;  // false: HTTP/2 and HTTP/1.1 over TCP only (ServerOptions::http3)
    std::optional<std::string> alt_svc{};  // what TCP responses announce (ServerOptions::alt_svc)
    // Serve with that server's certificate instead of a new one (it must outlive this one): a client
    // trusting one trusts both.
    const EmbeddedServer* certificate_of = nullptr;
  };

  // Generates the certificate and starts the server on 127.0.0.1 (any free port). Throws
  // std::runtime_error when either fails.
  explicit EmbeddedServer(Options options);
  EmbeddedServer(const EmbeddedServer&) = delete;
  EmbeddedServer& operator=(const EmbeddedServer&) = delete;

  // "https://127.0.0.1:PORT"
  std::string origin() const;
  // The certificate to trust (a client's TlsOptions::ca_file).
  const std::string& ca_file() const noexcept { return certificate_->cert_file(); }
  const std::string& fingerprint() const noexcept { return certificate_->fingerprint(); }
  server::Server& server() noexcept { return server_; }

 private:
  std::shared_ptr<const SelfSignedCertificate> certificate_;  // first: the server reads its files at start()
  server::Server server_;
};

}  // namespace quiver::cli
