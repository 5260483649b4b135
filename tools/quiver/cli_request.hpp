#pragma once
// Turns CliOptions into the request and connection settings, checking everything that can be checked
// before a connection is made: URL, method, headers, the -d data files and the --cacert file.

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
  Request request;
  std::vector<Header> fields;  // the HTTP/3 field section exactly as it will be sent (for -v)
};

// `stdin_stream` is read only for "-d @-".
std::expected<PreparedRequest, Failure> prepare_request(const CliOptions& options, std::istream& stdin_stream);

std::expected<ConnectionOptions, Failure> connection_options_for(const CliOptions& options);

}  // namespace quiver::cli
