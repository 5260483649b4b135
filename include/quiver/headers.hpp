#pragma once
// An ordered list of HTTP header fields. Order and duplicates are kept; look-ups ignore ASCII case.

#include "quiver/config.hpp"

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quiver {

struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};

class Headers {
 public:
  using const_iterator = std::vector<Header>::const_iterator;

  Headers() = default;
  Headers(std::initializer_list<Header> fields) : fields_(fields) {}

  void add(std::string name, std::string value);
  // Replaces every field named `name` (any case) with one field.
  void set(std::string name, std::string value);
  // Removes every field named `name` (any case); returns how many were removed.
  std::size_t remove(std::string_view name);

  // The first value of `name` (any case), if present.
  std::optional<std::string_view> get(std::string_view name) const;
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  const Header& operator[](std::size_t i) const { return fields_[i]; }

  bool operator==(const Headers&) const = default;

 private:
  std::vector<Header> fields_;
};

// ASCII case-insensitive equality, as HTTP field names compare.
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace quiver
