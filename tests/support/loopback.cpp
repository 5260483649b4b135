#include "support/loopback.hpp"

#include <stdexcept>

#include <asio/ip/udp.hpp>
#include <fmt/format.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

namespace quiver::test {

std::string data_file(const std::string& name) { return std::string(QUIVER_TEST_DATA_DIR) + "/" + name; }

std::string deterministic_bytes(std::size_t offset, std::size_t length) {
  std::string bytes(length, '\0');
  for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<char>('a' + (offset + i) % 26);
  return bytes;
}

void start_or_throw(server::Server& server) {
  if (auto started = server.start(); !started) throw std::runtime_error(started.error().message());
}

server::ServerOptions test_server_options(const std::string& host) {
  server::ServerOptions options;
  options.host = host;
  options.cert_file = data_file("server.pem");
  options.key_file = data_file("server-key.pem");
  return options;
}

ConnectionOptions test_client_options() {
  ConnectionOptions options;
  options.http_version = HttpVersion::http3_only;  // the race has its own tests; these mean HTTP/3
  options.tls.ca_file = data_file("ca.pem");
  options.connect_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(10);
  return options;
}

std::uint16_t closed_udp_port() {
  asio::io_context io;
  asio::ip::udp::socket socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return socket.local_endpoint().port();
}

void RecordingObserver::on_ready(http::Connection&, std::uint64_t max_streams) {
  events.push_back(fmt::format("ready {}", max_streams));
  ready_max_streams.push_back(max_streams);
}
void RecordingObserver::on_stream_done(http::Connection&) {
  events.push_back("done");
  ++done;
}
void RecordingObserver::on_stream_open_failed(http::Connection&, const Error& error) {
  events.push_back("open_failed " + error.to_string());
}
void RecordingObserver::on_draining(http::Connection&) {
  events.push_back("draining");
  ++draining;
}
void RecordingObserver::on_closed(http::Connection&, const Error& reason) {
  events.push_back("closed " + reason.to_string());
  ++closed;
}

std::function<void(const server::AccessLogEntry&)> AccessLog::sink() {
  return [this](const server::AccessLogEntry& entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(entry);
  };
}

std::vector<server::AccessLogEntry> AccessLog::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));  // returns after each handler, so `done` is checked often
  }
  return true;
}

h3::ResponseHandler Replies::slot(std::size_t index) {
  if (slots.size() <= index) slots.resize(index + 1);
  return [this, index](Result<Response> result) {
    if (slots[index].has_value()) duplicate_reply = true;
    slots[index] = std::move(result);
    ++received;
  };
}

std::string certificate_der(const std::string& pem_file) {
  gnutls_datum_t pem{};
  if (gnutls_load_file(pem_file.c_str(), &pem) != 0) throw std::runtime_error("cannot read " + pem_file);
  gnutls_datum_t der{};
  const bool ok = gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) == 0;
  std::string bytes = ok ? std::string(reinterpret_cast<const char*>(der.data), der.size) : std::string();
  gnutls_free(der.data);
  gnutls_free(pem.data);
  if (!ok) throw std::runtime_error("no certificate in " + pem_file);
  return bytes;
}

std::string public_key_pin(const std::string& pem_file) {
  gnutls_datum_t pem{};
  if (gnutls_load_file(pem_file.c_str(), &pem) != 0) throw std::runtime_error("cannot read " + pem_file);
  gnutls_x509_crt_t crt = nullptr;
  gnutls_pubkey_t key = nullptr;
  gnutls_x509_crt_init(&crt);
  gnutls_pubkey_init(&key);
  gnutls_datum_t der{};
  const bool ok = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) == 0 &&
                  gnutls_pubkey_import_x509(key, crt, 0) == 0 &&
                  gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &der) == 0;
  std::string pin;
  if (ok) {
    unsigned char digest[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest);
    gnutls_datum_t raw{digest, sizeof digest}, encoded{};
    gnutls_base64_encode2(&raw, &encoded);
    pin = "sha256//" + std::string(reinterpret_cast<const char*>(encoded.data), encoded.size);
    gnutls_free(encoded.data);
  }
  gnutls_free(der.data);
  gnutls_free(pem.data);
  gnutls_pubkey_deinit(key);
  gnutls_x509_crt_deinit(crt);
  if (!ok) throw std::runtime_error("cannot read the public key of " + pem_file);
  return pin;
}

}  // namespace quiver::test
