// What a new HTTP/3 connection sends once the server's handshake flight is in: a request that waited for
// the handshake rides in the same flight as the client's Finished (its first 1-RTT packet), not in a
// packet of its own after it. Read from the client's qlog (ConnectionOptions::qlog_dir).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

// The records of a qlog (JSON-SEQ: each record starts with the RS character).
std::vector<std::string> qlog_records(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> records;
  std::string all = text.str();
  for (std::size_t start = 0; start < all.size();) {
    std::size_t end = all.find('\x1e', start + 1);
    if (end == std::string::npos) end = all.size();
    records.push_back(all.substr(start, end - start));
    start = end;
  }
  return records;
}

TEST(FirstFlightTest, ARequestWaitingForTheHandshakeRidesWithTheClientsFinished) {
  server::Server server(test_server_options());
  start_or_throw(server);
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("quiver-first-flight-{}", server.port());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.qlog_dir = dir.string();
    Client client(options);
    auto response = client.request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server.port())));
    ASSERT_TRUE(response) << response.error().to_string();
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  const auto records = qlog_records(files.front());
  std::filesystem::remove_all(dir);

  std::string first_short_packet;  // the first 1-RTT packet the client sent
  bool handshake_done_before = false;
  for (const auto& record : records) {
    if (record.find("\"frame_type\":\"handshake_done\"") != std::string::npos) handshake_done_before = true;
    if (record.find("\"name\":\"transport:packet_sent\"") != std::string::npos &&
        record.find("\"packet_type\":\"1RTT\"") != std::string::npos) {
      first_short_packet = record;
      break;
    }
  }
  ASSERT_FALSE(first_short_packet.empty()) << "no 1-RTT packet sent";
  EXPECT_FALSE(handshake_done_before) << "the client's first 1-RTT packet went after HANDSHAKE_DONE";
  // Stream 0: the client's first bidirectional stream, the request.
  EXPECT_NE(first_short_packet.find("\"stream_id\":0,"), std::string::npos)
      << "the request is not in the client's first 1-RTT packet: " << first_short_packet;
}

}  // namespace
}  // namespace quiver::test
