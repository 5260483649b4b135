#pragma once
// FUZZ_CHECK(condition, message): a property violation in a fuzz target. Prints the message and aborts,
// which libFuzzer reports as a crash and saves the input (crash-<sha1>), like any sanitizer finding.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace quiver::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* condition, std::string_view message) {
  std::fprintf(stderr, "\n%s:%d: FUZZ_CHECK(%s) failed: %.*s\n", file, line, condition,
               static_cast<int>(message.size()), message.data());
  std::abort();
}

}  // namespace quiver::fuzz

#define FUZZ_CHECK(condition, message)                                                  \
  do {                                                                                  \
    if (!(condition)) ::quiver::fuzz::check_failed(__FILE__, __LINE__, #condition, (message)); \
  } while (false)
