#include "test_server/misbehave.hpp"

#include <string>

#include <nghttp3/nghttp3.h>

#include "test_server/raw_frames.hpp"

namespace quiver::server {
namespace {

using raw::Bytes;
using raw::FieldSection;
using Raw = ResponsePlan::Raw;

Raw on_request_stream(Bytes bytes) {
  Raw raw;
  raw.request_stream = std::move(bytes);
  return raw;
}

Raw on_new_uni_stream(Bytes bytes) {
  Raw raw;
  raw.uni_stream = std::move(bytes);
  return raw;
}

Raw on_qpack_encoder_stream(Bytes bytes) {
  Raw raw;
  raw.qpack_encoder = std::move(bytes);
  return raw;
}

Raw on_control_stream(Bytes bytes) {
  Raw raw;
  raw.control_stream = std::move(bytes);
  return raw;
}

Raw reset_control_stream() {
  Raw raw;
  raw.reset_control_stream = true;
  return raw;
}

constexpr std::uint64_t kMaxHugeKib = 64 * 1024;  // huge-headers: at most 64 MiB of field values in all

FieldSection status_200() { return std::move(FieldSection().indexed(raw::kStaticStatus200)); }

Raw data_before_headers() {
  Bytes bytes = raw::data_frame("early");
  raw::append(bytes, raw::headers_frame(status_200()));
  return on_request_stream(std::move(bytes));
}

Raw bad_status() {
  FieldSection fields;
  fields.name_ref(raw::kStaticStatus200, "abc");  // the name of ":status: 200", another value
  return on_request_stream(raw::headers_frame(fields));
}

Raw content_length_mismatch() {
  auto fields = status_200();
  fields.name_ref(raw::kStaticContentLength0, "10");
  Bytes bytes = raw::headers_frame(fields);
  raw::append(bytes, raw::data_frame("12345"));
  return on_request_stream(std::move(bytes));
}

Raw push_promise() {
  Bytes payload;
  raw::put_varint(payload, 0);  // push ID 0, above the maximum (none was ever allowed)
  FieldSection promised;
  promised.indexed(17).indexed(23).indexed(1).literal(":authority", "localhost");  // GET, https, /
  raw::append(payload, promised.bytes());
  Bytes bytes = raw::frame(raw::kPushPromise, payload);
  raw::append(bytes, raw::headers_frame(status_200()));
  return on_request_stream(std::move(bytes));
}

// `count` fields x-huge-<i> of `kib` KiB each: in the header section, or in trailers after the body.
Raw huge_headers(std::uint64_t kib, std::uint64_t count, bool in_trailers) {
  FieldSection huge = in_trailers ? FieldSection() : status_200();
  const std::string value(kib * 1024, 'h');
  for (std::uint64_t i = 0; i < count; ++i) huge.literal("x-huge-" + std::to_string(i), value);
  Bytes bytes = raw::headers_frame(in_trailers ? status_200() : huge);
  raw::append(bytes, raw::data_frame("ok"));
  if (in_trailers) raw::append(bytes, raw::headers_frame(huge));
  return on_request_stream(std::move(bytes));
}

Raw second_control_stream() {
  Bytes bytes;
  raw::put_varint(bytes, raw::kControlStream);
  raw::append(bytes, raw::frame(raw::kSettings, {}));
  return on_new_uni_stream(std::move(bytes));
}

Raw second_settings() { return on_control_stream(raw::frame(raw::kSettings, {})); }

Raw bad_qpack_instruction() {
  Bytes bytes;
  raw::put_prefixed_int(bytes, 0x20, 5, std::uint64_t{1} << 30);  // Set Dynamic Table Capacity: 1 GiB
  return on_qpack_encoder_stream(std::move(bytes));
}

ResponsePlan unknown_case() {
  ResponsePlan plan;
  plan.status = 400;
  return plan;
}

}  // namespace

ResponsePlan misbehave_route(RouteRequest&, std::string_view name, std::string_view query) {
  ResponsePlan plan;
  if (name == "data-before-headers") plan.raw = data_before_headers();
  else if (name == "bad-status") plan.raw = bad_status();
  else if (name == "content-length-mismatch") plan.raw = content_length_mismatch();
  else if (name == "push-promise") plan.raw = push_promise();
  else if (name == "second-control-stream") plan.raw = second_control_stream();
  else if (name == "control-stream-reset") plan.raw = reset_control_stream();
  else if (name == "second-settings") plan.raw = second_settings();
  else if (name == "bad-qpack-instruction") plan.raw = bad_qpack_instruction();
  else if (name == "huge-headers" || name == "huge-trailers") {
    auto kib = parse_number(query_param(query, "kb").value_or("1024"));
    auto count = parse_number(query_param(query, "fields").value_or("1"));
    if (!kib || !count || *kib == 0 || *count == 0 || *kib * *count > kMaxHugeKib) return unknown_case();
    plan.raw = huge_headers(*kib, *count, name == "huge-trailers");
  } else {
    return unknown_case();
  }
  return plan;
}

void write_raw_response(std::int64_t request_stream, Raw raw, ConnectionControl& control) {
  if (!raw.request_stream.empty()) control.write_raw(request_stream, std::move(raw.request_stream), true);
  if (!raw.uni_stream.empty()) {
    if (auto id = control.open_uni_stream()) control.write_raw(*id, std::move(raw.uni_stream), false);
  }
  if (!raw.qpack_encoder.empty()) control.write_raw(control.qpack_encoder_stream(), std::move(raw.qpack_encoder), false);
  if (!raw.control_stream.empty()) control.write_raw(control.control_stream(), std::move(raw.control_stream), false);
  if (raw.reset_control_stream) control.reset_stream_write(control.control_stream(), NGHTTP3_H3_NO_ERROR);
}

}  // namespace quiver::server
