#pragma once
// Shared by quiver_handshakes and curl_handshakes: arguments, the mode, timing and CPU accounting, and
// the one-line JSON result both print.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::bench {

// cold: every connection a full handshake (no ticket kept); resumed: a ticket from the previous
// connection (the first connection is a full one and is not counted); early: resumed plus 0-RTT.
enum class HandshakeMode { cold, resumed, early };

struct HandshakeArgs {
  std::string url;
  std::string ca_file;
  int connections = 200;
  HandshakeMode mode = HandshakeMode::cold;
  // --auto: HTTP/3 first, TCP as the fallback (quiver's default, curl's --http3) instead of HTTP/3 only.
  bool auto_protocol = false;
  // --fresh-client (quiver): a new Client per connection, with its own copy of the CA file, so nothing
  // one connection learnt (a broken-HTTP/3 mark, Alt-Svc, a verified certificate chain) helps the next
  // and the trust anchors are loaded again: every connection is a first contact, as each of libcurl's
  // easy handles here is.
  bool fresh_client = false;
  // --one-thread (quiver): the Client runs on the benchmark's own io_context, in its one thread (the
  // Client(io_context&) constructor), as libcurl's multi handle runs in the caller's thread: no io thread,
  // no hand-over between threads.
  bool one_thread = false;
};

[[noreturn]] inline void handshake_die(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nusage: %s --cacert FILE [-n N] [--mode cold|resumed|early] [--auto] [--fresh-client | --one-thread] URL\n", program,
               message.c_str(), program);
  std::exit(2);
}

inline HandshakeArgs parse_handshake_args(int argc, char** argv, const char* program) {
  HandshakeArgs args;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) handshake_die(program, std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--cacert") {
      args.ca_file = value();
    } else if (arg == "-n") {
      args.connections = std::atoi(value().c_str());
    } else if (arg == "--mode") {
      std::string mode = value();
      if (mode == "cold") args.mode = HandshakeMode::cold;
      else if (mode == "resumed") args.mode = HandshakeMode::resumed;
      else if (mode == "early") args.mode = HandshakeMode::early;
      else handshake_die(program, "unknown mode " + mode);
    } else if (arg == "--auto") {
      args.auto_protocol = true;
    } else if (arg == "--fresh-client") {
      args.fresh_client = true;
    } else if (arg == "--one-thread") {
      args.one_thread = true;
    } else if (!arg.empty() && arg[0] != '-' && args.url.empty()) {
      args.url = arg;
    } else {
      handshake_die(program, "unknown argument " + std::string(arg));
    }
  }
  if (args.url.empty() || args.ca_file.empty() || args.connections < 1) handshake_die(program, "missing arguments");
  return args;
}

inline const char* mode_name(HandshakeMode mode) {
  switch (mode) {
    case HandshakeMode::cold: return "cold";
    case HandshakeMode::resumed: return "resumed";
    case HandshakeMode::early: return "early";
  }
  return "?";
}

// This process's CPU time (user + system, every thread) so far.
inline std::chrono::microseconds process_cpu() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto micros = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return std::chrono::duration_cast<std::chrono::microseconds>(micros(usage.ru_utime) + micros(usage.ru_stime));
}

// Collects per-connection times (request start to complete response) and prints the JSON line.
struct HandshakeTally {
  std::vector<double> response_ms;
  int failures = 0;
  int resumed = 0;      // connections the client reports as resumed (where it can tell)
  int early = 0;        // connections whose request went as accepted early data (where it can tell)

  void print(const char* client, const HandshakeArgs& args, std::chrono::microseconds cpu,
             std::chrono::nanoseconds wall) {
    std::vector<double> sorted = response_ms;
    std::sort(sorted.begin(), sorted.end());
    auto at = [&](double q) { return sorted.empty() ? 0.0 : sorted[static_cast<std::size_t>(q * (sorted.size() - 1))]; };
    const double n = std::max<double>(1, static_cast<double>(response_ms.size()));
    std::printf(
        "{\"client\":\"%s\",\"mode\":\"%s\",\"protocol\":\"%s\",\"fresh_client\":%s,\"one_thread\":%s,\"connections\":%zu,\"failures\":%d,\"resumed\":%d,\"early\":%d,"
        "\"median_ms\":%.3f,\"p90_ms\":%.3f,\"cpu_us_per_connection\":%.1f,\"connections_per_s\":%.1f}\n",
        client, mode_name(args.mode), args.auto_protocol ? "auto" : "h3", args.fresh_client ? "true" : "false",
        args.one_thread ? "true" : "false",
        response_ms.size(), failures, resumed, early, at(0.5), at(0.9),
        static_cast<double>(cpu.count()) / n,
        n / std::chrono::duration<double>(wall).count());
  }
};

}  // namespace quiver::bench
