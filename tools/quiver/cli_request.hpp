#pragma once
// Turns RequestOptions into requests and connection settings, checking everything that can be checked
// before a connection is made: every URL first, then method and headers (-H @FILE read), the body's
// sources (-d files, -F files, -T file) and the --cacert file.

#include <expected>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "quiver/headers.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"

namespace quiver::cli {

struct PreparedRequest {
  Request request;             // the first attempt, body included (bytes for -d, a file or producer for -T/-F)
  std::vector<Header> fields;  // the HTTP/3 field section exactly as it will be sent (for -v)
  // A fresh body for another attempt (--retry); the first attempt's body is in `request`.
  std::function<RequestBody()> make_body;
};

// One request per URL, in order; the body is planned once and shared. `stdin_stream` is read for
// "-d @-", "-F name=@-" and "-T -" (the last as the request is sent, so it must outlive the requests).
// Warnings (connection-specific -H lines dropped) are appended to `warnings` when given. The first
// problem found is returned.
std::expected<std::vector<PreparedRequest>, Failure> prepare_requests(const RequestOptions& options,
                                                                      std::istream& stdin_stream,
                                                                      std::vector<std::string>* warnings = nullptr);

// TLS (-k, --cacert, whose file must be readable and hold a certificate) and --connect-timeout.
std::expected<ConnectionOptions, Failure> connection_options_for(const RequestOptions& options);

// -b: a value with '=' is cookies to send as they are; one without names a cookie file.
bool is_cookie_string(const std::string& value);

// "user:password" -> "Basic dXNlcjpwYXNzd29yZA==" (RFC 7617; GnuTLS's base64).
std::string basic_authorization(const std::string& user_and_password);

// The fields a request is sent with, after the library's rules (for -v), or its error.
std::expected<std::vector<Header>, Failure> fields_of(const Request& request);

}  // namespace quiver::cli
