// The reader of the server's SETTINGS frame on its control stream (h3::ControlStreamSniffer): it learns
// SETTINGS_ENABLE_CONNECT_PROTOCOL, which nghttp3 1.8's client drops.
#include <gtest/gtest.h>

#include <vector>

#include "h3/h3_session.hpp"

namespace quiver::h3 {
namespace {

// Control stream type 0x00, SETTINGS (0x04) with: QPACK_MAX_TABLE_CAPACITY (0x01) = 4096,
// ENABLE_CONNECT_PROTOCOL (0x08) = 1, H3_DATAGRAM (0x33) = 1, then a GOAWAY frame that must not matter.
const std::vector<std::uint8_t> kControlStream = {0x00, 0x04, 0x07, 0x01, 0x50, 0x00, 0x08, 0x01, 0x33, 0x01,
                                                  0x07, 0x01, 0x00};

TEST(ControlStreamSniffer, ReadsEnableConnectProtocolAndDatagramsFromSettings) {
  ControlStreamSniffer sniffer;
  EXPECT_TRUE(sniffer.feed(kControlStream));
  ASSERT_TRUE(sniffer.settings());
  EXPECT_TRUE(sniffer.settings()->extended_connect);
  EXPECT_TRUE(sniffer.settings()->h3_datagram);
}

TEST(ControlStreamSniffer, WaitsForTheWholeFrameFedByteByByte) {
  ControlStreamSniffer sniffer;
  for (std::size_t i = 0; i + 1 < 10; ++i) {
    EXPECT_FALSE(sniffer.feed(std::span(kControlStream).subspan(i, 1))) << "done early at byte " << i;
  }
  EXPECT_TRUE(sniffer.feed(std::span(kControlStream).subspan(9)));
  ASSERT_TRUE(sniffer.settings());
  EXPECT_TRUE(sniffer.settings()->extended_connect);
}

TEST(ControlStreamSniffer, AbsentOrZeroMeansDisabled) {
  ControlStreamSniffer sniffer;
  const std::vector<std::uint8_t> stream = {0x00, 0x04, 0x02, 0x08, 0x00};
  EXPECT_TRUE(sniffer.feed(stream));
  ASSERT_TRUE(sniffer.settings());
  EXPECT_FALSE(sniffer.settings()->extended_connect);
  EXPECT_FALSE(sniffer.settings()->h3_datagram);
}

TEST(ControlStreamSniffer, OtherStreamsAndFramesAreLeftToNghttp3) {
  ControlStreamSniffer qpack;
  EXPECT_TRUE(qpack.feed(std::vector<std::uint8_t>{0x02, 0x3f}));  // QPACK encoder stream
  EXPECT_FALSE(qpack.settings());
  ControlStreamSniffer no_settings;
  EXPECT_TRUE(no_settings.feed(std::vector<std::uint8_t>{0x00, 0x07, 0x01, 0x00}));  // GOAWAY first
  EXPECT_FALSE(no_settings.settings());
}

}  // namespace
}  // namespace quiver::h3
