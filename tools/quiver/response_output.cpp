#include "response_output.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace quiver::cli {

std::string status_line(int status, std::string_view http_version) { return fmt::format("HTTP/{} {}", http_version, status); }

void write_head(std::ostream& out, int status, const Headers& headers, std::string_view prefix, std::string_view eol,
                std::string_view http_version) {
  out << prefix << status_line(status, http_version) << eol;
  for (const Header& field : headers) out << prefix << field.name << ": " << field.value << eol;
}

std::string remote_file_name(const Url& url) {
  std::string_view path = url.target();
  path = path.substr(0, path.find('?'));
  std::string_view name = path.substr(path.rfind('/') + 1);
  if (name.empty() || name == "." || name == "..") return "index.html";
  return std::string(name);
}

std::optional<Failure> http_failure(int status, const std::string& url, bool fail) {
  if (!fail || status < 400) return std::nullopt;
  return Failure{exit_code::http_error, "http_error", fmt::format("the server answered {} for {}", status, url)};
}

OutputTarget OutputTarget::for_url(const FetchOptions& options, const Url& url, bool buffer_stdout) {
  OutputTarget target{buffer_stdout ? Kind::buffer : Kind::stdout_stream, ""};
  if (options.output_file) {
    target = {Kind::file, *options.output_file};
  } else if (options.remote_name) {
    std::filesystem::path dir = options.output_dir.value_or("");
    target = {Kind::file, (dir / remote_file_name(url)).string()};
  }
  if (target.kind == Kind::file) {
    target.append = options.continue_at.has_value() || options.continue_auto;
    target.no_clobber = options.no_clobber;
    target.create_dirs = options.create_dirs;
  }
  return target;
}

BodyWriter::BodyWriter(OutputTarget target, std::ostream& stdout_stream, bool include_head)
    : target_(std::move(target)), include_head_(include_head), stdout_(stdout_stream) {}

std::optional<Failure> BodyWriter::begin(int status, const Headers& headers, std::string_view http_version) {
  switch (target_.kind) {
    case OutputTarget::Kind::stdout_stream: sink_ = &stdout_; break;
    case OutputTarget::Kind::buffer: sink_ = &buffer_; break;
    case OutputTarget::Kind::file:
      if (auto failure = open_file()) return failure;
      sink_ = &file_;
      break;
  }
  if (include_head_ && *sink_) {
    write_head(*sink_, status, headers, "", "\r\n", http_version);
    *sink_ << "\r\n";
  }
  return check();
}

std::optional<Failure> BodyWriter::open_file() {
  std::error_code error;
  const std::filesystem::path path(target_.path);
  if (target_.create_dirs && path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), error);
    if (error) {
      return Failure{exit_code::write_failed, "io_error",
                     fmt::format("cannot create the directories of '{}': {}", target_.path, error.message())};
    }
  }
  if (target_.no_clobber && std::filesystem::exists(path, error)) {
    std::string free_name;
    for (int n = 1; n <= 100 && free_name.empty(); ++n) {
      std::string candidate = fmt::format("{}.{}", target_.path, n);
      if (!std::filesystem::exists(candidate, error)) free_name = std::move(candidate);
    }
    if (free_name.empty()) {
      return Failure{exit_code::write_failed, "io_error",
                     fmt::format("--no-clobber: '{}' and '{}.1' to '{}.100' all exist", target_.path, target_.path,
                                 target_.path)};
    }
    target_.path = std::move(free_name);
  }
  file_.open(target_.path, std::ios::binary | (target_.append ? std::ios::app : std::ios::trunc));
  return std::nullopt;
}

std::optional<Failure> BodyWriter::write(std::string_view chunk) {
  sink_->write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  return check();
}

std::optional<Failure> BodyWriter::finish() {
  if (sink_ == nullptr) return std::nullopt;
  sink_->flush();
  auto failure = check();
  if (file_.is_open()) file_.close();
  return failure;
}

std::optional<Failure> BodyWriter::check() {
  if (*sink_) return std::nullopt;
  if (target_.kind == OutputTarget::Kind::file) {
    return Failure{exit_code::write_failed, "io_error",
                   fmt::format("cannot write output file '{}': {}", target_.path, std::strerror(errno))};
  }
  return Failure{exit_code::write_failed, "io_error", "cannot write to stdout"};
}

std::optional<Failure> HeaderDump::write(int status, const Headers& headers) {
  std::lock_guard lock(mutex_);
  std::ostream* out = &stdout_;
  if (path_ != "-") {
    if (!file_.is_open()) file_.open(path_, std::ios::binary | std::ios::trunc);
    out = &file_;
  }
  write_head(*out, status, headers, "", "\r\n");
  *out << "\r\n";
  out->flush();
  if (*out) return std::nullopt;
  return Failure{exit_code::write_failed, "io_error",
                 path_ == "-" ? std::string("cannot write to stdout")
                              : fmt::format("cannot write header file '{}': {}", path_, std::strerror(errno))};
}

}  // namespace quiver::cli
