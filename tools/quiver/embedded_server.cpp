#include "embedded_server.hpp"

#include <stdexcept>

#include "serve.hpp"

namespace quiver::cli {

namespace {

server::ServerOptions server_options(const SelfSignedCertificate& certificate, EmbeddedServer::Options options) {
  server::ServerOptions result;
  result.host = "127.0.0.1";
  result.port = 0;
  result.cert_file = certificate.cert_file();
  result.key_file = certificate.key_file();
  result.max_streams = options.max_streams;
  result.access_log = std::move(options.access_log);
  result.http3 = options.http3;
  result.alt_svc = std::move(options.alt_svc);
  return result;
}

}  // namespace

EmbeddedServer::EmbeddedServer(Options options)
    : certificate_(options.certificate_of != nullptr ? options.certificate_of->certificate_
                                                      : std::make_shared<const SelfSignedCertificate>()),
      server_(server_options(*certificate_, std::move(options))) {
  if (auto started = server_.start(); !started) throw std::runtime_error(started.error().message());
}

std::string EmbeddedServer::origin() const { return https_origin("127.0.0.1", server_.port()); }

}  // namespace quiver::cli
