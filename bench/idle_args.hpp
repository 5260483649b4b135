// The command line shared by the idle-connection probes (bench/quiver_idle_conns.cpp and
// bench/curl_idle_conns.cpp): both take the same options, so one parser serves them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace quiver::bench {

struct IdleArgs {
  std::string url;
  std::string ca_file;
  long connections = 1;
  double idle_s = 2.0;
};

// Exits with status 2 and `program: message` on stderr.
[[noreturn]] inline void die(std::string_view program, const std::string& message) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(), message.c_str());
  std::exit(2);
}

// Parses argv; prints `usage` and exits 0 for --help, exits 2 on a bad option.
inline IdleArgs parse_idle_args(int argc, char** argv, std::string_view program, std::string_view usage) {
  IdleArgs args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(program, std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      std::exit(0);
    } else if (arg == "-c" || arg == "--connections") {
      args.connections = std::strtol(value().c_str(), nullptr, 10);
      if (args.connections < 1 || args.connections > 10000) die(program, "-c: 1 to 10000");
    } else if (arg == "--cacert") {
      args.ca_file = value();
    } else if (arg == "--idle") {
      args.idle_s = std::strtod(value().c_str(), nullptr);
      if (!(args.idle_s >= 0)) die(program, "--idle: seconds >= 0");
    } else if (arg == "--json") {
      // the output is always JSON
    } else if (arg.starts_with('-')) {
      die(program, "unknown option " + std::string(arg) + " (see --help)");
    } else {
      args.url = arg;
    }
  }
  if (args.url.empty()) die(program, "no URL (see --help)");
  return args;
}

}  // namespace quiver::bench
