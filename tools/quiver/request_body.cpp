#include "request_body.hpp"

#include <uriparser/Uri.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

constexpr std::size_t chunk_size = 64 * 1024;

std::expected<std::string, std::string> read_stream(std::istream& in) {
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return std::unexpected(std::string("read error"));
  return std::move(contents).str();
}

std::expected<std::string, std::string> read_whole_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return std::unexpected(std::string("it is a directory"));
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected(std::string(std::strerror(errno)));
  return read_stream(file);
}

Failure unreadable(const std::string& what, const std::string& path, const std::string& why) {
  const std::string name = path == "-" ? "stdin" : "'" + path + "'";
  return Failure{exit_code::read_failed, "body_failed", fmt::format("cannot read {} {}: {}", what, name, why)};
}

// A file's contents or stdin's ("-").
std::expected<std::string, Failure> load(const std::string& path, std::istream& stdin_stream, const char* what) {
  auto contents = path == "-" ? read_stream(stdin_stream) : read_whole_file(path);
  if (!contents) return std::unexpected(unreadable(what, path, contents.error()));
  return std::move(*contents);
}

std::string strip_line_ends(std::string text) {
  std::erase_if(text, [](char c) { return c == '\r' || c == '\n'; });
  return text;
}

// --data-urlencode's forms (curl's rules: the first '=' or '@' decides).
std::expected<std::string, Failure> url_encoded_item(const std::string& text, std::istream& stdin_stream) {
  const auto split = text.find_first_of("=@");
  if (split == std::string::npos) return url_encode(text);
  const std::string name = text.substr(0, split);
  std::string content = text.substr(split + 1);
  if (text[split] == '@') {
    auto contents = load(content, stdin_stream, "data file");
    if (!contents) return std::unexpected(std::move(contents.error()));
    content = std::move(*contents);
  }
  return name.empty() ? url_encode(content) : name + "=" + url_encode(content);
}

std::expected<std::string, Failure> load_item(const DataItem& item, std::istream& stdin_stream) {
  using Kind = DataItem::Kind;
  if (item.kind == Kind::urlencode) return url_encoded_item(item.text, stdin_stream);
  if (item.kind == Kind::raw || !item.text.starts_with('@')) return item.text;
  auto contents = load(item.text.substr(1), stdin_stream, "data file");
  if (!contents) return std::unexpected(std::move(contents.error()));
  return item.kind == Kind::ascii ? strip_line_ends(std::move(*contents)) : std::move(*contents);
}

// curl's guess from a file name's extension (lib/mime.c); empty when it has none.
std::string content_type_for(std::string_view filename) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> types{{
      {".gif", "image/gif"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".png", "image/png"},
      {".svg", "image/svg+xml"}, {".txt", "text/plain"}, {".htm", "text/html"}, {".html", "text/html"},
      {".pdf", "application/pdf"}, {".xml", "application/xml"}}};
  for (const auto& [extension, type] : types) {
    if (filename.size() >= extension.size() && iequals(filename.substr(filename.size() - extension.size()), extension))
      return std::string(type);
  }
  return {};
}

// A name or file name inside a quoted Content-Disposition parameter, escaped as curl does.
std::string quoted_parameter(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"') out += "%22";
    else if (c == '\r') out += "%0D";
    else if (c == '\n') out += "%0A";
    else out += c;
  }
  return out;
}

// curl's shape: 24 dashes and 22 random alphanumerics (so the body's length matches curl's too).
std::string random_boundary() {
  static constexpr std::string_view alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::random_device device;
  std::mt19937_64 random(device());
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string boundary(24, '-');
  for (int i = 0; i < 22; ++i) boundary += alphabet[pick(random)];
  return boundary;
}

// Splits "value;type=x;filename=y" at the ';' that are outside double quotes.
std::vector<std::string> split_parameters(std::string_view text) {
  std::vector<std::string> pieces(1);
  bool quoted = false;
  for (char c : text) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (c == ';' && !quoted) {
      pieces.emplace_back();
      continue;
    }
    pieces.back() += c;
  }
  return pieces;
}

}  // namespace

std::string url_encode(std::string_view text) {
  std::string out(text.size() * 6 + 1, '\0');
  const char* end = uriEscapeExA(text.data(), text.data() + text.size(), out.data(), URI_FALSE, URI_FALSE);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return out;
}

std::expected<std::string, Failure> join_data(const std::vector<DataItem>& items, std::istream& stdin_stream) {
  std::string body;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto piece = load_item(items[i], stdin_stream);
    if (!piece) return std::unexpected(std::move(piece.error()));
    if (i > 0 && items[i].kind != DataItem::Kind::json) body += '&';
    body += *piece;
  }
  return body;
}

std::expected<FormPart, std::string> parse_form_part(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return std::unexpected(fmt::format("malformed -F '{}': expected NAME=VALUE, NAME=@FILE or NAME=<FILE", text));
  }
  FormPart part;
  part.name = std::string(text.substr(0, equals));
  std::string_view rest = text.substr(equals + 1);
  if (rest.starts_with('@') || rest.starts_with('<')) {
    part.file = true;
    part.send_filename = rest.front() == '@';
    rest.remove_prefix(1);
  }
  auto pieces = split_parameters(rest);
  part.value = pieces.front();
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    std::string_view piece = pieces[i];
    while (piece.starts_with(' ')) piece.remove_prefix(1);
    if (piece.starts_with("type=")) {
      part.content_type = std::string(piece.substr(5));
    } else if (piece.starts_with("filename=")) {
      part.filename = std::string(piece.substr(9));
    } else {
      return std::unexpected(fmt::format("-F '{}': unknown part parameter '{}' (quiver knows type= and filename=)",
                                         text, piece));
    }
  }
  if (part.file && part.value.empty()) return std::unexpected(fmt::format("-F '{}': no file name", text));
  if (part.send_filename && part.filename.empty()) {
    part.filename = part.value == "-" ? "" : std::filesystem::path(part.value).filename().string();
  }
  if (part.content_type.empty()) {
    part.content_type = content_type_for(part.filename);
    if (part.content_type.empty() && part.file) part.content_type = content_type_for(part.value);
    if (part.content_type.empty() && part.send_filename) part.content_type = "application/octet-stream";
  }
  return part;
}

std::expected<MultipartBody, Failure> MultipartBody::plan(const std::vector<FormPart>& parts,
                                                          std::istream& stdin_stream, std::string boundary) {
  MultipartBody body;
  body.boundary_ = boundary.empty() ? random_boundary() : std::move(boundary);
  const auto literal = [&](std::string text) {
    body.size_ += text.size();
    if (!body.segments_.empty() && !body.segments_.back().is_file) {
      body.segments_.back().bytes += text;
    } else {
      body.segments_.push_back({std::move(text), false});
    }
  };
  for (const FormPart& part : parts) {
    std::string head = fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"", body.boundary_,
                                   quoted_parameter(part.name));
    if (part.send_filename) head += fmt::format("; filename=\"{}\"", quoted_parameter(part.filename));
    head += "\r\n";
    if (!part.content_type.empty()) head += fmt::format("Content-Type: {}\r\n", part.content_type);
    literal(head + "\r\n");
    if (part.file && part.value == "-") {
      auto contents = load("-", stdin_stream, "form file");
      if (!contents) return std::unexpected(std::move(contents.error()));
      literal(std::move(*contents));
    } else if (part.file) {
      std::error_code error;
      const auto size = std::filesystem::file_size(part.value, error);
      if (error || !std::ifstream(part.value, std::ios::binary)) {
        return std::unexpected(unreadable("form file", part.value, error ? error.message() : std::strerror(errno)));
      }
      body.segments_.push_back({part.value, true});
      body.size_ += size;
    } else {
      literal(part.value);
    }
    literal("\r\n");
  }
  literal(fmt::format("--{}--\r\n", body.boundary_));
  return body;
}

RequestBody MultipartBody::make_body() const {
  // The producer runs on one io thread at a time; its state is its own.
  struct State {
    std::vector<Segment> segments;
    std::size_t next = 0;
    std::ifstream file;  // open while a file segment is being sent
  };
  auto state = std::make_shared<State>();
  state->segments = segments_;
  return RequestBody::from_producer([state]() -> std::optional<std::string> {
    while (state->next < state->segments.size()) {
      Segment& segment = state->segments[state->next];
      if (!segment.is_file) {
        ++state->next;
        return std::move(segment.bytes);
      }
      if (!state->file.is_open()) {
        state->file.open(segment.bytes, std::ios::binary);
        if (!state->file) throw std::runtime_error(fmt::format("cannot read form file '{}'", segment.bytes));
      }
      std::string chunk(chunk_size, '\0');
      state->file.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<std::size_t>(state->file.gcount()));
      if (state->file.bad()) throw std::runtime_error(fmt::format("read error in form file '{}'", segment.bytes));
      if (!chunk.empty()) return chunk;
      state->file.close();
      ++state->next;
    }
    return std::nullopt;
  });
}

std::expected<UploadBody, Failure> plan_upload(const std::string& path) {
  UploadBody upload{path, std::nullopt};
  if (path == "-") return upload;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return std::unexpected(unreadable("upload file", path, "it is a directory"));
  if (!std::ifstream(path, std::ios::binary)) return std::unexpected(unreadable("upload file", path, std::strerror(errno)));
  if (std::filesystem::is_regular_file(path, error)) upload.size = std::filesystem::file_size(path, error);
  return upload;
}

RequestBody UploadBody::make_body(std::istream& stdin_stream) const {
  if (path != "-") return RequestBody::from_file(path);
  // stdin may block: each chunk is read on a short-lived thread, never on the io thread. The stream
  // is the process's (or a test's) and outlives the request; one read at a time (the library asks for
  // the next chunk only after the previous one was delivered).
  std::istream* in = &stdin_stream;
  return RequestBody::from_async_producer([in](RequestBody::ChunkCallback next) {
    std::thread([in, next = std::move(next)] {
      std::string chunk(chunk_size, '\0');
      in->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<std::size_t>(in->gcount()));
      if (in->bad()) return next(std::unexpected(Error(ErrorKind::body_failed, "read error on stdin")));
      if (chunk.empty()) return next(std::optional<std::string>());
      next(std::optional<std::string>(std::move(chunk)));
    }).detach();
  });
}

}  // namespace quiver::cli
