#include "transfer.hpp"

#include <charconv>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t upload_chunk_size = 16 * 1024;

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

std::optional<std::uint64_t> content_length(const Headers& headers) {
  auto value = headers.get("content-length");
  return value ? parse_number(*value) : std::nullopt;
}

// "bytes 100-199/1000" -> 100.
std::optional<std::uint64_t> content_range_start(const Headers& headers) {
  auto value = headers.get("content-range");
  if (!value || !value->starts_with("bytes ")) return std::nullopt;
  std::string_view range = value->substr(6);
  return parse_number(range.substr(0, range.find('-')));
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

// Every set-cookie of the response into the jar; a refused one is told under -v, as curl does.
void keep_cookies(const TransferContext& context, const Url& url, const Headers& headers) {
  if (context.cookies == nullptr) return;
  for (std::string_view field : headers.get_all("set-cookie")) {
    auto refused = context.cookies->receive(url, field);
    if (refused && context.verbose) context.console.line(fmt::format("* Cookie refused: {}", *refused));
  }
}

// -C: whether the response continues the file at `offset`. Unset: it does (write the body); `done`:
// the file is already complete (write nothing); otherwise the failure (exit 33), as libcurl decides.
struct ResumeVerdict {
  bool done = false;
  std::optional<Failure> failure;
};
ResumeVerdict check_resume(int status, const Headers& headers, std::uint64_t offset, const std::string& url) {
  if (status == 206 && content_range_start(headers) == offset) return {};
  if (content_length(headers) == offset) return {true, std::nullopt};
  return {false, Failure{exit_code::range_error, "range_error",
                         fmt::format("the server did not resume {} at byte {} (status {}); cannot resume", url,
                                     offset, status)}};
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

AttemptOutcome run_transfer(const TransferContext& context, Request request, BodyWriter& writer,
                            std::uint64_t resume_from, TransferReport* report) {
  const Url request_url = request.url;
  const std::string url = request.url.to_string();
  const std::string method = request.method, target = request.url.target();
  // A counted upload is a producer, which a 307/308 could not send again: not counted with -L.
  if (context.count_upload && !context.options.location) count_upload(request, context.counters);

  AttemptOutcome outcome;
  auto stream = context.client.stream(std::move(request));
  if (!stream) {
    outcome.failure = failure_from(stream.error());
    outcome.refused = is_connection_refused(stream.error());
    return outcome;
  }
  std::uint64_t received = 0;
  // Every way out once the head arrived: -w's report is taken as the attempt ends.
  auto ended = [&](std::optional<Failure> failure) {
    note_response(report, *stream, received);
    outcome.failure = std::move(failure);
    return outcome;
  };
  outcome.status = stream->status();
  const Headers& headers = stream->headers();
  if (auto retry_after = headers.get("retry-after")) outcome.retry_after = parse_retry_after(*retry_after);
  if (context.verbose) {
    context.verbose->show_head(method, target, stream->status(), headers, stream->transfer().http_version,
                               stream->transfer().protocol_choice);
  }
  keep_cookies(context, request_url, headers);
  if (context.header_dump) {
    if (auto failure = context.header_dump->write(stream->status(), headers)) return ended(std::move(failure));
  }
  if (resume_from > 0 && stream->status() == 416) {
    // libcurl: a resumed download answered "Range Not Satisfiable" is complete (even with -f).
    stream->cancel();
    if (context.verbose) context.console.line("* The entire document is already downloaded (416)");
    return ended(std::nullopt);
  }
  if (auto failure = http_failure(stream->status(), url, context.options.fail)) {
    stream->cancel();  // nothing of an error body is wanted
    return ended(std::move(failure));
  }
  if (resume_from > 0 && method != "HEAD") {
    ResumeVerdict verdict = check_resume(stream->status(), headers, resume_from, url);
    if (verdict.done || verdict.failure) {
      stream->cancel();
      if (verdict.done && context.verbose) context.console.line("* The entire document is already downloaded");
      return ended(std::move(verdict.failure));
    }
  }
  expect_download(context.counters, headers);
  if (auto failure = writer.begin(stream->status(), headers, stream->transfer().http_version)) {
    return ended(std::move(failure));
  }
  if (auto failure = copy_body(context, *stream, writer, received)) {
    writer.finish();
    return ended(std::move(failure));
  }
  if (context.verbose) {
    for (const Header& field : stream->trailers()) context.console.line(fmt::format("< {}: {} (trailer)", field.name, field.value));
  }
  std::optional<Failure> finished = writer.finish();
  return ended(std::move(finished));
}

}  // namespace quiver::cli
