#pragma once
// How the CLI shows a response: body (and with -i the head) on stdout or in the -o file.

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "quiver/response.hpp"

namespace quiver::cli {

// "HTTP/3 200"
std::string status_line(int status);

// The status line and header fields, each line starting with `prefix` and ending with `eol`.
void write_head(std::ostream& out, const Response& response, std::string_view prefix, std::string_view eol);

// Writes the response as the options ask: with -i the head (curl's layout: CRLF line ends and a blank
// line) then the body, to `stdout_stream` or to the -o file. With -f and status >= 400 nothing is
// written. Returns the failure that decides the exit code, if any.
std::optional<Failure> emit_response(const Response& response, const std::string& url, const CliOptions& options,
                                     std::ostream& stdout_stream);

}  // namespace quiver::cli
