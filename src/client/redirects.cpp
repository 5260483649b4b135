// Redirects: which responses are followed, where to, and what the next request keeps.
#include "client/redirects.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

#include <fmt/format.h>
#include <uriparser/Uri.h>

namespace quiver::client {

namespace {

Error redirect_error(std::string message, ErrorClass error_class = ErrorClass::unrecoverable) {
  return Error(ErrorKind::redirect_failed, error_class, std::move(message));
}

// A parsed URI that frees its members (uriparser's UriUriA points into the text it was parsed from,
// which must outlive it).
struct ParsedUri {
  UriUriA uri{};
  bool parsed = false;
  ParsedUri() = default;
  ParsedUri(const ParsedUri&) = delete;
  ParsedUri& operator=(const ParsedUri&) = delete;
  ~ParsedUri() {
    if (parsed) uriFreeUriMembersA(&uri);
  }
  bool parse(std::string_view text) {
    const char* error_position = nullptr;
    parsed = uriParseSingleUriExA(&uri, text.data(), text.data() + text.size(), &error_position) == URI_SUCCESS;
    return parsed;
  }
};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The fields that describe a request body, dropped when a redirect turns the request into a GET
// (as the Fetch standard's "request-body-header names").
constexpr std::array<std::string_view, 5> kBodyFields = {"content-type", "content-length", "content-encoding",
                                                         "content-language", "content-location"};
// The fields that carry credentials, dropped on a redirect to another origin (as curl without
// --location-trusted); `host` too, since it names the old origin.
constexpr std::array<std::string_view, 4> kCredentialFields = {"authorization", "proxy-authorization", "cookie",
                                                               "host"};

// RFC 9110 §15.4 as curl applies it: 303 turns every method but HEAD into GET; 301 and 302 turn POST
// into GET; 307 and 308 keep the method.
bool becomes_get(int status, std::string_view method) {
  if (status == 303) return method != "HEAD" && method != "GET";
  if (status == 301 || status == 302) return method == "POST";
  return false;
}

// The absolute URL the redirect points to, checked: https only.
Result<Url> redirect_target(const Request& sent, std::string_view location) {
  const std::string from = sent.url.to_string();
  auto resolved = resolve_reference(from, location);
  if (!resolved) return std::unexpected(resolved.error());
  ParsedUri target;
  if (!target.parse(*resolved)) return std::unexpected(redirect_error(fmt::format("bad redirect location '{}'", location)));
  const auto scheme = lowercase(std::string_view(target.uri.scheme.first,
                                                 static_cast<std::size_t>(target.uri.scheme.afterLast - target.uri.scheme.first)));
  if (scheme == "http") {
    return std::unexpected(redirect_error(fmt::format(
        "refused to follow the redirect from {} to {}: https to http would send the request unencrypted", from,
        *resolved)));
  }
  if (scheme != "https") {
    return std::unexpected(redirect_error(
        fmt::format("refused to follow the redirect from {} to {}: only https URLs can be fetched", from, *resolved)));
  }
  auto url = Url::parse(*resolved);
  if (!url) {
    return std::unexpected(redirect_error(
        fmt::format("cannot follow the redirect from {} to '{}': {}", from, *resolved, url.error().message())));
  }
  return url;
}

}  // namespace

bool is_redirect_status(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

Result<std::string> resolve_reference(std::string_view base, std::string_view reference) {
  ParsedUri base_uri, reference_uri;
  if (!base_uri.parse(base)) return std::unexpected(redirect_error(fmt::format("'{}' is not a valid URI", base)));
  if (!reference_uri.parse(reference)) {
    return std::unexpected(redirect_error(fmt::format("bad redirect location '{}': not a URI reference", reference)));
  }
  ParsedUri resolved;
  if (uriAddBaseUriExA(&resolved.uri, &reference_uri.uri, &base_uri.uri, URI_RESOLVE_STRICTLY) != URI_SUCCESS) {
    return std::unexpected(redirect_error(fmt::format("cannot resolve the redirect location '{}' against {}", reference, base)));
  }
  resolved.parsed = true;
  int chars = 0;
  if (uriToStringCharsRequiredA(&resolved.uri, &chars) != URI_SUCCESS) {
    return std::unexpected(redirect_error(fmt::format("cannot resolve the redirect location '{}'", reference)));
  }
  std::string text(static_cast<std::size_t>(chars) + 1, '\0');
  if (uriToStringA(text.data(), &resolved.uri, chars + 1, nullptr) != URI_SUCCESS) {
    return std::unexpected(redirect_error(fmt::format("cannot resolve the redirect location '{}'", reference)));
  }
  text.resize(static_cast<std::size_t>(chars));
  return text;
}

std::optional<Result<Request>> next_request(const Request& sent, int status, const Headers& headers,
                                            const RedirectPolicy& policy, int followed) {
  if (!policy.follow || !is_redirect_status(status)) return std::nullopt;
  auto location = headers.get("location");
  if (!location) return std::nullopt;  // curl too delivers a 3xx without location as the answer
  if (followed >= policy.max_redirects) {
    return Result<Request>(std::unexpected(Error(
        ErrorKind::too_many_redirects,
        fmt::format("maximum ({}) redirects followed; {} redirects again to '{}'", policy.max_redirects,
                    sent.url.to_string(), *location))));
  }
  auto url = redirect_target(sent, *location);
  if (!url) return Result<Request>(std::unexpected(url.error()));

  Request next;
  next.url = std::move(*url);
  next.headers = sent.headers;
  next.timeout = sent.timeout;
  next.redirects = sent.redirects;
  next.decompression = sent.decompression;
  if (becomes_get(status, sent.method)) {
    next.method = "GET";
    for (auto name : kBodyFields) next.headers.remove(name);
  } else {
    next.method = sent.method;
    if (!sent.body.empty() && !sent.body.replayable()) {
      return Result<Request>(std::unexpected(redirect_error(
          fmt::format("cannot follow the {} redirect from {} to {}: it must send the body again, and a "
                      "producer's body cannot be replayed (use bytes or a file)",
                      status, sent.url.to_string(), next.url.to_string()),
          ErrorClass::invalid)));
    }
    next.body = sent.body;
  }
  if (next.url.origin() != sent.url.origin()) {
    for (auto name : kCredentialFields) next.headers.remove(name);
  }
  return Result<Request>(std::move(next));
}

}  // namespace quiver::client
