#pragma once
// Where a fetched body goes, and how a response head is shown: stdout, a buffer (for -Z, so bodies
// on stdout never interleave) or a file (-o, -O), with the status line and headers first under -i
// (curl's layout: CRLF line ends and a blank line).

#include <fstream>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "quiver/headers.hpp"
#include "quiver/url.hpp"

namespace quiver::cli {

// "HTTP/3 200" ("HTTP/2 200" over HTTP/2)
std::string status_line(int status, std::string_view http_version = "3");

// The status line and header fields, each line starting with `prefix` and ending with `eol`.
void write_head(std::ostream& out, int status, const Headers& headers, std::string_view prefix, std::string_view eol,
                std::string_view http_version = "3");

// -O's file name for `url`: the last segment of its path (query dropped, as is), or "index.html" when
// that is empty, "." or "..".
std::string remote_file_name(const Url& url);

// With -f, the failure a status >= 400 means (exit code 22).
std::optional<Failure> http_failure(int status, const std::string& url, bool fail);

// Where one transfer's body goes.
struct OutputTarget {
  enum class Kind { stdout_stream, buffer, file };
  Kind kind = Kind::stdout_stream;
  std::string path;          // Kind::file
  bool append = false;       // -C: add to the file instead of replacing it
  bool no_clobber = false;   // --no-clobber: an existing file is kept; PATH.1 .. PATH.100 instead
  bool create_dirs = false;  // --create-dirs

  // -o, -O (--output-dir) or stdout; stdout becomes a buffer when `buffer_stdout` (several at once).
  static OutputTarget for_url(const FetchOptions& options, const Url& url, bool buffer_stdout);
};

// Writes one body to its target. A file is created only when begin() is called, so a failed request
// (or -f on an error status) leaves no file behind. Not thread-safe; one transfer uses it.
class BodyWriter {
 public:
  // `stdout_stream` is borrowed for the writer's lifetime.
  BodyWriter(OutputTarget target, std::ostream& stdout_stream, bool include_head);
  BodyWriter(const BodyWriter&) = delete;
  BodyWriter& operator=(const BodyWriter&) = delete;

  // Opens the target and, with -i, writes the head.
  std::optional<Failure> begin(int status, const Headers& headers, std::string_view http_version = "3");
  std::optional<Failure> write(std::string_view chunk);
  // Flushes (and closes a file).
  std::optional<Failure> finish();
  // Kind::buffer: everything written so far.
  std::string take_buffer() { return std::move(buffer_).str(); }
  // Kind::file: the file written (PATH.N under --no-clobber), once begun.
  const std::string& path() const noexcept { return target_.path; }

 private:
  std::optional<Failure> check();
  std::optional<Failure> open_file();

  OutputTarget target_;
  bool include_head_;
  std::ostream& stdout_;
  std::ofstream file_;
  std::ostringstream buffer_;
  std::ostream* sink_ = nullptr;  // one of the three above, once begin() succeeded
};

// -D: every response head of the command, in curl's layout ("HTTP/3 200", fields, a blank line, CRLF
// line ends), to a file (created at the first head, appended to afterwards) or stdout ("-").
// Thread-safe.
class HeaderDump {
 public:
  // `stdout_stream` is borrowed for the dump's lifetime.
  HeaderDump(std::string path, std::ostream& stdout_stream) : path_(std::move(path)), stdout_(stdout_stream) {}
  std::optional<Failure> write(int status, const Headers& headers);

 private:
  std::mutex mutex_;
  std::string path_;
  std::ostream& stdout_;
  std::ofstream file_;
};

}  // namespace quiver::cli
