#pragma once
// Scratch space for the interop tests: temporary directories and a document root of deterministic
// files that the external servers serve and the tests compare downloads against.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::interop {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction — unless
// QUIVER_INTEROP_KEEP_TMP is set in the environment, which keeps it for post-mortem diagnosis.
class TempDir {
 public:
  // Creates "<tmp>/quiver-interop-<prefix>-XXXXXX"; fails with a message naming the path and errno.
  static std::expected<TempDir, std::string> create(std::string_view prefix);

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;  // empty once moved from
};

// `size` bytes of pseudo-random content that depends only on (size, seed): the same on every run.
std::string deterministic_bytes(std::size_t size, std::uint64_t seed);

// One file of the document root.
struct ServedFile {
  std::string name;   // e.g. "1mb.bin"; served at "/<name>"
  std::size_t size;   // bytes
  std::string label;  // short readable name for test names, e.g. "1MB"
};

inline void PrintTo(const ServedFile& file, std::ostream* out) { *out << file.name; }

// The files every interop server serves: 1 KB, 1 MB and 10 MB.
const std::vector<ServedFile>& standard_files();

// A temporary directory holding standard_files(), written once; contents stay in memory for comparison.
class Docroot {
 public:
  static std::expected<Docroot, std::string> create();

  const std::filesystem::path& path() const noexcept { return dir_.path(); }
  // The exact bytes of the file called `name`; throws std::out_of_range for an unknown name.
  const std::string& contents(std::string_view name) const;

 private:
  explicit Docroot(TempDir dir) : dir_(std::move(dir)) {}
  TempDir dir_;
  std::vector<std::pair<std::string, std::string>> files_;  // name -> bytes, as written to disk
};

}  // namespace quiver::interop
