#include "cli_request.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "http/request_fields.hpp"

namespace quiver::cli {

namespace {

std::expected<std::string, std::string> read_all(std::istream& in) {
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return std::unexpected(std::string("read error"));
  return std::move(contents).str();
}

// The file's contents, or why it cannot be read.
std::expected<std::string, std::string> read_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return std::unexpected(std::string("it is a directory"));
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected(std::string(std::strerror(errno)));
  return read_all(file);
}

// One -d value: literal text, "@file" or "@-" (stdin).
std::expected<std::string, Failure> load_data(const std::string& data, std::istream& stdin_stream) {
  if (!data.starts_with('@')) return data;
  const std::string source = data.substr(1);
  auto contents = source == "-" ? read_all(stdin_stream) : read_file(source);
  if (!contents) {
    const std::string name = source == "-" ? "stdin" : "'" + source + "'";
    return std::unexpected(Failure{exit_code::read_failed, "body_failed",
                                   fmt::format("cannot read data file {}: {}", name, contents.error())});
  }
  return std::move(*contents);
}

std::expected<std::string, Failure> load_body(const RequestOptions& options, std::istream& stdin_stream) {
  std::string body;
  for (std::size_t i = 0; i < options.data.size(); ++i) {
    auto part = load_data(options.data[i], stdin_stream);
    if (!part) return std::unexpected(std::move(part.error()));
    if (i > 0) body += '&';
    body += *part;
  }
  return body;
}

// Defaults first (like curl), each dropped when the user gave a header of that name.
Headers request_headers(const RequestOptions& options) {
  Headers headers;
  const auto user_gave = [&](std::string_view name) {
    return std::ranges::any_of(options.headers, [&](const Header& h) { return iequals(h.name, name); });
  };
  if (!user_gave("user-agent")) headers.add("user-agent", fmt::format("quiver/{}", quiver_version()));
  if (!user_gave("accept")) headers.add("accept", "*/*");
  if (!options.data.empty() && !user_gave("content-type")) {
    headers.add("content-type", "application/x-www-form-urlencoded");
  }
  for (const Header& header : options.headers) headers.add(header.name, header.value);
  return headers;
}

// The request for one URL already known to be valid.
std::expected<PreparedRequest, Failure> prepare_one(const RequestOptions& options, Url url, const std::string& body) {
  PreparedRequest prepared;
  Request& request = prepared.request;
  request.method = options.method.value_or(options.data.empty() ? "GET" : "POST");
  request.url = std::move(url);
  request.headers = request_headers(options);
  if (!options.data.empty()) request.body = body;

  auto fields = http::build_request_fields(request);
  if (!fields) return std::unexpected(failure_from(fields.error()));
  prepared.fields = std::move(*fields);
  return prepared;
}

}  // namespace

std::expected<std::vector<PreparedRequest>, Failure> prepare_requests(const RequestOptions& options,
                                                                      std::istream& stdin_stream) {
  std::vector<Url> urls;
  for (const std::string& text : options.urls) {
    auto url = Url::parse(text);
    if (!url) return std::unexpected(failure_from(url.error()));
    urls.push_back(std::move(*url));
  }
  auto body = load_body(options, stdin_stream);
  if (!body) return std::unexpected(std::move(body.error()));

  std::vector<PreparedRequest> prepared;
  for (Url& url : urls) {
    auto one = prepare_one(options, std::move(url), *body);
    if (!one) return std::unexpected(std::move(one.error()));
    prepared.push_back(std::move(*one));
  }
  return prepared;
}

std::expected<ConnectionOptions, Failure> connection_options_for(const RequestOptions& options) {
  ConnectionOptions connection;
  connection.tls.verify_peer = !options.insecure;
  connection.http_version = options.http2   ? HttpVersion::http2
                            : options.http3 ? HttpVersion::http3
                                            : HttpVersion::http3_only;
  if (!options.ca_file.empty()) {
    if (auto contents = read_file(options.ca_file); !contents) {
      return std::unexpected(Failure{exit_code::bad_ca_file, "io_error",
                                     fmt::format("cannot read CA file '{}': {}", options.ca_file, contents.error())});
    }
    connection.tls.ca_file = options.ca_file;
    connection.tls.system_trust = false;  // as curl's --cacert: this file instead of the system store
  }
  if (options.connect_timeout) connection.connect_timeout = *options.connect_timeout;
  return connection;
}

}  // namespace quiver::cli
