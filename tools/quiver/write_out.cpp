#include "write_out.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

std::string seconds(std::chrono::nanoseconds duration) {
  return fmt::format("{:.6f}", std::chrono::duration<double>(duration).count());
}

// The value of `name`, or nullopt for a variable curl has that this report does not know.
std::optional<std::string> variable(std::string_view name, const TransferReport& report) {
  const TransferInfo empty;
  const TransferInfo& info = report.transfer ? *report.transfer : empty;
  if (name == "http_code" || name == "response_code") return fmt::format("{:03d}", report.http_code);
  if (name == "http_version") return report.transfer ? info.http_version : "0";
  if (name == "time_namelookup") return seconds(info.timings.name_lookup);
  if (name == "time_connect") return seconds(info.timings.connect);
  if (name == "time_appconnect") return seconds(info.timings.tls);
  if (name == "time_starttransfer") return seconds(info.timings.first_byte);
  if (name == "time_total") return seconds(info.timings.total);
  if (name == "url_effective") return report.transfer ? info.url.to_string() : report.url;
  if (name == "num_redirects") return std::to_string(info.redirects);
  if (name == "remote_ip") return info.peer_address;
  if (name == "remote_port") return report.transfer ? std::to_string(info.peer_port) : "";
  if (name == "size_download") return std::to_string(report.size_download);
  if (name == "content_type") return report.content_type;
  if (name == "exitcode") return std::to_string(report.exit_code);
  if (name == "errormsg") return report.errormsg;
  return std::nullopt;
}

}  // namespace

std::string format_write_out(std::string_view format, const TransferReport& report) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    const bool has_next = i + 1 < format.size();
    if (c == '%' && has_next && format[i + 1] == '%') {
      out += '%';
      ++i;
    } else if (c == '%' && has_next && format[i + 1] == '{') {
      const auto close = format.find('}', i + 2);
      if (close == std::string_view::npos) {  // curl prints an unterminated %{ as it is
        out += format.substr(i);
        break;
      }
      out += variable(format.substr(i + 2, close - i - 2), report).value_or("");
      i = close;
    } else if (c == '\\' && has_next && std::string_view("nrt\\").find(format[i + 1]) != std::string_view::npos) {
      const char escaped = format[++i];
      out += escaped == 'n' ? '\n' : escaped == 'r' ? '\r' : escaped == 't' ? '\t' : '\\';
    } else {
      out += c;
    }
  }
  return out;
}

std::expected<std::string, Failure> load_write_out(const std::string& argument, std::istream& in) {
  if (!argument.starts_with('@')) return argument;
  const std::string path = argument.substr(1);
  if (path == "-") return std::string(std::istreambuf_iterator<char>(in), {});
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return std::unexpected(Failure{exit_code::read_failed, "io_error", fmt::format("cannot read the -w file '{}'", path)});
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace quiver::cli
