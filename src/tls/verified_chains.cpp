#include "tls/verified_chains.hpp"

#include <algorithm>
#include <cstdint>

namespace quiver::tls {

namespace {

void append_number(std::string& out, std::size_t number) {
  const auto value = static_cast<std::uint32_t>(number);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

void append_field(std::string& out, const unsigned char* data, std::size_t size) {
  append_number(out, size);
  out.append(reinterpret_cast<const char*>(data), size);
}

}  // namespace

std::string VerifiedChains::key(std::string_view host, std::span<const gnutls_datum_t> chain,
                                std::span<const gnutls_datum_t> ocsp_responses) {
  std::string out;
  append_field(out, reinterpret_cast<const unsigned char*>(host.data()), host.size());
  for (const auto* part : {&chain, &ocsp_responses}) {
    append_number(out, part->size());
    for (const gnutls_datum_t& item : *part) append_field(out, item.data, item.size);
  }
  return out;
}

bool VerifiedChains::contains(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = std::ranges::find(entries_, key, &Entry::key);
  if (it == entries_.end()) return false;
  if (now >= it->until) {
    entries_.erase(it);
    return false;
  }
  Entry used = std::move(*it);
  entries_.erase(it);
  entries_.push_back(std::move(used));
  return true;
}

void VerifiedChains::remember(std::string key, Clock::time_point expires, Clock::time_point now) {
  const Clock::time_point until = std::min(now + kVerifiedFor, expires);
  if (until <= now) return;
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.key == key || entry.until <= now; });
  entries_.push_back({std::move(key), until});
  while (entries_.size() > kMaxChains) entries_.pop_front();
}

std::size_t VerifiedChains::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace quiver::tls
