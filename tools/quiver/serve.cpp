#include "serve.hpp"

#include <chrono>
#include <csignal>
#include <ctime>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <pthread.h>

#include "console.hpp"
#include "exit_codes.hpp"
#include "self_signed.hpp"
#include "units.hpp"

namespace quiver::cli {

namespace {

// How long a graceful stop waits for connections to drain before closing what is left.
constexpr std::chrono::seconds drain_limit{5};
constexpr std::chrono::milliseconds drain_poll{50};

std::string wall_clock_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  return fmt::format("{:02}:{:02}:{:02}.{:03}", local.tm_hour, local.tm_min, local.tm_sec, ms);
}

// SIGINT and SIGTERM, blocked in the calling thread (and so in every thread it starts afterwards, such as
// the server's io thread), to be taken with sigwait: no async signal handler is needed.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// GOAWAY on every connection, then wait (bounded) for them to finish; a second signal cuts it short.
void drain(server::Server& server, const sigset_t& signals, Console& out) {
  out.line(fmt::format("quiver serve: draining {} connection(s) (GOAWAY)", server.connection_count()));
  server.shutdown_gracefully();
  const auto deadline = std::chrono::steady_clock::now() + drain_limit;
  const timespec poll{0, std::chrono::duration_cast<std::chrono::nanoseconds>(drain_poll).count()};
  while (server.connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    if (sigtimedwait(&signals, nullptr, &poll) > 0) {
      out.line("quiver serve: second signal, closing now");
      break;
    }
  }
}

void print_banner(Console& out, const ServeOptions& options, std::uint16_t port,
                  const SelfSignedCertificate* generated) {
  const std::string origin = https_origin(options.host, port);
  const char* protocols = !options.tcp     ? "HTTP/3"
                          : !options.http3 ? "HTTP/2 and HTTP/1.1 over TCP"
                                           : "HTTP/3, and HTTP/2 and HTTP/1.1 over TCP";
  out.line(fmt::format("quiver serve: listening on {} ({})", origin, protocols));
  if (generated) {
    out.line(fmt::format("quiver serve: self-signed certificate {} (SHA-256 {})", generated->cert_file(),
                         generated->fingerprint()));
    out.line(fmt::format("quiver serve: public key {} (for --pinnedpubkey)", generated->public_key_pin()));
    out.line(fmt::format("quiver serve: try  quiver{} --cacert {} {}/bytes/16", options.http3 ? "" : " --http2",
                         generated->cert_file(), origin));
  } else {
    out.line(fmt::format("quiver serve: certificate {}", options.cert_file));
  }
  out.line("quiver serve: routes /bytes/N /echo /status/CODE /headers /delay/MS /stream/N /trailers "
           "/reset/CODE /close/CODE /goaway and httpbin's /get /post /anything /cookies /range/N /drip ... "
           "(see 'quiver serve --help'); Ctrl-C stops");
  if (options.connect_udp) {
    const auto& allowed = options.connect_udp_allow;
    out.line(fmt::format("quiver serve: CONNECT-UDP proxy at {}/.well-known/masque/udp/{{target_host}}/{{target_port}}/ "
                         "for {}",
                         origin, allowed.empty() ? "127.0.0.0/8 ::1/128" : fmt::format("{}", fmt::join(allowed, " "))));
  }
}

}  // namespace

std::string https_origin(const std::string& host, std::uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("https://[{}]:{}", host, port) : fmt::format("https://{}:{}", host, port);
}

std::string format_access_log(const server::AccessLogEntry& entry) {
  std::string line = fmt::format("[{}] {} {} {} {} bytes {} ms", wall_clock_now(),
                                 entry.method.empty() ? "-" : entry.method, entry.path.empty() ? "-" : entry.path,
                                 entry.status == 0 ? std::string("-") : std::to_string(entry.status),
                                 entry.bytes_sent, format_ms(entry.duration));
  if (entry.protocol != "h3") line += " " + entry.protocol;
  if (entry.app_error_code != h3_code::no_error) line += " reset " + h3_error_name(entry.app_error_code);
  return line;
}

int run_serve(const ServeOptions& options, Terminal terminal) {
  const sigset_t stop_signals = block_stop_signals();
  Console out(terminal.out, false);  // stdout, line by line: the banner, the access log

  std::optional<SelfSignedCertificate> generated;
  server::ServerOptions server_options;
  try {
    if (options.cert_file.empty()) generated.emplace();
    server_options.host = options.host;
    server_options.port = options.port;
    server_options.cert_file = generated ? generated->cert_file() : options.cert_file;
    server_options.key_file = generated ? generated->key_file() : options.key_file;
    server_options.max_streams = options.max_streams;
    server_options.idle_timeout = options.idle_timeout;
    server_options.goaway_after_requests = options.goaway_after;
    server_options.session_tickets = options.session_tickets;
    server_options.early_data = options.early_data;
    server_options.client_ca_file = options.client_ca_file;
    server_options.http3 = options.http3;
    server_options.tcp = options.tcp;
    server_options.datagrams = options.datagrams;
    server_options.extended_connect = options.datagrams;
    server_options.connect_udp = options.connect_udp;
    if (!options.connect_udp_allow.empty()) server_options.connect_udp_allow = options.connect_udp_allow;
    if (!options.quiet) {
      // Runs on the server's io thread; `out` outlives the server (declared first).
      server_options.access_log = [&out](const server::AccessLogEntry& entry) { out.line(format_access_log(entry)); };
    }
  } catch (const std::exception& error) {
    terminal.err << "quiver: serve: " << error.what() << '\n';
    return exit_code::failure;
  }

  server::Server server(std::move(server_options));
  if (auto started = server.start(); !started) {
    terminal.err << "quiver: serve: " << started.error().message() << '\n';
    return exit_code::failure;
  }
  print_banner(out, options, server.port(), generated ? &*generated : nullptr);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  out.line(fmt::format("quiver serve: {} received", signal == SIGINT ? "SIGINT" : "SIGTERM"));
  drain(server, stop_signals, out);
  server.stop();
  out.line("quiver serve: stopped");
  return exit_code::ok;
}

}  // namespace quiver::cli
