#pragma once
// -w/--write-out: curl's report of a transfer, a format string with %{variable}s and \-escapes expanded
// once the transfer is over, printed to stdout after the body.
//
// Variables (curl's names and formats): http_code and response_code (three digits, 000 without a
// response), http_version ("3"), time_namelookup, time_connect, time_appconnect, time_starttransfer,
// time_total (seconds with six decimals, from the start of the transfer), url_effective (the URL that
// answered, after redirects), num_redirects, remote_ip, remote_port, size_download (body bytes written: decoded with --compressed, where curl counts them encoded),
// content_type, exitcode, errormsg. %% is a percent sign; \n, \r, \t and \\ are escapes. An unknown
// variable expands to nothing, as curl does.

#include <cstdint>
#include <expected>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "exit_codes.hpp"
#include "quiver/response.hpp"

namespace quiver::cli {

// What one transfer leaves for the report.
struct TransferReport {
  std::string url;                     // as requested (url_effective until a response says otherwise)
  int http_code = 0;                   // 0: no response
  std::string content_type;
  std::uint64_t size_download = 0;
  std::optional<TransferInfo> transfer;  // once a response arrived (timings complete at its end)
  int exit_code = 0;
  std::string errormsg;
};

std::string format_write_out(std::string_view format, const TransferReport& report);

// The -w argument as the format: "@file" is that file's contents, "@-" standard input; anything else
// is the format itself. A file that cannot be read is a failure (exit 26).
std::expected<std::string, Failure> load_write_out(const std::string& argument, std::istream& in);

}  // namespace quiver::cli
