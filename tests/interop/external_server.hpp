#pragma once
// ExternalServer: a real third-party server (Debian's caddy for HTTP/3 and HTTP/2, ngtcp2's gtlsserver for
// HTTP/3, nghttp2's nghttpd for HTTP/2) run as a child process on 127.0.0.1 at a free port, serving a
// directory, for the interop tests.
//
// Invariants:
// - A started server has bound its sockets (UDP and/or TCP, as it serves) on 127.0.0.1:port() — checked by
//   matching the socket inodes in /proc/net/{udp,tcp} against the child's own open fds, so a port
//   taken by someone else never passes for ready.
// - The destructor always stops and reaps the child (SIGTERM, bounded wait, then SIGKILL), and every
//   wait is bounded: a broken server can fail a test but never hang the suite.
// - The child runs in its own process group and gets SIGKILL if the thread that started it dies
//   (PR_SET_PDEATHSIG), so even a crashing test binary leaves no server behind. Start servers from the
//   test's main thread, which lives as long as the test.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "docroot.hpp"

namespace quiver::interop {

enum class ServerKind { caddy, gtlsserver, nghttpd };
std::string_view to_string(ServerKind kind) noexcept;
// For GoogleTest's messages about parameterized tests.
inline void PrintTo(ServerKind kind, std::ostream* out) { *out << to_string(kind); }

// The executable for `kind`: $QUIVER_CADDY / $QUIVER_GTLSSERVER / $QUIVER_NGHTTPD if set, else the Debian
// package's path (/usr/bin/caddy, /usr/sbin/gtlsserver, /usr/sbin/nghttpd). nghttpd runs with
// --echo-upload (a POST's body comes back) and adds the trailer `x-quiver-trailer: served` to responses
// with a body.
std::filesystem::path server_binary(ServerKind kind);

// The certificate and key (PEM) the server presents.
struct ServerTls {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::string groups;  // gtlsserver only: the key-exchange groups it accepts (its --groups); "" = its default
};

// tests/data/server.pem and server-key.pem: valid for localhost, 127.0.0.1 and ::1, signed by ca.pem.
ServerTls test_server_tls();
// tests/data/ca.pem: the trust anchor for test_server_tls().
std::filesystem::path test_ca_file();

class ExternalServer {
 public:
  // Starts `kind` on 127.0.0.1 at a free port (UDP and TCP), serving `docroot`, and waits until it is
  // listening. Retries with another port if the server exits early (the port may have been taken in
  // between). Fails with a message — including the server's log — if the binary is missing, the
  // server keeps exiting, or it is not listening within `ready_timeout`.
  static std::expected<std::unique_ptr<ExternalServer>, std::string> start(
      ServerKind kind, const std::filesystem::path& docroot, const ServerTls& tls = test_server_tls(),
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // Stops the server and reaps it; bounded (a few seconds at most).
  ~ExternalServer();
  ExternalServer(const ExternalServer&) = delete;
  ExternalServer& operator=(const ExternalServer&) = delete;

  ServerKind kind() const noexcept { return kind_; }
  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  // True while the child has not exited.
  bool running() const;
  // True if the child has bound 127.0.0.1:port() — UDP (caddy, gtlsserver) and TCP (caddy, nghttpd).
  bool listening() const;
  // The last `max_bytes` of the server's stdout and stderr, for failure messages.
  std::string log_tail(std::size_t max_bytes = 4000) const;
  // gtlsserver: the folder of its qlog files, one per connection (what the server sent and received).
  std::filesystem::path qlog_dir() const;
  // The exact command line the server was started with, for failure messages.
  const std::string& command_line() const noexcept { return command_line_; }

 private:
  ExternalServer(ServerKind kind, TempDir work_dir, std::uint16_t port);
  // One attempt at one port: write the config, spawn, wait until listening or gone.
  std::expected<void, std::string> launch(const std::filesystem::path& docroot, const ServerTls& tls,
                                          std::chrono::milliseconds ready_timeout);
  void stop() noexcept;

  ServerKind kind_;
  TempDir work_dir_;  // config, server state (HOME, XDG dirs) and server.log; removed last
  std::uint16_t port_;
  pid_t pid_ = -1;    // -1 once reaped (or never started)
  std::string command_line_;
};

// True if a process with this pid exists (including a zombie not yet reaped by its parent).
bool process_exists(pid_t pid);

}  // namespace quiver::interop
