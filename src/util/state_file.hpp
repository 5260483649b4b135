#pragma once
// The small files a Client keeps between runs (the TLS session file, the Alt-Svc file): read whole up to
// a size limit, and replaced atomically and privately, so a reader (another quiver process) sees the old
// file or the new one, never half of one, and nobody else can read tickets.

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace quiver::util {

enum class StateFileError { unreadable, too_large };

// The file's bytes; an empty optional when it does not exist (a first run).
std::expected<std::optional<std::string>, StateFileError> read_state_file(const std::string& path,
                                                                          std::size_t max_bytes);

// Writes `text` to a temporary file beside `path`, created 0600, and renames it over `path`. False on any
// failure, with the temporary file removed and `path` untouched.
bool replace_state_file(const std::string& path, std::string_view text);

}  // namespace quiver::util
