#include <algorithm>
#include "test_server/routes.hpp"

#include "test_server/httpbin_routes.hpp"
#include "test_server/misbehave.hpp"
#include "util/varint.hpp"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace quiver::server {
namespace {

using std::chrono::milliseconds;

constexpr std::uint64_t kMaxBodyBytes = std::uint64_t{1} << 34;      // 16 GiB, generated lazily
constexpr std::uint64_t kMaxChunkSize = std::uint64_t{64} << 20;     // 64 MiB
constexpr std::uint64_t kMaxChunks = 1'000'000;
constexpr std::uint64_t kMaxDelayMs = 600'000;                       // 10 minutes
constexpr std::uint64_t kDefaultUploadRate = 10'000'000;               // bytes per second

ResponsePlan bad_request(std::string_view what) {
  return text_response(400, fmt::format("bad request: {}\n", what));
}

std::uint64_t fnv1a(std::string_view data) {
  return server::fnv1a({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
}

// A numeric query parameter within [0, max]; `fallback` when absent. nullopt when malformed.
std::optional<std::uint64_t> numeric_param(std::string_view query, std::string_view name,
                                           std::uint64_t fallback, std::uint64_t max) {
  auto raw = query_param(query, name);
  if (!raw) return fallback;
  auto value = parse_number(*raw);
  if (!value || *value > max) return std::nullopt;
  return value;
}

// ---- route handlers: (request, path argument, query) -> plan ----------------------------------------

ResponsePlan bytes_route(RouteRequest&, std::string_view arg, std::string_view) {
  auto n = parse_number(arg);
  if (!n || *n > kMaxBodyBytes) return bad_request("byte count");
  ResponsePlan plan;
  plan.headers = {{"content-type", "application/octet-stream"}, {"content-length", std::to_string(*n)}};
  if (*n > 0) plan.body = make_pattern_body(1, *n);
  return plan;
}

ResponsePlan echo_route(RouteRequest& request, std::string_view, std::string_view) {
  ResponsePlan plan;
  for (const auto& field : request.fields) {
    if (field.name.starts_with(':')) continue;
    plan.headers.push_back({"x-echo-" + field.name, field.value});
    if (field.name == "content-type") plan.headers.push_back(field);
  }
  plan.headers.push_back({"content-length", std::to_string(request.body.size())});
  if (!request.body.empty()) plan.body = make_string_body(std::move(request.body));
  return plan;
}

bool early(std::string_view query) { return query_param(query, "early") == "1"; }

ResponsePlan status_route(RouteRequest&, std::string_view arg, std::string_view query) {
  auto code = parse_number(arg);
  if (!code || *code < 200 || *code > 599) return bad_request("status must be 200..599");
  auto status = static_cast<int>(*code);
  ResponsePlan plan;
  if (status == 204 || status == 205 || status == 304) {
    plan.status = status;
  } else {
    plan = text_response(status, fmt::format("status {}\n", status));
  }
  // Routed at the headers: the body is not needed. keep_reading=1: the upload is read (and dropped) anyway.
  plan.stop_reading = early(query) && query_param(query, "keep_reading") != "1";
  return plan;
}

ResponsePlan headers_route(RouteRequest& request, std::string_view, std::string_view) {
  auto object = nlohmann::json::object();
  for (const auto& field : request.fields) object[field.name] = field.value;  // last one wins
  auto body = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto plan = text_response(200, std::move(body));
  plan.headers[0].value = "application/json";
  return plan;
}

ResponsePlan delay_route(RouteRequest&, std::string_view arg, std::string_view) {
  auto ms = parse_number(arg);
  if (!ms || *ms > kMaxDelayMs) return bad_request("delay in milliseconds");
  auto plan = text_response(200, "delayed");
  plan.delay = milliseconds(*ms);
  return plan;
}

ResponsePlan trailers_route(RouteRequest&, std::string_view, std::string_view) {
  static constexpr std::string_view body = "hello trailers";
  auto plan = text_response(200, std::string(body));
  plan.trailers = {{"x-trailer-one", "1"}, {"x-checksum", fmt::format("fnv1a-{:016x}", fnv1a(body))}};
  return plan;
}

ResponsePlan reset_route(RouteRequest&, std::string_view arg, std::string_view query) {
  auto code = parse_number(arg, /*allow_hex=*/true);
  if (!code || *code > util::kMaxVarint) return bad_request("reset code");
  ResponsePlan plan;
  plan.reset = ResponsePlan::Reset{*code, std::nullopt};
  if (auto raw = query_param(query, "after")) {
    auto after = parse_number(*raw);
    if (!after || *after > kMaxBodyBytes) return bad_request("after");
    plan.reset->after_bytes = *after;
    plan.headers = {{"content-type", "application/octet-stream"}};
    plan.body = make_pattern_body(1, *after, {}, /*hold_at_end=*/true);
  }
  return plan;
}

ResponsePlan close_route(RouteRequest&, std::string_view arg, std::string_view) {
  auto code = parse_number(arg, /*allow_hex=*/true);
  if (!code || *code > util::kMaxVarint) return bad_request("close code");
  ResponsePlan plan;
  plan.close_connection = *code;
  return plan;
}

ResponsePlan stream_route(RouteRequest&, std::string_view arg, std::string_view query) {
  auto chunks = parse_number(arg);
  auto size = numeric_param(query, "size", 1024, kMaxChunkSize);
  auto delay = numeric_param(query, "delay_ms", 0, kMaxDelayMs);
  if (!chunks || *chunks > kMaxChunks) return bad_request("chunk count");
  if (!size || !delay) return bad_request("size or delay_ms");
  if (*chunks * *size > kMaxBodyBytes) return bad_request("body too large");
  ResponsePlan plan;
  plan.headers = {{"content-type", "application/octet-stream"}};
  plan.body = make_pattern_body(*chunks, *size, milliseconds(*delay));
  return plan;
}

ResponsePlan goaway_route(RouteRequest&, std::string_view, std::string_view query) {
  auto delay = numeric_param(query, "delay_ms", 0, kMaxDelayMs);
  if (!delay) return bad_request("delay_ms");
  auto plan = text_response(200, "goaway sent");
  plan.goaway_after = milliseconds(*delay);
  return plan;
}

// Hashes the upload and answers with its size and hash.
class HashingSink final : public BodySink {
 public:
  void write(std::span<const std::uint8_t> bytes) override {
    hash_ = server::fnv1a(bytes, hash_);
    size_ += bytes.size();
  }
  ResponsePlan finish() override {
    return text_response(200, fmt::format("received {} bytes fnv1a-{:016x}", size_, hash_));
  }

 private:
  std::uint64_t hash_ = kFnv1aBasis, size_ = 0;
};

ResponsePlan slow_upload_route(RouteRequest&, std::string_view, std::string_view query) {
  auto rate = numeric_param(query, "rate", kDefaultUploadRate, kMaxBodyBytes);
  if (!rate || *rate == 0) return bad_request("rate in bytes per second (> 0)");
  ResponsePlan plan;
  plan.upload = ResponsePlan::Upload{*rate, std::make_unique<HashingSink>()};
  return plan;
}

ResponsePlan datagram_echo_route(RouteRequest& request, std::string_view, std::string_view) {
  bool has_protocol = std::ranges::any_of(request.fields, [](const Field& f) { return f.name == ":protocol"; });
  if (request.method != "CONNECT" || !has_protocol) {
    return text_response(400, "/datagram-echo takes an extended CONNECT (RFC 9220) with a :protocol\n");
  }
  ResponsePlan plan;
  plan.tunnel = true;
  return plan;
}

// HOST/PORT/ of a CONNECT-UDP path (RFC 9298 §2: the default template's variables), HOST percent-decoded.
std::optional<UdpTarget> udp_target(std::string_view arg) {
  if (arg.ends_with('/')) arg.remove_suffix(1);
  auto slash = arg.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  auto port = parse_number(arg.substr(slash + 1));
  if (!port || *port == 0 || *port > 65535) return std::nullopt;
  std::string host;
  for (std::size_t i = 0; i < slash; ++i) {
    if (arg[i] != '%') {
      host += arg[i];
      continue;
    }
    unsigned byte = 0;
    auto hex = arg.substr(i + 1, 2);
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), byte, 16);
    if (hex.size() != 2 || ec != std::errc{} || end != hex.data() + 2) return std::nullopt;
    host += static_cast<char>(byte);
    i += 2;
  }
  return UdpTarget{std::move(host), static_cast<std::uint16_t>(*port)};
}

ResponsePlan connect_udp_route(RouteRequest& request, std::string_view arg, std::string_view query) {
  bool connect_udp = std::ranges::any_of(
      request.fields, [](const Field& f) { return f.name == ":protocol" && f.value == "connect-udp"; });
  if (request.method != "CONNECT" || !connect_udp) {
    return text_response(400, "/.well-known/masque/udp/ takes an extended CONNECT with :protocol connect-udp (RFC 9298)\n");
  }
  auto target = udp_target(arg);
  if (!target) return bad_request("/.well-known/masque/udp/HOST/PORT/ (HOST percent-encoded, PORT 1..65535)");
  ResponsePlan plan;
  plan.headers.push_back({"capsule-protocol", "?1"});
  plan.connect_udp = std::move(*target);
  auto capsules = query_param(query, "capsules");
  plan.capsule_answers = capsules == "1"           ? ResponsePlan::CapsuleAnswers::valid
                         : capsules == "malformed" ? ResponsePlan::CapsuleAnswers::malformed
                                                   : ResponsePlan::CapsuleAnswers::none;
  return plan;
}

// ---- the table -----------------------------------------------------------------------------------

constexpr RouteTraits kAtEnd{}, kKeepsBody{.wants_body = true}, kAtHeaders{.before_body = true};

RouteTraits at_end(std::string_view) { return kAtEnd; }
RouteTraits keeps_body(std::string_view) { return kKeepsBody; }
RouteTraits at_headers(std::string_view) { return kAtHeaders; }
RouteTraits at_headers_if_early(std::string_view query) { return early(query) ? kAtHeaders : kAtEnd; }

struct Route {
  std::string_view path;  // exact path, or prefix before "/ARG" when takes_arg
  bool takes_arg;
  RouteTraits (*traits)(std::string_view query);
  ResponsePlan (*handler)(RouteRequest&, std::string_view arg, std::string_view query);
};

constexpr Route kRoutes[] = {
    {"/bytes", true, at_end, bytes_route},          {"/echo", false, keeps_body, echo_route},
    {"/status", true, at_headers_if_early, status_route},
    {"/headers", false, at_end, headers_route},     {"/delay", true, at_end, delay_route},
    {"/trailers", false, at_end, trailers_route},   {"/reset", true, at_headers, reset_route},
    {"/close", true, at_headers, close_route},      {"/stream", true, at_end, stream_route},
    {"/goaway", false, at_end, goaway_route},       {"/slow-upload", false, at_headers, slow_upload_route},
    {"/misbehave", true, at_end, misbehave_route},  {"/datagram-echo", false, at_headers, datagram_echo_route},
    {"/.well-known/masque/udp", true, at_headers, connect_udp_route},
};

struct Match {
  const Route* route = nullptr;
  std::string_view arg, query;
};

Match match(std::string_view target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  for (const auto& route : kRoutes) {
    if (!path.starts_with(route.path)) continue;
    auto rest = path.substr(route.path.size());
    if (!route.takes_arg && rest.empty()) return {&route, {}, query};
    if (route.takes_arg && rest.size() > 1 && rest[0] == '/') return {&route, rest.substr(1), query};
  }
  return {};
}

}  // namespace

ResponsePlan text_response(int status, std::string body) {
  ResponsePlan plan;
  plan.status = status;
  plan.headers = {{"content-type", "text/plain; charset=utf-8"},
                  {"content-length", std::to_string(body.size())}};
  if (!body.empty()) plan.body = make_string_body(std::move(body));
  return plan;
}

std::optional<std::uint64_t> parse_number(std::string_view text, bool allow_hex) {
  int base = 10;
  if (allow_hex && text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::uint64_t fnv1a(std::span<const std::uint8_t> data, std::uint64_t hash) noexcept {
  for (std::uint8_t c : data) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

RouteTraits route_traits(std::string_view target) {
  auto m = match(target);
  if (m.route) return m.route->traits(m.query);
  return httpbin_traits(target).value_or(RouteTraits{});
}

ResponsePlan route(RouteRequest&& request) {
  if (request.method == "CONNECT" && request.target.empty()) {  // a plain CONNECT: no :path (RFC 9114 §4.4)
    return text_response(400, "this server is not a CONNECT proxy; /datagram-echo takes an extended CONNECT\n");
  }
  auto m = match(request.target);
  if (m.route) return m.route->handler(request, m.arg, m.query);
  if (auto plan = httpbin_route(request)) return std::move(*plan);
  return text_response(404, fmt::format("not found: {}\n", request.target));
}

}  // namespace quiver::server
