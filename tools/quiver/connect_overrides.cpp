#include "connect_overrides.hpp"

#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

// Splits off the next field of a colon-separated spec: a bracketed IPv6 address ("[::1]" -> "::1") or
// everything up to the next ':'. Advances `rest` past the field and its colon.
std::optional<std::string> next_field(std::string_view& rest, bool last) {
  std::string field;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    field = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!last && !rest.starts_with(':')) return std::nullopt;
    if (!last) rest.remove_prefix(1);
    return field;
  }
  if (last) {
    field = rest;
    rest = {};
    return field;
  }
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  field = rest.substr(0, colon);
  rest.remove_prefix(colon + 1);
  return field;
}

// "" -> 0 when `optional`; otherwise 1..65535.
std::optional<std::uint16_t> port_field(std::string_view text, bool optional) {
  if (text.empty()) return optional ? std::optional<std::uint16_t>(0) : std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::expected<ConnectOverride, std::string> parse_resolve(std::string_view spec) {
  const auto bad = [&] { return std::unexpected(fmt::format("--resolve '{}': expected HOST:PORT:ADDRESS", spec)); };
  std::string_view rest = spec;
  auto host = next_field(rest, false);
  auto port_text = host ? next_field(rest, false) : std::nullopt;
  if (!host || !port_text || host->empty()) return bad();
  auto port = port_field(*port_text, false);
  std::string_view addresses = rest.substr(0, rest.find(','));  // the first address
  auto address = next_field(addresses, true);
  if (!port || !address || address->empty()) return bad();
  return ConnectOverride{*host, *port, *address, 0};
}

std::expected<ConnectOverride, std::string> parse_connect_to(std::string_view spec) {
  const auto bad = [&] {
    return std::unexpected(fmt::format("--connect-to '{}': expected HOST1:PORT1:HOST2:PORT2 (any may be empty)", spec));
  };
  std::string_view rest = spec;
  auto host = next_field(rest, false);
  auto port_text = host ? next_field(rest, false) : std::nullopt;
  auto connect_host = port_text ? next_field(rest, false) : std::nullopt;
  auto connect_port_text = connect_host ? next_field(rest, true) : std::nullopt;
  if (!connect_port_text) return bad();
  auto port = port_field(*port_text, true);
  auto connect_port = port_field(*connect_port_text, true);
  if (!port || !connect_port) return bad();
  return ConnectOverride{*host, *port, *connect_host, *connect_port};
}

}  // namespace quiver::cli
