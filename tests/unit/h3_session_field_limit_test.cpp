// The response header size limit (ConnectionOptions::max_response_header_bytes, RFC 9114 §4.2.2) in
// h3::H3Session, fed hand-written server bytes: advertised in SETTINGS, a section exactly at the limit
// passes, one byte over refuses that stream alone (H3_EXCESSIVE_LOAD both ways, flow-control credit
// returned, no response events), and nghttp3's own per-field cap, which no setting moves, is pinned.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "h3_session_fakes.hpp"

namespace quiver::h3::test {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// RFC 9114 §4.2.2 size of ":status: 200" plus `fields`.
std::uint64_t section_size(const Fields& fields) {
  std::uint64_t size = 7 + 3 + 32;
  for (const auto& [name, value] : fields) size += name.size() + value.size() + 32;
  return size;
}

raw::Bytes headers(const Fields& fields, bool with_status = true) {
  raw::FieldSection section;
  if (with_status) section.indexed(raw::kStaticStatus200);
  for (const auto& [name, value] : fields) section.literal(name, value);
  return raw::headers_frame(section);
}

// 200 with `fields`, the body "ok", then `trailer_fields` as trailers if any.
raw::Bytes response(const Fields& fields, const Fields& trailer_fields = {}) {
  raw::Bytes bytes = headers(fields);
  raw::append(bytes, raw::data_frame("ok"));
  if (!trailer_fields.empty()) raw::append(bytes, headers(trailer_fields, false));
  return bytes;
}

ConnectionOptions with_limit(std::uint64_t limit) {
  ConnectionOptions options;
  options.max_response_header_bytes = limit;
  return options;
}

const Fields kTwoFields{{"x-one", std::string(300, 'a')}, {"x-two", std::string(200, 'b')}};

// The stream was refused: the worker heard only that (and the size), and the stream is reset both ways
// with H3_EXCESSIVE_LOAD. Every byte is credited back, but body bytes delivered before the refusal: those
// are the consumer's to credit.
void expect_refused(const SessionUnderTest& s, std::int64_t stream_id, bool trailers, std::uint64_t bytes,
                    std::size_t bytes_received) {
  ASSERT_EQ(s.events.too_large.size(), 1u);
  EXPECT_EQ(s.events.too_large[0].stream_id, stream_id);
  EXPECT_EQ(s.events.too_large[0].trailers, trailers);
  EXPECT_EQ(s.events.too_large[0].bytes, bytes);
  EXPECT_EQ(s.events.trailers.count(stream_id), 0u);
  EXPECT_TRUE(std::ranges::find(s.events.ended, stream_id) == s.events.ended.end()) << "response end reported";
  EXPECT_TRUE(s.events.malformed.empty());
  EXPECT_EQ(s.transport.shutdowns, (std::vector<FakeTransport::Shutdown>{{stream_id, h3_code::excessive_load}}));
  auto delivered = s.events.body.find(stream_id);
  std::size_t consumer_owns = delivered == s.events.body.end() ? 0 : delivered->second.size();
  EXPECT_EQ(s.transport.credit.at(stream_id) + consumer_owns, bytes_received) << "flow-control credit lost";
}

// Our SETTINGS frame (on our control stream, 2): parameter id -> value.
std::map<std::uint64_t, std::uint64_t> advertised_settings(H3Session& session) {
  std::vector<std::uint8_t> control;
  for (int i = 0; i < 8; ++i) {
    quic::OutgoingData out;
    if (!session.next_outgoing(out) || out.stream_id < 0) break;
    std::size_t total = 0;
    for (const ngtcp2_vec& chunk : out.chunks) {
      if (out.stream_id == 2) control.insert(control.end(), chunk.base, chunk.base + chunk.len);
      total += chunk.len;
    }
    session.on_outgoing_accepted(out.stream_id, total);
  }
  std::size_t at = 0;
  auto varint = [&] {
    std::uint64_t value = control.at(at) & 0x3f;
    std::size_t length = std::size_t{1} << (control.at(at) >> 6);
    for (std::size_t i = 1; i < length; ++i) value = (value << 8) | control.at(at + i);
    at += length;
    return value;
  };
  std::map<std::uint64_t, std::uint64_t> settings;
  EXPECT_EQ(varint(), raw::kControlStream);
  EXPECT_EQ(varint(), raw::kSettings);
  const std::size_t end = varint() + at;
  while (at < end) {
    std::uint64_t id = varint();
    settings[id] = varint();
  }
  return settings;
}

constexpr std::uint64_t kMaxFieldSectionSize = 0x06;  // RFC 9114 §7.2.4.1

TEST(H3SessionFieldLimit, TheDefaultLimitIs64KiBAndIsAdvertised) {
  EXPECT_EQ(ConnectionOptions{}.max_response_header_bytes, 64u * 1024);
  SessionUnderTest s;
  EXPECT_EQ(advertised_settings(s.session)[kMaxFieldSectionSize], 64u * 1024);
}

TEST(H3SessionFieldLimit, AConfiguredLimitIsAdvertised) {
  SessionUnderTest s(with_limit(12345));
  EXPECT_EQ(advertised_settings(s.session)[kMaxFieldSectionSize], 12345u);
}

constexpr std::uint64_t kQpackMaxTableCapacity = 0x01;  // RFC 9204 §5
constexpr std::uint64_t kQpackBlockedStreams = 0x07;

TEST(H3SessionQpackSettings, TheDynamicTableIsOffByDefault) {
  SessionUnderTest s;
  auto settings = advertised_settings(s.session);
  EXPECT_EQ(settings.contains(kQpackMaxTableCapacity) ? settings[kQpackMaxTableCapacity] : 0, 0u);
  EXPECT_EQ(settings.contains(kQpackBlockedStreams) ? settings[kQpackBlockedStreams] : 0, 0u);
}

TEST(H3SessionQpackSettings, AConfiguredDynamicTableIsAdvertised) {
  ConnectionOptions options;
  options.qpack_table_capacity = 4096;
  options.qpack_blocked_streams = 100;
  SessionUnderTest s(options);
  auto settings = advertised_settings(s.session);
  EXPECT_EQ(settings[kQpackMaxTableCapacity], 4096u);
  EXPECT_EQ(settings[kQpackBlockedStreams], 100u);
}

TEST(H3SessionFieldLimit, AHeaderSectionExactlyAtTheLimitIsDelivered) {
  SessionUnderTest s(with_limit(section_size(kTwoFields)));
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  ASSERT_TRUE(s.session.on_stream_data(id, response(kTwoFields), true));
  ASSERT_EQ(s.events.headers.count(id), 1u);
  EXPECT_EQ(s.events.headers[id].first, 200);
  EXPECT_EQ(s.events.headers[id].second.get("x-two"), std::string(200, 'b'));
  EXPECT_EQ(s.events.body[id], "ok");
  EXPECT_EQ(s.events.ended, (std::vector<std::int64_t>{id}));
  EXPECT_TRUE(s.events.too_large.empty());
  EXPECT_TRUE(s.transport.shutdowns.empty());
}

TEST(H3SessionFieldLimit, AHeaderSectionOneByteOverTheLimitRefusesThatStreamOnly) {
  SessionUnderTest s(with_limit(section_size(kTwoFields) - 1));
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t big = s.submit_get();
  std::int64_t small = s.submit_get();
  raw::Bytes bytes = response(kTwoFields);
  ASSERT_TRUE(s.session.on_stream_data(big, bytes, true));  // a stream error, not a connection error
  expect_refused(s, big, false, section_size(kTwoFields), bytes.size());
  EXPECT_EQ(s.events.headers.count(big), 0u);
  EXPECT_EQ(s.events.body.count(big), 0u);

  ASSERT_TRUE(s.session.on_stream_data(small, response({{"x-one", "a"}}), true));
  ASSERT_EQ(s.events.headers.count(small), 1u);
  EXPECT_EQ(s.events.body[small], "ok");
  EXPECT_EQ(s.events.ended, (std::vector<std::int64_t>{small}));
}

// The field that crosses the limit is counted whole; the count stops there (the stream is refused).
TEST(H3SessionFieldLimit, TheReportedSizeIsTheSectionUpToTheFieldThatCrossedTheLimit) {
  SessionUnderTest s(with_limit(section_size({kTwoFields[0]})));
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  Fields three = kTwoFields;
  three.emplace_back("x-three", std::string(1000, 'c'));
  raw::Bytes bytes = response(three);
  ASSERT_TRUE(s.session.on_stream_data(id, bytes, true));
  expect_refused(s, id, false, section_size(kTwoFields), bytes.size());
}

TEST(H3SessionFieldLimit, ATrailerSectionOverTheLimitRefusesTheStreamAfterItsHeadersAndBody) {
  SessionUnderTest s(with_limit(500));
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  raw::Bytes bytes = response({{"x-one", "a"}}, kTwoFields);
  ASSERT_TRUE(s.session.on_stream_data(id, bytes, true));
  EXPECT_EQ(s.events.headers.count(id), 1u);
  EXPECT_EQ(s.events.body[id], "ok");
  // Trailers carry no :status: 42 bytes less than the same fields as a header section.
  expect_refused(s, id, true, section_size(kTwoFields) - 42, bytes.size());
}

// Each section has its own budget: headers and trailers each under the limit pass together.
TEST(H3SessionFieldLimit, HeadersAndTrailersAreLimitedSeparately) {
  SessionUnderTest s(with_limit(section_size(kTwoFields)));
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  ASSERT_TRUE(s.session.on_stream_data(id, response(kTwoFields, kTwoFields), true));
  EXPECT_EQ(s.events.trailers.count(id), 1u);
  EXPECT_EQ(s.events.ended, (std::vector<std::int64_t>{id}));
  EXPECT_TRUE(s.events.too_large.empty());
}

// A header section that waited for QPACK encoder instructions is decoded while the encoder stream is
// read; the refusal of its stream then happens there.
TEST(H3SessionFieldLimit, AQpackBlockedSectionOverTheLimitIsRefusedWhenTheEncoderStreamUnblocksIt) {
  ConnectionOptions options = with_limit(500);
  options.qpack_table_capacity = 4096;  // the dynamic table is off by default
  options.qpack_blocked_streams = 100;
  SessionUnderTest s(options);
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  // Required Insert Count 1 (encoded as 2, RFC 9204 §4.5.1.1), base 1; :status 200; dynamic entry 0.
  raw::Bytes section{0x02, 0x00, 0xc0 | raw::kStaticStatus200, 0x80};
  raw::Bytes bytes = raw::frame(raw::kHeaders, section);
  ASSERT_TRUE(s.session.on_stream_data(id, bytes, true));
  EXPECT_TRUE(s.events.too_large.empty()) << "decoded before its dynamic table entry arrived";

  raw::Bytes encoder{0x02};                      // stream type: QPACK encoder
  raw::put_prefixed_int(encoder, 0x20, 5, 4096);  // Set Dynamic Table Capacity (RFC 9204 §4.3.1)
  encoder.push_back(0x40 | 5);                    // Insert with Literal Name "x-big" (§4.3.3)
  encoder.insert(encoder.end(), {'x', '-', 'b', 'i', 'g'});
  raw::put_prefixed_int(encoder, 0x00, 7, 1000);
  encoder.insert(encoder.end(), 1000, 'v');
  ASSERT_TRUE(s.session.on_stream_data(7, encoder, false));
  expect_refused(s, id, false, 42 + 5 + 1000 + 32, bytes.size());
}

// A single field is limited like a whole section: 64 KiB of value is more than the default limit,
// but within what nghttp3's decoder takes, so only the stream is refused.
TEST(H3SessionFieldLimit, OneSixtyFourKiBFieldIsOverTheDefaultLimitAndRefusesTheStream) {
  SessionUnderTest s;
  ASSERT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  Fields one{{"x-huge", std::string(65536, 'h')}};
  raw::Bytes bytes = response(one);
  ASSERT_TRUE(s.session.on_stream_data(id, bytes, true));
  expect_refused(s, id, false, section_size(one), bytes.size());
}

// nghttp3 1.8's QPACK decoder takes a value of at most 65,536 bytes and a name of at most 256 bytes as
// sent, whatever max_field_section_size says; beyond that it fails the connection
// (ERR_QPACK_HEADER_TOO_LARGE -> H3_INTERNAL_ERROR) before any callback sees the field, and its
// decoder is unusable afterwards. These tests pin that (a newer nghttp3 may change it: update
// ConnectionOptions::max_response_header_bytes' comment, docs/api.md and docs/reliability.md).
struct FieldOutcome {
  bool delivered = false;
  std::uint64_t fatal_code = 0;
  std::string fatal_text;
};
FieldOutcome one_field(std::size_t name_size, std::size_t value_size) {
  SessionUnderTest s(with_limit(std::uint64_t{1} << 40));
  EXPECT_TRUE(s.open_server_control_stream());
  std::int64_t id = s.submit_get();
  FieldOutcome outcome;
  if (s.session.on_stream_data(id, response({{std::string(name_size, 'n'), std::string(value_size, 'v')}}), true)) {
    outcome.delivered = s.events.headers.count(id) == 1;
  } else {
    std::tie(outcome.fatal_code, outcome.fatal_text) = s.session.fatal_error();
  }
  return outcome;
}

TEST(H3SessionFieldLimit, NghttpDecoderTakesAValueOf65536BytesButNotOneMore) {
  EXPECT_TRUE(one_field(1, 65536).delivered);
  FieldOutcome over = one_field(1, 65537);
  EXPECT_FALSE(over.delivered);
  EXPECT_EQ(over.fatal_code, h3_code::internal_error) << over.fatal_text;
  EXPECT_NE(over.fatal_text.find("more than nghttp3's QPACK decoder accepts"), std::string::npos) << over.fatal_text;
}

TEST(H3SessionFieldLimit, NghttpDecoderTakesANameOf256BytesButNotOneMore) {
  EXPECT_TRUE(one_field(256, 1).delivered);
  FieldOutcome over = one_field(257, 1);
  EXPECT_FALSE(over.delivered);
  EXPECT_EQ(over.fatal_code, h3_code::internal_error) << over.fatal_text;
}

}  // namespace
}  // namespace quiver::h3::test
