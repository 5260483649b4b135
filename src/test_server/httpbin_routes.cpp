// httpbin's everyday routes; what each does is listed in httpbin_routes.hpp.
#include "test_server/httpbin_routes.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nlohmann/json.hpp>
#include <uriparser/Uri.h>

#include "test_server/compression.hpp"

namespace quiver::server {
namespace {

using nlohmann::json;
using Pairs = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint64_t kMaxRangeBytes = 100 * 1024;         // httpbin's limit for /range
constexpr std::uint64_t kMaxDripBytes = 10 * 1024 * 1024;    // httpbin's limit for /drip
constexpr double kMaxDripSeconds = 600;                      // /drip's duration and delay, each
constexpr std::string_view kBase64Hint = "Incorrect Base64 data try: SFRUUEJJTiBpcyBhd2Vzb21l";

// ---- request helpers -------------------------------------------------------------------------------

struct Target {
  std::string_view path, query;
};

Target split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) ==
                                                              std::tolower(static_cast<unsigned char>(y)); });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The first value of the request field `name` (lowercase), if any.
std::optional<std::string_view> field(const RouteRequest& request, std::string_view name) {
  for (const auto& f : request.fields)
    if (f.name == name) return f.value;
  return std::nullopt;
}

// "user-agent" -> "User-Agent", as httpbin (werkzeug) names request fields.
std::string title_case(std::string_view name) {
  std::string out(name);
  bool start = true;
  for (auto& c : out) {
    c = static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c)) : c);
    start = c == '-';
  }
  return out;
}

// A form-urlencoded string's pairs, percent-decoded with '+' as a space (uriparser). Empty if malformed.
Pairs decode_pairs(std::string_view encoded) {
  Pairs pairs;
  if (encoded.empty()) return pairs;
  UriQueryListA* list = nullptr;
  if (uriDissectQueryMallocExA(&list, nullptr, encoded.data(), encoded.data() + encoded.size(), URI_TRUE,
                               URI_BR_DONT_TOUCH) != URI_SUCCESS)
    return pairs;
  std::unique_ptr<UriQueryListA, void (*)(UriQueryListA*)> owned(list, uriFreeQueryListA);
  for (const auto* item = list; item; item = item->next)
    pairs.emplace_back(item->key ? item->key : "", item->value ? item->value : "");
  return pairs;
}

// Base64 (standard alphabet, padded) decoded by GnuTLS; nullopt if it is not base64.
std::optional<std::string> base64_decode(std::string_view encoded) {
  gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(encoded.data())),
                    static_cast<unsigned>(encoded.size())};
  gnutls_datum_t out{nullptr, 0};
  if (encoded.empty() || gnutls_base64_decode2(&in, &out) < 0) return std::nullopt;
  std::string decoded(reinterpret_cast<const char*>(out.data), out.size);
  gnutls_free(out.data);
  return decoded;
}

std::string base64_encode(std::string_view bytes) {
  gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data())),
                    static_cast<unsigned>(bytes.size())};
  gnutls_datum_t out{nullptr, 0};
  if (gnutls_base64_encode2(&in, &out) < 0) return {};
  std::string encoded(reinterpret_cast<const char*>(out.data), out.size);
  gnutls_free(out.data);
  return encoded;
}

// nlohmann's strict UTF-8 check: only text that is valid UTF-8 goes into JSON as it is.
bool valid_utf8(std::string_view text) {
  try {
    (void)json(text).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// A field value that can go into a response as it is (RFC 9110 §5.5: no CR, LF or NUL).
bool valid_field_value(std::string_view value) { return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

// A field name that can go into a response (RFC 9110 token; lowercase is applied by the caller).
bool valid_field_name(std::string_view name) {
  static constexpr std::string_view kTokenExtra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kTokenExtra.find(c) != std::string_view::npos;
  });
}

// A random version 4 UUID (RFC 9562), from GnuTLS's generator.
std::string uuid4() {
  std::array<std::uint8_t, 16> b{};
  gnutls_rnd(GNUTLS_RND_NONCE, b.data(), b.size());
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

// RFC 9110 §5.6.7 IMF-fixdate.
std::string http_date(std::chrono::system_clock::time_point when) {
  return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT", fmt::gmtime(std::chrono::system_clock::to_time_t(when)));
}

std::optional<double> parse_seconds(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || value < 0 ||
      value > kMaxDripSeconds)
    return std::nullopt;
  return value;
}

// ---- JSON pieces as httpbin shapes them ----------------------------------------------------------

// werkzeug's MultiDict as httpbin prints it: one value as a string, several as a list.
json multi_dict(const Pairs& pairs) {
  auto object = json::object();
  for (const auto& [key, value] : pairs) {
    auto it = object.find(key);
    if (it == object.end()) {
      object[key] = value;
    } else {
      if (!it->is_array()) *it = json::array({*it});
      it->push_back(value);
    }
  }
  return object;
}

// The request fields, Title-Case, Host from :authority; repeated fields joined (cookies with "; ").
json headers_object(const RouteRequest& request) {
  auto object = json::object();
  if (!request.authority.empty()) object["Host"] = request.authority;
  for (const auto& f : request.fields) {
    if (f.name.starts_with(':')) continue;
    auto name = title_case(f.name);
    if (auto it = object.find(name); it != object.end()) {
      *it = it->get<std::string>() + (f.name == "cookie" ? "; " : ",") + f.value;
    } else {
      object[name] = f.value;
    }
  }
  return object;
}

std::string request_url(const RouteRequest& request) {
  return fmt::format("{}://{}{}", request.scheme.empty() ? "https" : request.scheme, request.authority, request.target);
}

// /get's object: args, headers, origin, url.
json get_object(const RouteRequest& request) {
  return {{"args", multi_dict(decode_pairs(split_target(request.target).query))},
          {"headers", headers_object(request)},
          {"origin", request.peer},
          {"url", request_url(request)}};
}

// /post's object: /get's plus the body as data (text, or a base64 data URL), form (urlencoded only),
// files (always empty) and json (the body parsed, or null).
json body_object(const RouteRequest& request) {
  auto object = get_object(request);
  const auto type = field(request, "content-type").value_or("");
  const bool form = type.size() >= 33 && iequals(type.substr(0, 33), "application/x-www-form-urlencoded");
  object["form"] = form ? multi_dict(decode_pairs(request.body)) : json::object();
  object["files"] = json::object();
  if (form) {
    object["data"] = "";
  } else if (valid_utf8(request.body)) {
    object["data"] = request.body;
  } else {
    object["data"] = "data:application/octet-stream;base64," + base64_encode(request.body);
  }
  auto parsed = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  object["json"] = parsed.is_discarded() ? json(nullptr) : std::move(parsed);
  return object;
}

// ---- responses ---------------------------------------------------------------------------------------

ResponsePlan with_body(int status, std::string type, std::string body, std::vector<Field> extra = {}) {
  ResponsePlan plan;
  plan.status = status;
  plan.headers = {{"content-type", std::move(type)}, {"content-length", std::to_string(body.size())}};
  for (auto& f : extra) plan.headers.push_back(std::move(f));
  if (!body.empty()) plan.body = make_string_body(std::move(body));
  return plan;
}

std::string dump(const json& value) { return value.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

ResponsePlan json_response(const json& value, std::vector<Field> extra = {}, int status = 200) {
  return with_body(status, "application/json", dump(value), std::move(extra));
}

// No body and no content (304, 401, 412, 416).
ResponsePlan empty_response(int status, std::vector<Field> fields = {}) {
  ResponsePlan plan;
  plan.status = status;
  plan.headers = std::move(fields);
  if (status != 304) plan.headers.push_back({"content-length", "0"});
  return plan;
}

// Flask's redirect(): 302, location, and its small HTML page.
ResponsePlan redirect_response(std::string location, std::vector<Field> extra) {
  auto body = fmt::format(
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<title>Redirecting...</title>\n"
      "<h1>Redirecting...</h1>\n<p>You should be redirected automatically to target URL: "
      "<a href=\"{0}\">{0}</a>.  If not click the link.",
      location);
  extra.push_back({"location", std::move(location)});
  return with_body(302, "text/html; charset=utf-8", std::move(body), std::move(extra));
}

// ---- route handlers: (request, path argument, query) -> plan ----------------------------------------

ResponsePlan get_route(RouteRequest& request, std::string_view, std::string_view) {
  return json_response(get_object(request));
}

ResponsePlan method_route(RouteRequest& request, std::string_view, std::string_view) {
  return json_response(body_object(request));
}

ResponsePlan anything_route(RouteRequest& request, std::string_view, std::string_view) {
  auto object = body_object(request);
  object["method"] = request.method;
  return json_response(object);
}

// Each pair as a response field; the body is the JSON of the response's fields, content-length
// included, settled by re-dumping until it no longer changes length (as httpbin does).
ResponsePlan response_headers_route(RouteRequest&, std::string_view, std::string_view query) {
  auto pairs = decode_pairs(query);
  std::erase_if(pairs, [](const auto& pair) { return iequals(pair.first, "content-length"); });
  const bool own_type = std::ranges::any_of(pairs, [](const auto& pair) { return iequals(pair.first, "content-type"); });
  Pairs shown;
  std::vector<Field> fields;
  if (!own_type) {
    shown.emplace_back("Content-Type", "application/json");
    fields.push_back({"content-type", "application/json"});
  }
  for (const auto& [name, value] : pairs) {
    if (!valid_field_name(name) || !valid_field_value(value)) return text_response(400, "bad request: field name or value\n");
    shown.emplace_back(name, value);
    fields.push_back({lowercase(name), value});
  }
  auto object = multi_dict(shown);
  std::string body;
  for (std::size_t length = 0;;) {
    object["Content-Length"] = std::to_string(length);
    body = dump(object);
    if (body.size() == length) break;
    length = body.size();
  }
  fields.push_back({"content-length", std::to_string(body.size())});
  ResponsePlan plan;
  plan.headers = std::move(fields);
  plan.body = make_string_body(std::move(body));
  return plan;
}

// Every pair of every Cookie field ("a=1; b=2").
ResponsePlan cookies_route(RouteRequest& request, std::string_view, std::string_view) {
  auto cookies = json::object();
  for (const auto& f : request.fields) {
    if (f.name != "cookie") continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      cookies[std::string(trim(pair.substr(0, eq)))] = eq == std::string_view::npos ? "" : std::string(trim(pair.substr(eq + 1)));
    }
  }
  return json_response({{"cookies", cookies}});
}

bool valid_cookie(std::string_view name, std::string_view value) {
  return valid_field_name(name) && valid_field_value(value) && value.find(';') == std::string_view::npos;
}

ResponsePlan set_cookies(const Pairs& cookies) {
  std::vector<Field> fields;
  for (const auto& [name, value] : cookies) {
    if (!valid_cookie(name, value)) return text_response(400, "bad request: cookie name or value\n");
    fields.push_back({"set-cookie", fmt::format("{}={}; Path=/", name, value)});
  }
  return redirect_response("/cookies", std::move(fields));
}

// /cookies/set?k=v&... or /cookies/set/NAME/VALUE
ResponsePlan cookies_set_route(RouteRequest&, std::string_view arg, std::string_view query) {
  if (arg.empty()) return set_cookies(decode_pairs(query));
  auto slash = arg.find('/');
  if (slash == std::string_view::npos) return text_response(404, "not found\n");
  return set_cookies({{std::string(arg.substr(0, slash)), std::string(arg.substr(slash + 1))}});
}

ResponsePlan cookies_delete_route(RouteRequest&, std::string_view, std::string_view query) {
  std::vector<Field> fields;
  for (const auto& [name, value] : decode_pairs(query)) {
    if (!valid_cookie(name, "")) return text_response(400, "bad request: cookie name\n");
    fields.push_back({"set-cookie", fmt::format("{}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/", name)});
  }
  return redirect_response("/cookies", std::move(fields));
}

// The credentials of an `Authorization: Basic` field, decoded ("user:password").
std::optional<std::string> basic_credentials(const RouteRequest& request) {
  auto authorization = field(request, "authorization");
  if (!authorization) return std::nullopt;
  auto value = trim(*authorization);
  auto space = value.find(' ');
  if (space == std::string_view::npos || !iequals(value.substr(0, space), "basic")) return std::nullopt;
  return base64_decode(trim(value.substr(space + 1)));
}

ResponsePlan basic_auth_route(RouteRequest& request, std::string_view arg, std::string_view) {
  auto slash = arg.find('/');
  if (slash == std::string_view::npos || arg.find('/', slash + 1) != std::string_view::npos)
    return text_response(404, "not found\n");
  const auto user = arg.substr(0, slash), password = arg.substr(slash + 1);
  if (basic_credentials(request) != fmt::format("{}:{}", user, password))
    return empty_response(401, {{"www-authenticate", "Basic realm=\"Fake Realm\""}});
  return json_response({{"authenticated", true}, {"user", user}});
}

ResponsePlan bearer_route(RouteRequest& request, std::string_view, std::string_view) {
  constexpr std::string_view kScheme = "Bearer ";
  auto authorization = field(request, "authorization");
  if (!authorization || !authorization->starts_with(kScheme))
    return empty_response(401, {{"www-authenticate", "Bearer"}});
  return json_response({{"authenticated", true}, {"token", authorization->substr(kScheme.size())}});
}

// /range's body: pattern bytes [first, first + length), as /bytes would have them at those offsets.
class PatternRange final : public BodySource {
 public:
  PatternRange(std::uint64_t first, std::uint64_t length) : offset_(first), end_(first + length) {}

  Pull pull(std::size_t max, Clock::time_point) override {
    if (offset_ == end_) return Pull::end();
    auto view = pattern_view(offset_, static_cast<std::size_t>(std::min<std::uint64_t>(max, end_ - offset_)));
    offset_ += view.size();
    return Pull::data(view, offset_ == end_);
  }

 private:
  std::uint64_t offset_;
  const std::uint64_t end_;
};

struct ByteRange {
  std::uint64_t first, last;  // inclusive
};
// The first range of a Range field for a body of `size` bytes. Unset optional: no usable Range (absent
// or malformed: the whole body); unset inner: unsatisfiable.
using RangeRequest = std::optional<std::optional<ByteRange>>;

RangeRequest requested_range(const RouteRequest& request, std::uint64_t size) {
  auto value = field(request, "range");
  constexpr std::string_view kUnit = "bytes=";
  if (!value || value->size() < kUnit.size() || !iequals(value->substr(0, kUnit.size()), kUnit)) return std::nullopt;
  auto spec = trim(value->substr(kUnit.size()));
  spec = trim(spec.substr(0, spec.find(',')));
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first_text = trim(spec.substr(0, dash)), last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {  // -S: the last S bytes
    auto suffix = parse_number(last_text);
    if (!suffix) return std::nullopt;
    if (*suffix == 0) return std::optional<ByteRange>{};
    return std::optional<ByteRange>{ByteRange{size - std::min(*suffix, size), size - 1}};
  }
  auto first = parse_number(first_text);
  auto last = last_text.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : parse_number(last_text);  // A-: to the end
  if (!first || !last || *last < *first) return std::nullopt;
  if (*first >= size) return std::optional<ByteRange>{};
  return std::optional<ByteRange>{ByteRange{*first, std::min(*last, size - 1)}};
}

ResponsePlan range_route(RouteRequest& request, std::string_view arg, std::string_view) {
  auto size = parse_number(arg);
  if (!size || *size == 0 || *size > kMaxRangeBytes)
    return text_response(404, fmt::format("number of bytes must be in the range (0, {}]", kMaxRangeBytes));
  std::vector<Field> fields{{"etag", fmt::format("\"range{}\"", *size)}, {"accept-ranges", "bytes"}};
  auto range = requested_range(request, *size);
  if (range && !*range) {
    fields.push_back({"content-range", fmt::format("bytes */{}", *size)});
    return empty_response(416, std::move(fields));
  }
  const ByteRange span = range ? **range : ByteRange{0, *size - 1};
  const auto length = span.last - span.first + 1;
  ResponsePlan plan;
  plan.status = range ? 206 : 200;
  plan.headers = std::move(fields);
  plan.headers.push_back({"content-type", "application/octet-stream"});
  plan.headers.push_back({"content-length", std::to_string(length)});
  if (range) plan.headers.push_back({"content-range", fmt::format("bytes {}-{}/{}", span.first, span.last, *size)});
  plan.body = std::make_unique<PatternRange>(span.first, length);
  return plan;
}

// The entity tags of an If-Match / If-None-Match field, quotes and W/ dropped (as httpbin compares them).
std::vector<std::string_view> entity_tags(std::optional<std::string_view> value) {
  std::vector<std::string_view> tags;
  if (!value) return tags;
  std::string_view rest = *value;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto tag = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
    if (!tag.empty()) tags.push_back(tag);
  }
  return tags;
}

bool has_tag(const std::vector<std::string_view>& tags, std::string_view etag) {
  return std::ranges::find(tags, etag) != tags.end() || std::ranges::find(tags, "*") != tags.end();
}

ResponsePlan etag_route(RouteRequest& request, std::string_view etag, std::string_view) {
  if (etag.find('"') != std::string_view::npos || !valid_field_value(etag)) return text_response(400, "bad request: etag\n");
  Field etag_field{"etag", fmt::format("\"{}\"", etag)};
  auto if_none_match = entity_tags(field(request, "if-none-match"));
  auto if_match = entity_tags(field(request, "if-match"));
  if (!if_none_match.empty()) {  // as httpbin: If-Match is not looked at when If-None-Match is present
    if (has_tag(if_none_match, etag)) return empty_response(304, {std::move(etag_field)});
  } else if (!if_match.empty() && !has_tag(if_match, etag)) {
    return empty_response(412);
  }
  return json_response(get_object(request), {std::move(etag_field)});
}

ResponsePlan cache_route(RouteRequest& request, std::string_view, std::string_view) {
  if (field(request, "if-modified-since") || field(request, "if-none-match")) return empty_response(304);
  auto etag = uuid4();
  std::erase(etag, '-');
  return json_response(get_object(request), {{"last-modified", http_date(std::chrono::system_clock::now())},
                                             {"etag", fmt::format("\"{}\"", etag)}});
}

ResponsePlan cache_for_route(RouteRequest& request, std::string_view arg, std::string_view) {
  auto seconds = parse_number(arg);
  if (!seconds) return text_response(404, "not found\n");
  return json_response(get_object(request), {{"cache-control", fmt::format("public, max-age={}", *seconds)}});
}

ResponsePlan uuid_route(RouteRequest&, std::string_view, std::string_view) { return json_response({{"uuid", uuid4()}}); }

ResponsePlan json_route(RouteRequest&, std::string_view, std::string_view) {
  static const json slideshow = {
      {"slideshow",
       {{"author", "Yours Truly"},
        {"date", "date of publication"},
        {"slides",
         json::array({{{"title", "Wake up to WonderWidgets!"}, {"type", "all"}},
                      {{"items", json::array({"Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"})},
                       {"title", "Overview"},
                       {"type", "all"}}})},
        {"title", "Sample Slide Show"}}}};
  return json_response(slideshow);
}

// URL-safe base64 ('-' and '_'; missing padding tolerated), as Python's urlsafe_b64decode; the result
// must be UTF-8 text, else httpbin's hint.
ResponsePlan base64_route(RouteRequest&, std::string_view arg, std::string_view) {
  std::string encoded(arg);
  std::ranges::replace(encoded, '-', '+');
  std::ranges::replace(encoded, '_', '/');
  encoded.append((4 - encoded.size() % 4) % 4, '=');
  auto decoded = base64_decode(encoded);
  if (!decoded || !valid_utf8(*decoded)) return with_body(200, "text/html; charset=utf-8", std::string(kBase64Hint));
  return with_body(200, "text/html; charset=utf-8", std::move(*decoded));
}

// /drip's body: `count` '*' bytes, the first at once (after the plan's delay), then one every `pause`;
// bytes already due go out together.
class DripBody final : public BodySource {
 public:
  DripBody(std::uint64_t count, Clock::duration pause) : count_(count), pause_(pause) {}

  Pull pull(std::size_t max, Clock::time_point now) override {
    if (sent_ == count_) return Pull::end();
    if (!started_) started_ = now;
    auto due = count_;
    if (pause_.count() > 0) due = std::min<std::uint64_t>(count_, static_cast<std::uint64_t>((now - *started_) / pause_) + 1);
    if (due <= sent_) return Pull::wait(*started_ + pause_ * static_cast<Clock::rep>(sent_));
    auto n = std::min<std::uint64_t>({due - sent_, max, stars().size()});
    sent_ += n;
    return Pull::data({stars().data(), static_cast<std::size_t>(n)}, sent_ == count_);
  }

 private:
  static const std::array<std::uint8_t, 64 * 1024>& stars() {
    static const auto buffer = [] {
      std::array<std::uint8_t, 64 * 1024> b{};
      b.fill('*');
      return b;
    }();
    return buffer;
  }

  const std::uint64_t count_;
  const Clock::duration pause_;
  std::optional<Clock::time_point> started_;
  std::uint64_t sent_ = 0;
};

ResponsePlan drip_route(RouteRequest&, std::string_view, std::string_view query) {
  auto count = parse_number(query_param(query, "numbytes").value_or("10"));
  auto duration = parse_seconds(query_param(query, "duration").value_or("2"));
  auto delay = parse_seconds(query_param(query, "delay").value_or("0"));
  auto code = parse_number(query_param(query, "code").value_or("200"));
  if (!count || *count == 0) return text_response(400, "number of bytes must be positive");
  if (!duration || !delay) return text_response(400, "bad request: duration and delay in seconds (0..600)\n");
  if (!code || *code < 200 || *code > 599) return text_response(400, "bad request: code must be 200..599\n");
  const auto bytes = std::min(*count, kMaxDripBytes);
  ResponsePlan plan;
  plan.status = static_cast<int>(*code);
  plan.delay = std::chrono::milliseconds(std::llround(*delay * 1000));
  if (plan.status == 204 || plan.status == 304) return plan;  // no content by definition
  plan.headers = {{"content-type", "application/octet-stream"}, {"content-length", std::to_string(bytes)}};
  auto pause = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*duration / static_cast<double>(bytes)));
  plan.body = std::make_unique<DripBody>(bytes, pause);
  return plan;
}

// ---- redirects (httpbin's) and compressed bodies (httpbin's, plus /bomb and /corrupt) -------------------

constexpr std::uint64_t kMaxRedirects = 1000;
constexpr std::uint64_t kMaxBombBytes = std::uint64_t{4} << 30;  // /bomb: 4 GiB decoded at most

std::optional<std::uint64_t> redirect_count(std::string_view arg) {
  auto n = parse_number(arg);
  if (!n || *n == 0 || *n > kMaxRedirects) return std::nullopt;
  return n;
}

// /relative-redirect/N: 302 to /relative-redirect/N-1 (a path-absolute reference), the last to /get.
ResponsePlan relative_redirect_route(RouteRequest&, std::string_view arg, std::string_view) {
  auto n = redirect_count(arg);
  if (!n) return text_response(404, "not found\n");
  return redirect_response(*n == 1 ? "/get" : fmt::format("/relative-redirect/{}", *n - 1), {});
}

// /absolute-redirect/N: the same with absolute https URLs.
ResponsePlan absolute_redirect_route(RouteRequest& request, std::string_view arg, std::string_view) {
  auto n = redirect_count(arg);
  if (!n) return text_response(404, "not found\n");
  auto base = fmt::format("https://{}", request.authority);
  return redirect_response(*n == 1 ? base + "/get" : fmt::format("{}/absolute-redirect/{}", base, *n - 1), {});
}

// /redirect/N[?absolute=true]: as httpbin, relative redirects unless absolute=true.
ResponsePlan redirect_route(RouteRequest& request, std::string_view arg, std::string_view query) {
  if (query_param(query, "absolute") == "true") return absolute_redirect_route(request, arg, query);
  return relative_redirect_route(request, arg, query);
}

// /redirect-to?url=U[&status_code=C]: C (302 unless a 3xx is given) to U, as given (relative or absolute).
ResponsePlan redirect_to_route(RouteRequest&, std::string_view, std::string_view query) {
  std::optional<std::string> url;
  std::uint64_t status = 302;
  for (const auto& [name, value] : decode_pairs(query)) {
    if (name == "url") url = value;
    if (auto code = parse_number(value); name == "status_code" && code && *code >= 300 && *code < 400) status = *code;
  }
  if (!url || !valid_field_value(*url)) return text_response(400, "bad request: url\n");
  auto plan = redirect_response(*url, {});
  plan.status = static_cast<int>(status);
  return plan;
}

// /gzip, /deflate, /brotli, /zstd: httpbin's JSON ({"gzipped": true, headers, method, origin}; for zstd,
// which httpbin lacks, "zstd": true) compressed with that coding, content-encoding set.
ResponsePlan encoded_route(RouteRequest& request, std::string_view, std::string_view) {
  auto name = split_target(request.target).path.substr(1);
  auto coding = content_coding(name).value_or("gzip");
  static constexpr std::pair<std::string_view, std::string_view> kFlags[] = {
      {"gzip", "gzipped"}, {"deflate", "deflated"}, {"br", "brotli"}, {"zstd", "zstd"}};
  auto flag = std::ranges::find(kFlags, std::string_view(coding), &std::pair<std::string_view, std::string_view>::first)->second;
  json object = {{std::string(flag), true},
                 {"headers", headers_object(request)},
                 {"method", request.method},
                 {"origin", request.peer}};
  return with_body(200, "application/json", compress(coding, dump(object)), {{"content-encoding", coding}});
}

// /bomb/CODING?size=N (quiver's own): N (64 MiB) zero bytes compressed with CODING: a decompression bomb.
ResponsePlan bomb_route(RouteRequest&, std::string_view arg, std::string_view query) {
  auto coding = content_coding(arg);
  auto size = parse_number(query_param(query, "size").value_or("67108864"));
  if (!coding || !size || *size > kMaxBombBytes) return text_response(400, "bad request: /bomb/{gzip,deflate,br,zstd}?size=N\n");
  return with_body(200, "application/octet-stream", compressed_zeros(*coding, *size), {{"content-encoding", *coding}});
}

// /corrupt/CODING[?truncate=1] (quiver's own): /get's JSON compressed with CODING, then 8 bytes in the
// middle inverted (gzip, deflate and zstd carry a checksum, so the damage is always found), or, with
// truncate=1, only the first half sent.
ResponsePlan corrupt_route(RouteRequest& request, std::string_view arg, std::string_view query) {
  auto coding = content_coding(arg);
  if (!coding) return text_response(400, "bad request: /corrupt/{gzip,deflate,br,zstd}\n");
  auto body = compress(*coding, dump(get_object(request)));
  if (query_param(query, "truncate") == "1") {
    body.resize(body.size() / 2);
  } else {
    for (std::size_t i = body.size() / 2; i < std::min(body.size(), body.size() / 2 + 8); ++i) body[i] = static_cast<char>(~body[i]);
  }
  return with_body(200, "application/json", std::move(body), {{"content-encoding", *coding}});
}

// ---- the table and method rules ----------------------------------------------------------------------

using Handler = ResponsePlan (*)(RouteRequest&, std::string_view arg, std::string_view query);

struct HttpbinRoute {
  std::string_view path;     // exact path, or prefix before "/ARG" when takes_arg
  bool takes_arg;
  std::string_view methods;  // space-separated; empty: any method
  bool keeps_body;
  Handler handler;
};

constexpr HttpbinRoute kHttpbinRoutes[] = {
    {"/get", false, "GET", false, get_route},
    {"/post", false, "POST", true, method_route},
    {"/put", false, "PUT", true, method_route},
    {"/patch", false, "PATCH", true, method_route},
    {"/delete", false, "DELETE", true, method_route},
    {"/anything", false, "", true, anything_route},
    {"/anything", true, "", true, anything_route},
    {"/response-headers", false, "GET POST", false, response_headers_route},
    {"/cookies", false, "GET", false, cookies_route},
    {"/cookies/set", false, "GET", false, cookies_set_route},
    {"/cookies/set", true, "GET", false, cookies_set_route},
    {"/cookies/delete", false, "GET", false, cookies_delete_route},
    {"/basic-auth", true, "GET", false, basic_auth_route},
    {"/bearer", false, "GET", false, bearer_route},
    {"/range", true, "GET", false, range_route},
    {"/etag", true, "GET", false, etag_route},
    {"/cache", false, "GET", false, cache_route},
    {"/cache", true, "GET", false, cache_for_route},
    {"/uuid", false, "GET", false, uuid_route},
    {"/json", false, "GET", false, json_route},
    {"/base64", true, "GET", false, base64_route},
    {"/drip", false, "GET", false, drip_route},
    {"/redirect", true, "GET", false, redirect_route},
    {"/relative-redirect", true, "GET", false, relative_redirect_route},
    {"/absolute-redirect", true, "GET", false, absolute_redirect_route},
    {"/redirect-to", false, "GET POST PUT DELETE PATCH", false, redirect_to_route},
    {"/gzip", false, "GET", false, encoded_route},
    {"/deflate", false, "GET", false, encoded_route},
    {"/brotli", false, "GET", false, encoded_route},
    {"/zstd", false, "GET", false, encoded_route},
    {"/bomb", true, "GET", false, bomb_route},
    {"/corrupt", true, "GET", false, corrupt_route},
};

struct HttpbinMatch {
  const HttpbinRoute* route = nullptr;
  std::string_view arg, query;
};

HttpbinMatch match_httpbin(std::string_view target) {
  auto [path, query] = split_target(target);
  for (const auto& route : kHttpbinRoutes) {
    if (!path.starts_with(route.path)) continue;
    auto rest = path.substr(route.path.size());
    if (!route.takes_arg && rest.empty()) return {&route, {}, query};
    if (route.takes_arg && rest.size() > 1 && rest[0] == '/') return {&route, rest.substr(1), query};
  }
  return {};
}

bool lists(std::string_view methods, std::string_view method) {
  while (!methods.empty()) {
    auto space = methods.find(' ');
    if (methods.substr(0, space) == method) return true;
    methods = space == std::string_view::npos ? std::string_view{} : methods.substr(space + 1);
  }
  return false;
}

// As Flask: HEAD wherever GET is, OPTIONS everywhere.
bool allowed(std::string_view methods, std::string_view method) {
  return methods.empty() || lists(methods, method) || (method == "HEAD" && lists(methods, "GET"));
}

std::string allow_field(std::string_view methods) {
  std::string allow;
  for (auto rest = methods; !rest.empty();) {
    auto space = rest.find(' ');
    allow += fmt::format("{}, ", rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  if (lists(methods, "GET")) allow += "HEAD, ";
  return allow + "OPTIONS";
}

}  // namespace

std::optional<RouteTraits> httpbin_traits(std::string_view target) {
  auto m = match_httpbin(target);
  if (!m.route) return std::nullopt;
  return RouteTraits{.wants_body = m.route->keeps_body};
}

std::optional<ResponsePlan> httpbin_route(RouteRequest& request) {
  auto m = match_httpbin(request.target);
  if (!m.route) return std::nullopt;
  const auto methods = m.route->methods;
  if (!methods.empty() && request.method == "OPTIONS") return empty_response(200, {{"allow", allow_field(methods)}});
  if (!allowed(methods, request.method)) {
    return with_body(405, "text/html; charset=utf-8",
                     "<!doctype html>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
                     "<p>The method is not allowed for the requested URL.</p>\n",
                     {{"allow", allow_field(methods)}});
  }
  return m.route->handler(request, m.arg, m.query);
}

}  // namespace quiver::server
