#include "tls/session_cache.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <span>

#include <fmt/format.h>
#include <gnutls/crypto.h>

#include "util/state_file.hpp"

namespace quiver::tls {

namespace {

// Line 1 names the format; then one line per ticket, newest first:
//   <expiry, unix seconds> <hex key> <hex TLS session data> <hex transport parameters or "-">
// and last "end <count> <SHA-256 of every byte before this line, hex>". The count and checksum make a
// truncated or edited file fail as a whole.
constexpr std::string_view kMagic = "quiver-tls-sessions 1";
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

Error file_error(std::string message) { return Error(ErrorKind::io_error, ErrorClass::invalid, std::move(message)); }

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xf]);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int high = digit(text[2 * i]), low = digit(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return out;
}

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string sha256_hex(std::string_view text) {
  std::array<std::uint8_t, 32> digest{};
  gnutls_hash_fast(GNUTLS_DIG_SHA256, text.data(), text.size(), digest.data());
  return to_hex(digest);
}

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    std::size_t end = line.find(separator, start);
    parts.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

}  // namespace

std::string session_key(std::string_view alpn, const std::string& host, std::uint16_t port, const TlsOptions& tls) {
  // Whitespace-free parts joined by '|': the key is one token of the file format once hex-encoded.
  // The client certificate too: a session authenticated as one client is never resumed as another.
  return fmt::format("{}|{}|{}|verify={}|system={}|ca={}|capath={}|cert={}|key={}", alpn, host, port,
                     tls.verify_peer ? 1 : 0, tls.system_trust ? 1 : 0, tls.ca_file, tls.ca_path,
                     tls.client_certificate, tls.client_key);
}

SessionCache::SessionCache(std::size_t capacity, std::string file, Clock now)
    : capacity_(capacity), file_(std::move(file)), now_(std::move(now)) {}

SessionCache::~SessionCache() {
  if (unsaved_ && !file_.empty()) (void)save_file();
}

std::optional<StoredSession> SessionCache::take(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  bool changed = false;
  std::optional<StoredSession> found;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->session.expires <= now) {
      it = entries_.erase(it);
      changed = true;
      continue;
    }
    if (it->key == key) {
      found = std::move(it->session);
      entries_.erase(it);
      changed = true;
      break;
    }
    ++it;
  }
  if (changed) changed_locked();
  return found;
}

void SessionCache::put(const std::string& key, StoredSession session) {
  if (capacity_ == 0 || session.tls_data.empty()) return;
  std::lock_guard lock(mutex_);
  const auto now = now_();
  if (session.expires <= now) return;
  session.expires = std::min(session.expires, now + kMaxLifetime);
  entries_.push_front(Entry{key, std::move(session)});
  evict_locked();
  changed_locked();
}

std::size_t SessionCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// Keeps at most kTicketsPerKey per key and capacity_ in all, dropping the oldest.
void SessionCache::evict_locked() {
  const std::string& newest_key = entries_.front().key;
  std::size_t same_key = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->key == newest_key && ++same_key > kTicketsPerKey) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  while (entries_.size() > capacity_) entries_.pop_back();
}

void SessionCache::changed_locked() {
  if (file_.empty()) return;
  std::string text = encode_locked();
  // Written under the lock so two changes cannot overtake each other on their way to the file.
  unsaved_ = !util::replace_state_file(file_, text);
}

Result<void> SessionCache::save_file() {
  if (file_.empty()) return {};
  std::lock_guard lock(mutex_);
  changed_locked();
  if (unsaved_) return std::unexpected(file_error(fmt::format("cannot write TLS session file '{}'", file_)));
  return {};
}

std::string SessionCache::encode() const {
  std::lock_guard lock(mutex_);
  return encode_locked();
}

std::string SessionCache::encode_locked() const {
  std::string text = fmt::format("{}\n", kMagic);
  for (const Entry& entry : entries_) {
    const auto& tp = entry.session.transport_params;
    text += fmt::format("{} {} {} {}\n", unix_seconds(entry.session.expires), to_hex(bytes_of(entry.key)),
                        to_hex(entry.session.tls_data), tp.empty() ? std::string("-") : to_hex(tp));
  }
  text += fmt::format("end {} {}\n", entries_.size(), sha256_hex(text));
  return text;
}

Result<std::vector<std::pair<std::string, StoredSession>>> SessionCache::decode(std::string_view text) {
  if (!text.starts_with(kMagic) || text.size() <= kMagic.size() || text[kMagic.size()] != '\n')
    return std::unexpected(file_error("not a quiver TLS session file"));
  if (text.empty() || text.back() != '\n') return std::unexpected(file_error("truncated (no final line)"));
  std::size_t end_line = text.rfind("\nend ", text.size() - 1);
  if (end_line == std::string_view::npos) return std::unexpected(file_error("truncated (no end line)"));
  std::string_view body = text.substr(0, end_line + 1);
  auto trailer = split(text.substr(end_line + 1, text.size() - end_line - 2), ' ');
  if (trailer.size() != 3 || trailer[0] != "end") return std::unexpected(file_error("malformed end line"));
  if (trailer[2] != sha256_hex(body)) return std::unexpected(file_error("checksum mismatch (corrupt or edited)"));

  std::vector<std::pair<std::string, StoredSession>> sessions;
  std::vector<std::string_view> lines;  // the ticket lines, between the magic line and the end line
  if (body.size() > kMagic.size() + 1) lines = split(body.substr(kMagic.size() + 1, body.size() - kMagic.size() - 2), '\n');
  for (std::string_view line : lines) {
    auto fields = split(line, ' ');
    if (fields.size() != 4) return std::unexpected(file_error("malformed ticket line"));
    std::int64_t expires = 0;
    auto [ptr, ec] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), expires);
    auto key = from_hex(fields[1]);
    auto data = from_hex(fields[2]);
    auto tp = fields[3] == "-" ? std::optional<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{})
                               : from_hex(fields[3]);
    if (ec != std::errc() || ptr != fields[0].data() + fields[0].size() || !key || !data || !tp || data->empty())
      return std::unexpected(file_error("malformed ticket line"));
    StoredSession session{std::move(*data), std::move(*tp),
                          std::chrono::system_clock::time_point(std::chrono::seconds(expires))};
    sessions.emplace_back(std::string(key->begin(), key->end()), std::move(session));
  }
  if (trailer[1] != std::to_string(sessions.size())) return std::unexpected(file_error("ticket count mismatch"));
  return sessions;
}

Result<std::size_t> SessionCache::load_file() {
  if (file_.empty()) return 0;
  auto read = util::read_state_file(file_, kMaxFileBytes);
  if (read && !*read) return 0;  // first run: the first ticket creates it
  if (!read && read.error() == util::StateFileError::unreadable)
    return std::unexpected(file_error(fmt::format("cannot read TLS session file '{}'", file_)));
  if (!read)
    return std::unexpected(file_error(fmt::format("TLS session file '{}' ignored: larger than {} bytes", file_, kMaxFileBytes)));
  auto decoded = decode(**read);
  if (!decoded) {
    return std::unexpected(
        file_error(fmt::format("TLS session file '{}' ignored: {}", file_, decoded.error().message())));
  }
  std::lock_guard lock(mutex_);
  entries_.clear();
  const auto now = now_();
  for (auto& [key, session] : *decoded) {
    if (session.expires <= now || entries_.size() >= capacity_) continue;
    session.expires = std::min(session.expires, now + kMaxLifetime);
    entries_.push_back(Entry{std::move(key), std::move(session)});
  }
  return entries_.size();
}

}  // namespace quiver::tls
