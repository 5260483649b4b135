#include "docroot.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace quiver::interop {

namespace fs = std::filesystem;

namespace {

fs::path temp_base() {
  const char* tmpdir = std::getenv("TMPDIR");
  return (tmpdir != nullptr && *tmpdir != '\0') ? fs::path(tmpdir) : fs::path("/tmp");
}

// splitmix64: a tiny, well-mixed generator; good enough that a misplaced chunk never compares equal.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::expected<void, std::string> write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return std::unexpected("cannot write " + path.string());
  }
  return {};
}

}  // namespace

std::expected<TempDir, std::string> TempDir::create(std::string_view prefix) {
  std::string pattern = (temp_base() / ("quiver-interop-" + std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return std::unexpected("mkdtemp(" + pattern + ") failed: " + std::strerror(errno));
  }
  return TempDir(fs::path(pattern));
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir::~TempDir() {
  if (path_.empty() || std::getenv("QUIVER_INTEROP_KEEP_TMP") != nullptr) {
    return;
  }
  std::error_code ignored;  // best effort: a destructor must not throw
  fs::remove_all(path_, ignored);
}

std::string deterministic_bytes(std::size_t size, std::uint64_t seed) {
  std::string bytes(size, '\0');
  std::uint64_t state = seed ^ size;
  for (std::size_t i = 0; i < size; i += sizeof(std::uint64_t)) {
    const std::uint64_t word = splitmix64(state);
    std::memcpy(bytes.data() + i, &word, std::min(sizeof word, size - i));
  }
  return bytes;
}

const std::vector<ServedFile>& standard_files() {
  static const std::vector<ServedFile> files{
      {"1kb.bin", 1024, "1KB"},
      {"1mb.bin", 1024 * 1024, "1MB"},
      {"10mb.bin", 10 * 1024 * 1024, "10MB"},
  };
  return files;
}

std::expected<Docroot, std::string> Docroot::create() {
  auto dir = TempDir::create("docroot");
  if (!dir) {
    return std::unexpected(dir.error());
  }
  Docroot docroot(std::move(*dir));
  std::uint64_t seed = 1;
  for (const ServedFile& file : standard_files()) {
    std::string bytes = deterministic_bytes(file.size, seed++);
    if (auto written = write_file(docroot.path() / file.name, bytes); !written) {
      return std::unexpected(written.error());
    }
    docroot.files_.emplace_back(file.name, std::move(bytes));
  }
  return docroot;
}

const std::string& Docroot::contents(std::string_view name) const {
  for (const auto& [file_name, bytes] : files_) {
    if (file_name == name) {
      return bytes;
    }
  }
  throw std::out_of_range("no served file named " + std::string(name));
}

}  // namespace quiver::interop
