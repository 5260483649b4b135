#include "support/loopback.hpp"

#include <stdexcept>

#include <asio/ip/udp.hpp>
#include <fmt/format.h>

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

}  // namespace quiver::test
