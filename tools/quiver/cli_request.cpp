#include "cli_request.hpp"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "header_syntax.hpp"
#include "http/request_fields.hpp"
#include "request_body.hpp"

namespace quiver::cli {

namespace {

std::expected<std::string, std::string> read_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return std::unexpected(std::string("it is a directory"));
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected(std::string(std::strerror(errno)));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return std::unexpected(std::string("read error"));
  return std::move(contents).str();
}

// The -H lines parsed, "@FILE" lines read from their file.
std::expected<std::vector<HeaderLine>, Failure> header_lines(const RequestOptions& options) {
  std::vector<HeaderLine> lines;
  const auto add = [&](const std::string& text) -> std::optional<Failure> {
    auto line = parse_header_line(text);
    if (!line) return Failure{exit_code::invalid_header, "invalid_request", line.error()};
    lines.push_back(std::move(*line));
    return std::nullopt;
  };
  for (const std::string& text : options.headers) {
    if (!text.starts_with('@')) {
      if (auto failure = add(text)) return std::unexpected(std::move(*failure));
      continue;
    }
    auto contents = read_file(text.substr(1));
    if (!contents) {
      return std::unexpected(Failure{exit_code::read_failed, "io_error",
                                     fmt::format("cannot read header file '{}': {}", text.substr(1), contents.error())});
    }
    for (const std::string& line : header_file_lines(*contents)) {
      if (auto failure = add(line)) return std::unexpected(std::move(*failure));
    }
  }
  return lines;
}

// What the body is, planned once for every URL of the command.
struct BodyPlan {
  enum class Kind { none, data, form, upload };
  Kind kind = Kind::none;
  std::string data;                         // Kind::data (also the -G query)
  std::optional<MultipartBody> form;        // Kind::form
  std::optional<UploadBody> upload;         // Kind::upload
  std::optional<std::uint64_t> length;      // content-length to announce for a streamed form
};

std::expected<BodyPlan, Failure> plan_body(const RequestOptions& options, std::istream& stdin_stream) {
  BodyPlan plan;
  if (options.upload_file) {
    auto upload = plan_upload(*options.upload_file);
    if (!upload) return std::unexpected(std::move(upload.error()));
    plan.kind = BodyPlan::Kind::upload;  // the library announces a file's length itself
    plan.upload = std::move(*upload);
  } else if (!options.form.empty()) {
    std::vector<FormPart> parts;
    for (const std::string& text : options.form) {
      auto part = parse_form_part(text);
      if (!part) return std::unexpected(Failure{exit_code::usage, "usage", part.error()});
      parts.push_back(std::move(*part));
    }
    auto form = MultipartBody::plan(parts, stdin_stream);
    if (!form) return std::unexpected(std::move(form.error()));
    plan.kind = BodyPlan::Kind::form;
    plan.length = form->size();
    plan.form = std::move(*form);
  } else if (!options.data.empty()) {
    auto data = join_data(options.data, stdin_stream);
    if (!data) return std::unexpected(std::move(data.error()));
    plan.kind = BodyPlan::Kind::data;
    plan.data = std::move(*data);
  }
  return plan;
}

bool sends_data_in_query(const RequestOptions& options, const BodyPlan& plan) {
  return options.get && plan.kind == BodyPlan::Kind::data;
}

bool is_json(const RequestOptions& options) {
  return std::ranges::any_of(options.data, [](const DataItem& item) { return item.kind == DataItem::Kind::json; });
}

std::string default_method(const RequestOptions& options, const BodyPlan& plan) {
  if (options.head) return "HEAD";
  if (sends_data_in_query(options, plan)) return "GET";
  switch (plan.kind) {
    case BodyPlan::Kind::upload: return "PUT";
    case BodyPlan::Kind::form:
    case BodyPlan::Kind::data: return "POST";
    case BodyPlan::Kind::none: break;
  }
  return "GET";
}

// quiver's own fields, in curl's order; each may be replaced or removed by an -H line.
Headers default_headers(const RequestOptions& options, const BodyPlan& plan) {
  Headers headers;
  if (options.user) headers.add("authorization", basic_authorization(*options.user));
  if (options.range) headers.add("range", "bytes=" + *options.range);
  const std::string agent = options.user_agent.value_or(fmt::format("quiver/{}", quiver_version()));
  if (!agent.empty()) headers.add("user-agent", agent);
  headers.add("accept", is_json(options) ? "application/json" : "*/*");
  if (options.referer) headers.add("referer", *options.referer);
  std::string cookies;
  for (const std::string& value : options.cookies) {
    if (!is_cookie_string(value)) continue;
    if (!cookies.empty()) cookies += "; ";
    cookies += value;
  }
  if (!cookies.empty()) headers.add("cookie", cookies);
  if (plan.kind == BodyPlan::Kind::form) headers.add("content-type", plan.form->content_type());
  if (plan.kind == BodyPlan::Kind::data && !options.get) {
    headers.add("content-type", is_json(options) ? "application/json" : "application/x-www-form-urlencoded");
  }
  if (plan.length) headers.add("content-length", std::to_string(*plan.length));
  return headers;
}

// The URL text as the request will use it: -T's file name after a trailing '/', -G's query.
std::string effective_url(const std::string& text, const RequestOptions& options, const BodyPlan& plan) {
  std::string url = text;
  std::string fragment;
  if (const auto hash = url.find('#'); hash != std::string::npos) {
    fragment = url.substr(hash);
    url.resize(hash);
  }
  if (plan.kind == BodyPlan::Kind::upload && plan.upload->path != "-" && url.ends_with('/')) {
    url += url_encode(std::filesystem::path(plan.upload->path).filename().string());
  }
  if (sends_data_in_query(options, plan) && !plan.data.empty()) {
    url += (url.find('?') == std::string::npos ? '?' : '&') + plan.data;
  }
  return url + fragment;
}

std::function<RequestBody()> body_maker(const RequestOptions& options, const BodyPlan& plan,
                                        std::istream& stdin_stream) {
  switch (plan.kind) {
    case BodyPlan::Kind::none: return [] { return RequestBody(); };
    case BodyPlan::Kind::data:
      if (options.get || options.head) return [] { return RequestBody(); };
      return [data = plan.data] { return RequestBody(data); };
    case BodyPlan::Kind::form: return [form = *plan.form] { return form.make_body(); };
    case BodyPlan::Kind::upload: return [upload = *plan.upload, in = &stdin_stream] { return upload.make_body(*in); };
  }
  return [] { return RequestBody(); };
}

}  // namespace

bool is_cookie_string(const std::string& value) { return value.find('=') != std::string::npos; }

std::string basic_authorization(const std::string& user_and_password) {
  gnutls_datum_t input{reinterpret_cast<unsigned char*>(const_cast<char*>(user_and_password.data())),
                       static_cast<unsigned>(user_and_password.size())};
  gnutls_datum_t encoded{nullptr, 0};
  if (gnutls_base64_encode2(&input, &encoded) != GNUTLS_E_SUCCESS) return "Basic ";
  std::string result = "Basic " + std::string(reinterpret_cast<const char*>(encoded.data), encoded.size);
  gnutls_free(encoded.data);
  return result;
}

std::expected<std::vector<Header>, Failure> fields_of(const Request& request) {
  auto fields = http::build_request_fields(request);
  if (!fields) return std::unexpected(failure_from(fields.error()));
  return std::move(*fields);
}

std::expected<std::vector<PreparedRequest>, Failure> prepare_requests(const RequestOptions& options,
                                                                      std::istream& stdin_stream,
                                                                      std::vector<std::string>* warnings) {
  for (const std::string& text : options.urls) {
    if (auto url = Url::parse(text); !url) return std::unexpected(failure_from(url.error()));
  }
  auto lines = header_lines(options);
  if (!lines) return std::unexpected(std::move(lines.error()));
  auto plan = plan_body(options, stdin_stream);
  if (!plan) return std::unexpected(std::move(plan.error()));

  std::vector<std::string> ignored;
  const Headers headers = apply_header_lines(default_headers(options, *plan), *lines, warnings ? *warnings : ignored);
  const std::string method = options.method.value_or(default_method(options, *plan));
  std::vector<PreparedRequest> prepared;
  for (const std::string& text : options.urls) {
    auto url = Url::parse(effective_url(text, options, *plan));
    if (!url) return std::unexpected(failure_from(url.error()));
    PreparedRequest one;
    one.make_body = body_maker(options, *plan, stdin_stream);
    one.request.method = method;
    one.request.url = std::move(*url);
    one.request.headers = headers;
    one.request.body = one.make_body();  // a -T - body starts reading stdin only when it is sent
    auto fields = fields_of(one.request);
    if (!fields) return std::unexpected(std::move(fields.error()));
    one.fields = std::move(*fields);
    prepared.push_back(std::move(one));
  }
  return prepared;
}

std::expected<ConnectionOptions, Failure> connection_options_for(const RequestOptions& options) {
  ConnectionOptions connection;
  connection.tls.verify_peer = !options.insecure;
  connection.http_version = options.http2        ? HttpVersion::http2
                            : options.http1_1    ? HttpVersion::http1_1
                            : options.http3_only ? HttpVersion::http3_only
                                                 : HttpVersion::http3;
  if (!options.ca_file.empty()) {
    auto contents = read_file(options.ca_file);
    if (!contents) {
      return std::unexpected(Failure{exit_code::bad_ca_file, "io_error",
                                     fmt::format("cannot read CA file '{}': {}", options.ca_file, contents.error())});
    }
    gnutls_datum_t pem{reinterpret_cast<unsigned char*>(contents->data()), static_cast<unsigned>(contents->size())};
    gnutls_x509_crt_t* certificates = nullptr;
    unsigned count = 0;
    const int imported = gnutls_x509_crt_list_import2(&certificates, &count, &pem, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned i = 0; i < count; ++i) gnutls_x509_crt_deinit(certificates[i]);
    gnutls_free(certificates);
    if (imported < 0 || count == 0) {
      return std::unexpected(Failure{exit_code::bad_ca_file, "io_error",
                                     fmt::format("CA file '{}' holds no PEM certificate", options.ca_file)});
    }
    connection.tls.ca_file = options.ca_file;
    connection.tls.system_trust = false;  // as curl's --cacert: this file instead of the system store
  }
  if (options.connect_timeout) connection.connect_timeout = *options.connect_timeout;
  return connection;
}

}  // namespace quiver::cli
