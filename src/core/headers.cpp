#include "quiver/headers.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace quiver {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return std::ranges::equal(a, b, [](char x, char y) { return detail::ascii_lower(x) == detail::ascii_lower(y); });
}

void Headers::add(std::string name, std::string value) {
  fields_.push_back(Header{std::move(name), std::move(value)});
}

// The field keeps the position of the first match, so replacing a value does not reorder the list.
void Headers::set(std::string name, std::string value) {
  auto first = std::ranges::find_if(fields_, [&](const Header& h) { return iequals(h.name, name); });
  if (first == fields_.end()) {
    add(std::move(name), std::move(value));
    return;
  }
  const auto position = first - fields_.begin();
  remove(name);
  fields_.insert(fields_.begin() + position, Header{std::move(name), std::move(value)});
}

std::size_t Headers::remove(std::string_view name) {
  return std::erase_if(fields_, [&](const Header& h) { return iequals(h.name, name); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  auto match = std::ranges::find_if(fields_, [&](const Header& h) { return iequals(h.name, name); });
  if (match == fields_.end()) return std::nullopt;
  return std::string_view(match->value);
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const Header& h : fields_) {
    if (iequals(h.name, name)) values.emplace_back(h.value);
  }
  return values;
}

}  // namespace quiver
