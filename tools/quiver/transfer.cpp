#include "transfer.hpp"

#include <charconv>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t upload_chunk_size = 16 * 1024;

std::optional<std::uint64_t> content_length(const Headers& headers) {
  auto value = headers.get("content-length");
  if (!value) return std::nullopt;
  std::uint64_t length = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), length);
  if (ec != std::errc() || end != value->data() + value->size()) return std::nullopt;
  return length;
}

// Under the progress bar the upload is counted as the library takes it: the body becomes a producer,
// with the content-length the bytes body would have had.
void count_upload(Request& request, TransferCounters& counters) {
  if (request.body.kind() != RequestBody::Kind::bytes) return;
  std::string bytes = std::move(request.body).take_bytes();
  counters.upload_expected += bytes.size();
  if (!request.headers.contains("content-length")) request.headers.add("content-length", std::to_string(bytes.size()));
  request.body = counting_body(std::move(bytes), counters.uploaded);
}

void expect_download(TransferCounters& counters, const Headers& headers) {
  if (auto length = content_length(headers)) {
    counters.download_expected += *length;
  } else {
    ++counters.unknown_sizes;
  }
}

// Reads the body to its end into `writer`, counting its bytes into `received`.
std::optional<Failure> copy_body(const TransferContext& context, ResponseStream& stream, BodyWriter& writer,
                                 std::uint64_t& received) {
  for (;;) {
    auto chunk = stream.next_chunk(chunk_size);
    if (!chunk) return failure_from(chunk.error());
    if (!*chunk) return std::nullopt;
    if (auto failure = writer.write(**chunk)) return failure;
    context.counters.downloaded += (*chunk)->size();
    received += (*chunk)->size();
  }
}

// -w: what the response said, once it is over (the timings' total is known then).
void note_response(TransferReport* report, const ResponseStream& stream, std::uint64_t received) {
  if (!report) return;
  report->http_code = stream.status();
  report->content_type = std::string(stream.headers().get("content-type").value_or(""));
  report->size_download = received;
  report->transfer = stream.transfer();
}

}  // namespace

RequestBody counting_body(std::string bytes, std::atomic<std::uint64_t>& uploaded) {
  auto data = std::make_shared<const std::string>(std::move(bytes));
  auto offset = std::make_shared<std::size_t>(0);  // the producer is called on one io thread at a time
  return RequestBody::from_producer([data, offset, &uploaded]() -> std::optional<std::string> {
    if (*offset >= data->size()) return std::nullopt;
    std::string chunk = data->substr(*offset, upload_chunk_size);
    *offset += chunk.size();
    uploaded += chunk.size();
    return chunk;
  });
}

std::optional<Failure> run_transfer(const TransferContext& context, PreparedRequest prepared, BodyWriter& writer,
                                    TransferReport* report) {
  Request& request = prepared.request;
  const std::string url = request.url.to_string();
  const std::string method = request.method, target = request.url.target();
  // A counted upload is a producer, which a 307/308 could not send again: not counted with -L.
  if (context.count_upload && !context.options.location) count_upload(request, context.counters);

  auto stream = context.client.stream(std::move(request));
  if (!stream) return failure_from(stream.error());
  if (context.verbose) context.verbose->show_head(method, target, stream->status(), stream->headers(),
                                                   stream->transfer().http_version,
                                                   stream->transfer().protocol_choice);
  std::uint64_t received = 0;
  if (auto failure = http_failure(stream->status(), url, context.options.fail)) {
    stream->cancel();  // nothing of an error body is wanted
    note_response(report, *stream, received);
    return failure;
  }
  expect_download(context.counters, stream->headers());
  if (auto failure = writer.begin(stream->status(), stream->headers(), stream->transfer().http_version)) return failure;
  auto copied = copy_body(context, *stream, writer, received);
  note_response(report, *stream, received);
  if (copied) {
    writer.finish();
    return copied;
  }
  if (context.verbose) {
    for (const Header& field : stream->trailers()) context.console.line(fmt::format("< {}: {} (trailer)", field.name, field.value));
  }
  return writer.finish();
}

}  // namespace quiver::cli
