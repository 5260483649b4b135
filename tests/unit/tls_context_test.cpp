// The shared TLS context's reuse rules (tls/tls_context.hpp): kept after its last holder for the next
// connection, made anew when a file it was loaded from changes; and the certificate facts telemetry
// reports, remembered per certificate without ever answering for a different one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>

#include "support/loopback.hpp"
#include "tls/tls_context.hpp"

namespace quiver::tls {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::span<const unsigned char> bytes_of(const std::string& der) {
  return {reinterpret_cast<const unsigned char*>(der.data()), der.size()};
}

// A CA file of this test's own (no other test shares its context), trusted alone.
class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quiver-tls-context-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    options_.ca_file = (dir_ / "ca.pem").string();
    options_.system_trust = false;
    write_text(options_.ca_file, read_text(test::data_file("ca.pem")));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<ClientTlsContext> shared() {
    auto context = ClientTlsContext::shared(options_);
    EXPECT_TRUE(context) << context.error().to_string();
    return context ? *context : nullptr;
  }

  std::filesystem::path dir_;
  TlsOptions options_;
};

TEST_F(TlsContextTest, KeptForTheNextConnectionAfterItsLastHolderLetGo) {
  auto first = shared();
  const ClientTlsContext* loaded = first.get();
  first.reset();  // no connection holds it now
  EXPECT_EQ(shared().get(), loaded);
}

TEST_F(TlsContextTest, AnEditedCaFileMakesANewContext) {
  auto before = shared();
  write_text(options_.ca_file, read_text(test::data_file("ca.pem")) + "\n");  // another size
  auto after = shared();
  EXPECT_NE(after.get(), before.get());
  EXPECT_EQ(shared().get(), after.get());  // and that one is shared in turn
}

TEST_F(TlsContextTest, OtherOptionsGetAnotherContext) {
  auto with_file = shared();
  options_.verify_peer = false;
  EXPECT_NE(shared().get(), with_file.get());
}

TEST_F(TlsContextTest, CertificateFactsMatchTheCertificateAskedAbout) {
  auto context = shared();
  const std::string server = test::certificate_der(test::data_file("server.pem"));
  const std::string ca = test::certificate_der(test::data_file("ca.pem"));
  auto first = context->certificate_facts(bytes_of(server));
  EXPECT_EQ(first.subject, "CN=localhost,O=Quiver test");
  EXPECT_EQ(first.issuer, "CN=Quiver Test CA,O=Quiver test");
  ASSERT_TRUE(first.not_before && first.not_after);
  EXPECT_LT(*first.not_before, *first.not_after);
  EXPECT_EQ(context->certificate_facts(bytes_of(ca)).subject, "CN=Quiver Test CA,O=Quiver test");  // not the remembered one
  auto again = context->certificate_facts(bytes_of(server));
  EXPECT_EQ(again.subject, first.subject);
  EXPECT_EQ(again.not_after, first.not_after);
  EXPECT_EQ(context->certificate_facts({}).subject, "");  // not a certificate: no facts
}

}  // namespace
}  // namespace quiver::tls
