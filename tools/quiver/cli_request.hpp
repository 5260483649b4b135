#pragma once
// Turns RequestOptions into requests and connection settings, checking everything that can be checked
// before a connection is made: every URL first, then method and headers, the -d data and the --cacert
// file.

#include <expected>
#include <istream>
#include <vector>

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "quiver/headers.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"

namespace quiver::cli {

struct PreparedRequest {
  Request request;             // the body, if any, is Kind::bytes
  std::vector<Header> fields;  // the HTTP/3 field section exactly as it will be sent (for -v)
};

// One request per URL, in order; the -d body is read once and shared. `stdin_stream` is read only for
// "-d @-". The first problem found is returned.
std::expected<std::vector<PreparedRequest>, Failure> prepare_requests(const RequestOptions& options,
                                                                      std::istream& stdin_stream);

// TLS (-k, --cacert, whose file must be readable) and --connect-timeout.
std::expected<ConnectionOptions, Failure> connection_options_for(const RequestOptions& options);

}  // namespace quiver::cli
