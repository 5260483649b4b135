#include "response_output.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

void write_all(std::ostream& out, const Response& response, const CliOptions& options) {
  if (options.include) {
    write_head(out, response, "", "\r\n");
    out << "\r\n";
  }
  out << response.body;
  out.flush();
}

}  // namespace

std::string status_line(int status) { return fmt::format("HTTP/3 {}", status); }

void write_head(std::ostream& out, const Response& response, std::string_view prefix, std::string_view eol) {
  out << prefix << status_line(response.status) << eol;
  for (const Header& field : response.headers) out << prefix << field.name << ": " << field.value << eol;
}

std::optional<Failure> emit_response(const Response& response, const std::string& url, const CliOptions& options,
                                     std::ostream& stdout_stream) {
  if (options.fail && response.status >= 400) {
    return Failure{exit_code::http_error, "http_error",
                   fmt::format("the server answered {} for {}", response.status, url)};
  }
  if (!options.output_file) {
    write_all(stdout_stream, response, options);
    if (!stdout_stream) return Failure{exit_code::write_failed, "io_error", "cannot write to stdout"};
    return std::nullopt;
  }
  std::ofstream file(*options.output_file, std::ios::binary | std::ios::trunc);
  if (file) write_all(file, response, options);
  if (!file) {
    return Failure{exit_code::write_failed, "io_error",
                   fmt::format("cannot write output file '{}': {}", *options.output_file, std::strerror(errno))};
  }
  return std::nullopt;
}

}  // namespace quiver::cli
