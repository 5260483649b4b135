#include "client/alt_svc.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

#include <fmt/format.h>

#include "core/text.hpp"
#include "util/state_file.hpp"

namespace quiver::client {

namespace {

constexpr std::size_t kMaxFileBytes = 4 * 1024 * 1024;
constexpr std::string_view kFileHeader =
    "# Alt-Svc cache (curl's alt-svc file format), written by quiver.\n"
    "# src-alpn src-host src-port dst-alpn dst-host dst-port \"expiry UTC\" persist priority\n";

Error file_error(std::string message) { return Error(ErrorKind::io_error, ErrorClass::invalid, std::move(message)); }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Splits at `separator` outside double quotes (a backslash escapes the next character inside them).
std::vector<std::string_view> split_outside_quotes(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == separator) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// A token, or a quoted-string without its quotes and escapes.
std::optional<std::string> token_or_quoted(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
      if (text[i] == '\\' && i + 2 < text.size()) ++i;
      out.push_back(text[i]);
    }
    return out;
  }
  if (!detail::is_token(text)) return std::nullopt;
  return std::string(text);
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

template <class Number>
std::optional<Number> number(std::string_view text) {
  Number value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "[host]:port", "host:port" or ":port".
bool parse_authority(std::string_view authority, AltSvcAlternative& alternative) {
  std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = authority.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = number<std::uint16_t>(authority.substr(colon + 1));
  if (!port || *port == 0) return false;
  alternative.host = detail::to_lower(host);
  alternative.port = *port;
  return true;
}

std::optional<AltSvcAlternative> parse_alternative(std::string_view text) {
  auto parts = split_outside_quotes(text, ';');
  std::string_view head = trim(parts[0]);
  std::size_t equals = head.find('=');
  if (equals == std::string_view::npos) return std::nullopt;
  AltSvcAlternative alternative;
  auto alpn = percent_decode(trim(head.substr(0, equals)));
  auto authority = token_or_quoted(trim(head.substr(equals + 1)));
  if (!alpn || alpn->empty() || !authority || !parse_authority(*authority, alternative)) return std::nullopt;
  alternative.alpn = std::move(*alpn);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    std::string_view parameter = trim(parts[i]);
    std::size_t eq = parameter.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto value = token_or_quoted(trim(parameter.substr(eq + 1)));
    if (!value) return std::nullopt;
    if (detail::to_lower(trim(parameter.substr(0, eq))) != "ma") continue;  // others (persist) ignored
    auto seconds = number<std::uint64_t>(*value);
    if (!seconds) return std::nullopt;
    alternative.max_age = std::chrono::seconds(std::min<std::uint64_t>(*seconds, 365ULL * 24 * 3600));
  }
  return alternative;
}

// "YYYYMMDD HH:MM:SS" in UTC, as curl writes it.
std::string format_expiry(std::chrono::system_clock::time_point when) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d %H:%M:%S", &utc);
  return text;
}

std::optional<std::chrono::system_clock::time_point> parse_expiry(std::string_view text) {
  std::tm utc{};
  std::string copy(text);
  const char* end = strptime(copy.c_str(), "%Y%m%d %H:%M:%S", &utc);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&utc));
}

// Splits a file line into its fields; the quoted expiry is one field (without its quotes).
std::optional<std::vector<std::string>> file_fields(std::string_view line) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    if (line[i] == '"') {
      std::size_t close = line.find('"', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      fields.emplace_back(line.substr(i + 1, close - i - 1));
      i = close + 1;
      continue;
    }
    std::size_t end = line.find_first_of(" \t", i);
    if (end == std::string_view::npos) end = line.size();
    fields.emplace_back(line.substr(i, end - i));
    i = end;
  }
  return fields;
}

std::string host_for_file(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string host_from_file(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return detail::to_lower(host);
}

}  // namespace

std::optional<AltSvcField> parse_alt_svc(std::string_view value) {
  value = trim(value);
  if (value == "clear") return AltSvcField{.clear = true, .alternatives = {}};
  AltSvcField field;
  for (std::string_view part : split_outside_quotes(value, ',')) {
    if (trim(part).empty()) continue;  // "a, , b": empty list elements are allowed
    auto alternative = parse_alternative(part);
    if (!alternative) return std::nullopt;
    field.alternatives.push_back(std::move(*alternative));
  }
  if (field.alternatives.empty()) return std::nullopt;
  return field;
}

AltSvcCache::AltSvcCache(std::size_t capacity, std::string file, Clock now)
    : capacity_(capacity), file_(std::move(file)), now_(std::move(now)) {}

AltSvcCache::~AltSvcCache() {
  std::lock_guard lock(mutex_);
  if (behind_) save_locked();
}

std::optional<AltSvcEntry> AltSvcCache::lookup(const Origin& origin) {
  std::lock_guard lock(mutex_);
  auto it = std::ranges::find_if(entries_, [&](const AltSvcEntry& entry) {
    return entry.host == origin.host && entry.port == origin.port;
  });
  if (it == entries_.end()) return std::nullopt;
  if (it->expires <= now_()) {
    entries_.erase(it);
    save_locked();
    return std::nullopt;
  }
  return *it;
}

void AltSvcCache::on_field(const Origin& origin, std::string_view value) {
  auto field = parse_alt_svc(value);
  if (!field) return;
  std::lock_guard lock(mutex_);
  std::string host = detail::to_lower(origin.host);
  auto usable = std::ranges::find_if(field->alternatives, [&](const AltSvcAlternative& alternative) {
    return alternative.alpn == "h3" && (alternative.host.empty() || alternative.host == host);
  });
  if (field->clear || usable == field->alternatives.end() || usable->max_age.count() == 0) {
    if (erase_locked(origin)) save_locked();
    return;
  }
  store_locked(AltSvcEntry{origin.host, origin.port, usable->port, now_() + usable->max_age});
}

std::size_t AltSvcCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// Replaces the origin's entry and moves it to the front; writes the file unless only the expiry moved
// a little (kRefreshSlack): every response of a server that always sends Alt-Svc refreshes it.
void AltSvcCache::store_locked(AltSvcEntry entry) {
  if (capacity_ == 0) return;
  bool minor = false;
  auto it = std::ranges::find_if(entries_, [&](const AltSvcEntry& old) {
    return old.host == entry.host && old.port == entry.port;
  });
  if (it != entries_.end()) {
    minor = it->h3_port == entry.h3_port && entry.expires - it->expires < kRefreshSlack &&
            it->expires - entry.expires < kRefreshSlack;
    entries_.erase(it);
  }
  entries_.push_front(std::move(entry));
  while (entries_.size() > capacity_) entries_.pop_back();
  if (minor) {
    behind_ = !file_.empty();
    return;
  }
  save_locked();
}

bool AltSvcCache::erase_locked(const Origin& origin) {
  return std::erase_if(entries_, [&](const AltSvcEntry& entry) {
           return entry.host == origin.host && entry.port == origin.port;
         }) > 0;
}

void AltSvcCache::save_locked() {
  if (file_.empty()) return;
  std::string text = encode_locked();
  // Written under the lock so two changes cannot overtake each other on their way to the file.
  behind_ = !util::replace_state_file(file_, text);
}

std::string AltSvcCache::encode() const {
  std::lock_guard lock(mutex_);
  return encode_locked();
}

std::string AltSvcCache::encode_locked() const {
  std::string text(kFileHeader);
  for (const AltSvcEntry& entry : entries_) {
    std::string host = host_for_file(entry.host);
    text += fmt::format("h2 {} {} h3 {} {} \"{}\" 0 0\n", host, entry.port, host, entry.h3_port,
                        format_expiry(entry.expires));
  }
  return text;
}

Result<std::vector<AltSvcEntry>> AltSvcCache::decode(std::string_view text) {
  std::vector<AltSvcEntry> entries;
  std::size_t line_number = 0;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    auto fields = file_fields(line);
    auto bad = [&](std::string_view why) {
      return std::unexpected(file_error(fmt::format("line {}: {}", line_number, why)));
    };
    if (!fields || fields->size() != 9) return bad("not 9 fields (curl's alt-svc format)");
    auto& f = *fields;
    auto port = number<std::uint16_t>(f[2]);
    auto h3_port = number<std::uint16_t>(f[5]);
    auto expires = parse_expiry(f[6]);
    if (!port || !h3_port || *h3_port == 0 || !expires || !number<int>(f[7]) || !number<int>(f[8]))
      return bad("malformed port, expiry, persist or priority");
    std::string host = host_from_file(f[1]);
    if (f[3] != "h3" || host_from_file(f[4]) != host) continue;  // not an alternative quiver uses
    entries.push_back(AltSvcEntry{std::move(host), *port, *h3_port, *expires});
  }
  return entries;
}

Result<std::size_t> AltSvcCache::load_file() {
  if (file_.empty()) return 0;
  auto read = util::read_state_file(file_, kMaxFileBytes);
  if (read && !*read) return 0;  // first run: the first change creates it
  if (!read && read.error() == util::StateFileError::unreadable)
    return std::unexpected(file_error(fmt::format("cannot read Alt-Svc file '{}'", file_)));
  if (!read)
    return std::unexpected(file_error(fmt::format("Alt-Svc file '{}' ignored: larger than {} bytes", file_, kMaxFileBytes)));
  auto decoded = decode(**read);
  if (!decoded) {
    return std::unexpected(file_error(fmt::format("Alt-Svc file '{}' ignored: {}", file_, decoded.error().message())));
  }
  std::lock_guard lock(mutex_);
  entries_.clear();
  const auto now = now_();
  for (auto& entry : *decoded) {
    if (entry.expires <= now || entries_.size() >= capacity_) continue;
    if (std::ranges::any_of(entries_, [&](const AltSvcEntry& e) { return e.host == entry.host && e.port == entry.port; }))
      continue;
    entries_.push_back(std::move(entry));
  }
  return entries_.size();
}

}  // namespace quiver::client
