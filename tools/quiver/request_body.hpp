#pragma once
// The request bodies the fetch command builds, with curl's meaning: -d and friends joined into one
// string, -F as a multipart/form-data body whose file parts are read as they are sent, -T as a streamed
// upload. Files are checked (readable, size) when the body is planned, before any connection.

#include <cstdint>
#include <expected>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "quiver/body.hpp"

namespace quiver::cli {

// Percent-encodes every byte but ALPHA, DIGIT and "-._~" (RFC 3986 unreserved; uriparser), as curl's
// --data-urlencode does.
std::string url_encode(std::string_view text);

// The -d/--data-*/--json items as one string: '&' between items (none before a --json item), files
// and stdin read, -d's CR and LF stripped, --data-urlencode encoded. A file that cannot be read fails
// with exit code 26.
std::expected<std::string, Failure> join_data(const std::vector<DataItem>& items, std::istream& stdin_stream);

// One -F argument: "name=value", "name=@file" (a file part: its name is sent, its bytes streamed),
// "name=<file" (the file's bytes as the value), each optionally followed by ";type=TYPE" and
// ";filename=NAME"; a value in double quotes may hold ';'.
struct FormPart {
  std::string name;
  std::string value;                 // the text, or the file path when `file` is set
  bool file = false;                 // value is a path read when sent
  bool send_filename = false;        // '@': the part has a filename (the file's base name unless given)
  std::string filename;
  std::string content_type;          // empty: none for text, a guess from the extension for '@' files
  bool operator==(const FormPart&) const = default;
};
std::expected<FormPart, std::string> parse_form_part(std::string_view text);

// A multipart/form-data body: literal segments and files, with its total length known up front.
class MultipartBody {
 public:
  // Reads stdin for "@-"/"<-" parts; checks every file. `boundary` is used as given (tests); empty
  // picks a random one as curl does.
  static std::expected<MultipartBody, Failure> plan(const std::vector<FormPart>& parts, std::istream& stdin_stream,
                                                    std::string boundary = "");

  const std::string& boundary() const noexcept { return boundary_; }
  std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }
  std::uint64_t size() const noexcept { return size_; }
  // A fresh body (a producer that streams the segments in order); call once per attempt.
  RequestBody make_body() const;

  struct Segment {
    std::string bytes;  // literal text, or the path of a file when is_file
    bool is_file = false;
  };
  const std::vector<Segment>& segments() const noexcept { return segments_; }

 private:
  std::string boundary_;
  std::vector<Segment> segments_;
  std::uint64_t size_ = 0;
};

// A -T body: the file (read as it is sent) and its size, or stdin ("-") streamed by a reader thread.
struct UploadBody {
  std::string path;   // "-" for stdin
  std::optional<std::uint64_t> size;  // a regular file's size
  RequestBody make_body(std::istream& stdin_stream) const;
};
std::expected<UploadBody, Failure> plan_upload(const std::string& path);

}  // namespace quiver::cli
