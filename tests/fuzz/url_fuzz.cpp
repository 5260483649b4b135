// libFuzzer target: quiver::Url::parse on arbitrary bytes.
//
// Input format: the whole input is the URL text (any bytes, NUL included).
//
// Checks:
//  - parse never crashes, leaks or trips a sanitizer; a rejection is ErrorKind::invalid_url and its
//    message can be formatted;
//  - an accepted URL is https, has a non-empty lowercase host, a port in 1..65535 and a target that
//    starts with '/' and holds no space, control byte or '#';
//  - to_string() of an accepted URL parses again to an equal Url, and prints the same (a fixed point).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "quiver/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = quiver::Url::parse(text);
  if (!url) {
    FUZZ_CHECK(url.error().kind() == quiver::ErrorKind::invalid_url, url.error().to_string());
    FUZZ_CHECK(!url.error().to_string().empty(), "empty error message");
    return 0;
  }
  FUZZ_CHECK(url->scheme() == "https", url->scheme());
  FUZZ_CHECK(!url->host().empty(), "empty host accepted");
  for (char c : url->host()) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "host not lowercase: " + url->host());
  FUZZ_CHECK(url->port() != 0, "port 0 accepted");
  const std::string& target = url->target();
  FUZZ_CHECK(!target.empty() && target.front() == '/', "target must start with '/': " + target);
  for (char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte > 0x20 && byte != 0x7f && c != '#', "bad byte in target: " + target);
  }

  const std::string printed = url->to_string();
  auto again = quiver::Url::parse(printed);
  FUZZ_CHECK(again.has_value(), "to_string() does not re-parse: '" + printed + "': " +
                                    (again ? std::string() : again.error().to_string()));
  FUZZ_CHECK(*again == *url, "re-parsed URL differs: '" + printed + "' -> '" + again->to_string() + "'");
  FUZZ_CHECK(again->to_string() == printed, "to_string() is not a fixed point: " + printed);
  return 0;
}
