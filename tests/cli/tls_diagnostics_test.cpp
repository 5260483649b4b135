// Diagnostics a curl user reaches for when TLS or QUIC misbehaves: `-v` tells the TLS version, cipher,
// ALPN, the server certificate's subject, dates and issuer, and the QUIC version (curl's lines);
// SSLKEYLOGFILE gets the TLS secrets (GnuTLS writes them itself, NSS key log format) and QLOGDIR one qlog
// file per QUIC connection. And client certificates (-E/--cert, --key) against a server that requires one.
#include <fstream>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

#ifndef QUIVER_CLI_PATH
#error "QUIVER_CLI_PATH must name the built quiver binary"
#endif

// `quiver args...` with environment variables set (through env(1): the spawn helper passes ours on).
ProcessResult quiver_with_env(const std::vector<std::string>& env, const std::vector<std::string>& args) {
  std::vector<std::string> command{"/usr/bin/env"};
  command.insert(command.end(), env.begin(), env.end());
  command.push_back(QUIVER_CLI_PATH);
  command.insert(command.end(), args.begin(), args.end());
  return run_process(command, std::chrono::seconds(15));
}

class TlsDiagnostics : public CliServerTest {
 protected:
  TempDir dir_;
};

TEST_F(TlsDiagnostics, VerboseTellsTheHandshakeAsCurlDoes) {
  auto result = quiver({"-v", "--cacert", ca_file(), url("/bytes/3")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  for (const char* line : {"* SSL connection using TLSv1.3 / TLS_", "* ALPN: server accepted h3\n",
                           "* Server certificate:\n", "*  subject: CN=localhost", "*  start date: ",
                           "*  expire date: ", "*  issuer: CN=Quiver Test CA", "* QUIC version 0x00000001, RTT ",
                           " / x25519\n"}) {
    EXPECT_NE(result.err.find(line), std::string::npos) << "no '" << line << "' in:\n" << result.err;
  }
}

TEST_F(TlsDiagnostics, SslKeyLogFileGetsTheSecrets) {
  const auto keys = dir_.path() / "keys.log";
  auto result = quiver_with_env({"SSLKEYLOGFILE=" + keys.string()}, {"--cacert", ca_file(), url("/bytes/3")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const std::string logged = read_file(keys);
  EXPECT_NE(logged.find("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), std::string::npos) << logged;
  EXPECT_NE(logged.find("CLIENT_TRAFFIC_SECRET_0 "), std::string::npos) << logged;
}

TEST_F(TlsDiagnostics, QlogDirGetsOneFilePerConnection) {
  auto result = quiver_with_env({"QLOGDIR=" + dir_.path().string()}, {"--cacert", ca_file(), url("/bytes/3")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".sqlog");
  const std::string qlog = read_file(files[0]);
  EXPECT_EQ(qlog.substr(0, 1), "\x1e") << "JSON text sequences start with RS";
  EXPECT_NE(qlog.find("\"qlog_version\""), std::string::npos) << qlog.substr(0, 300);
  EXPECT_NE(qlog.find("packet_sent"), std::string::npos);
}

// `quiver serve --client-ca`: a server that requires a client certificate signed by the test CA.
class ClientCertificate : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<ServeProcess>(std::vector<std::string>{
        "-q", "--cert", data_file("server.pem"), "--key", data_file("server-key.pem"), "--client-ca",
        data_file("ca.pem")});
    ASSERT_NE(serve_->port(), 0) << serve_->describe();
  }
  std::string url() const { return serve_->url("/bytes/3"); }

  std::unique_ptr<ServeProcess> serve_;
};

TEST_F(ClientCertificate, CertAndKeyAreSent) {
  auto result = quiver({"--cacert", data_file("ca.pem"), "-E", data_file("client.pem"), "--key",
                        data_file("client-key.pem"), url()});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "abc");
}

TEST_F(ClientCertificate, WithoutACertificateTheServerRefuses) {
  auto result = quiver({"--cacert", data_file("ca.pem"), url()});
  EXPECT_NE(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "");
}

TEST_F(ClientCertificate, AFileThatCannotBeLoadedExits58) {
  auto result = quiver({"--cacert", data_file("ca.pem"), "--cert", data_file("no-such-client.pem"), url()});
  EXPECT_EQ(result.exit_code, 58) << describe(result);
  EXPECT_NE(result.err.find("no-such-client.pem"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace quiver::test
