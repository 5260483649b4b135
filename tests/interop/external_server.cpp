#include "external_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#ifndef QUIVER_TEST_DATA_DIR
#error "QUIVER_TEST_DATA_DIR must name tests/data"
#endif

extern char** environ;

namespace quiver::interop {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int max_launch_attempts = 3;
constexpr auto poll_interval = 20ms;
constexpr auto term_grace = 3s;     // SIGTERM to exit before SIGKILL
constexpr auto kill_timeout = 5s;   // SIGKILL to be reaped before giving up (never happens in practice)

std::string errno_text(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

// ---------------------------------------------------------------------------------------------------
// Free ports

// Binds a socket of `type` to 127.0.0.1:port (0 = any); returns the bound port, or 0 on failure.
std::uint16_t bind_loopback(int type, std::uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  std::uint16_t bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  ::close(fd);
  return bound;
}

// A port free on 127.0.0.1 for both UDP and TCP right now (caddy listens on both). Another process
// may still take it before the server binds; launch() detects that and retries.
std::expected<std::uint16_t, std::string> pick_free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::uint16_t port = bind_loopback(SOCK_DGRAM, 0);
    if (port != 0 && bind_loopback(SOCK_STREAM, port) == port) {
      return port;
    }
  }
  return std::unexpected("no UDP+TCP port free on 127.0.0.1 after 50 tries");
}

// ---------------------------------------------------------------------------------------------------
// Is the child listening? /proc/net/{udp,tcp} name the socket inode bound to each local address;
// /proc/<pid>/fd links to "socket:[inode]" for the sockets the child holds.

std::set<std::string> inodes_bound_to_port(const char* proc_table, std::uint16_t port) {
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, ":%04X", port);
  std::set<std::string> inodes;
  std::ifstream table(proc_table);
  std::string line;
  std::getline(table, line);  // header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (local.ends_with(suffix)) {
      inodes.insert(inode);
    }
  }
  return inodes;
}

std::set<std::string> socket_inodes_of(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string target = fs::read_symlink(entry.path(), ec).string();
    if (!ec && target.starts_with("socket:[") && target.ends_with("]")) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  return inodes;
}

bool holds_socket_on_port(pid_t pid, const char* proc_table, std::uint16_t port) {
  const std::set<std::string> bound = inodes_bound_to_port(proc_table, port);
  for (const std::string& inode : socket_inodes_of(pid)) {
    if (bound.contains(inode)) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Child processes

// Has `pid` exited? Does not reap it, so its pid (and process group id) cannot be reused meanwhile.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

bool wait_for_exit(pid_t pid, std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!has_exited(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Sends `signal` to the child's process group (everything it may have started) and to the child.
void signal_child(pid_t pid, int signal) {
  ::kill(-pid, signal);
  ::kill(pid, signal);
}

// The current environment with HOME and the XDG directories pointed at `home`, so the server writes
// nothing outside its temporary directory.
std::vector<std::string> child_environment(const fs::path& home) {
  std::vector<std::string> env;
  for (char** var = environ; *var != nullptr; ++var) {
    const std::string_view entry(*var);
    if (!entry.starts_with("HOME=") && !entry.starts_with("XDG_")) {
      env.emplace_back(entry);
    }
  }
  for (const char* name : {"HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"}) {
    env.push_back(std::string(name) + "=" + home.string());
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) {
    pointers.push_back(s.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the executable's path
  std::vector<std::string> env;
  fs::path working_dir;
  fs::path log_file;  // receives stdout and stderr
};

// In the forked child: only async-signal-safe calls until execve. Reports errno on `report_fd` and
// exits if anything fails.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, const char* working_dir, int log_fd,
                             int null_fd, int report_fd, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {  // the parent died before prctl took effect
    ::_exit(127);
  }
  if (::dup2(null_fd, STDIN_FILENO) >= 0 && ::dup2(log_fd, STDOUT_FILENO) >= 0 &&
      ::dup2(log_fd, STDERR_FILENO) >= 0 && ::chdir(working_dir) == 0) {
    ::execve(argv[0], argv, envp);
  }
  const int error = errno;
  [[maybe_unused]] const auto written = ::write(report_fd, &error, sizeof error);
  ::_exit(127);
}

// Forks and execs `spec`; returns the child's pid once execve has succeeded.
std::expected<pid_t, std::string> spawn(SpawnSpec spec) {
  std::vector<char*> argv = c_strings(spec.argv);
  std::vector<char*> envp = c_strings(spec.env);
  const std::string working_dir = spec.working_dir.string();
  const int log_fd = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2] = {-1, -1};  // closed by execve (CLOEXEC): EOF means the exec succeeded
  if (log_fd < 0 || null_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    const std::string message = errno_text("cannot prepare " + spec.log_file.string());
    for (int fd : {log_fd, null_fd, report[0], report[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return std::unexpected(message);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    exec_child(argv.data(), envp.data(), working_dir.c_str(), log_fd, null_fd, report[1], parent);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    return std::unexpected(std::string("fork: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // also in the child; whichever runs first wins, both mean the same
  int exec_errno = 0;
  ssize_t n;
  while ((n = ::read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (n > 0) {
    ::waitpid(pid, nullptr, 0);  // it has already called _exit
    return std::unexpected("cannot execute " + spec.argv[0] + ": " + std::strerror(exec_errno));
  }
  return pid;
}

std::string join(const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& word : words) {
    line += (line.empty() ? "" : " ") + word;
  }
  return line;
}

// ---------------------------------------------------------------------------------------------------
// Per-server configuration

// Caddyfile strings are double-quoted so that paths with spaces survive.
std::string quoted(const fs::path& path) { return "\"" + path.string() + "\""; }

std::string caddyfile(std::uint16_t port, const fs::path& work_dir, const fs::path& docroot,
                      const ServerTls& tls) {
  std::ostringstream out;
  out << "{\n"
      << "\tadmin off\n"
      << "\tauto_https disable_redirects\n"  // no HTTP->HTTPS listener on port 80
      << "\tstorage file_system " << quoted(work_dir / "caddy-data") << "\n"
      << "\tgrace_period 1s\n"  // bounded graceful shutdown on SIGTERM
      << "\tservers {\n\t\tprotocols h1 h2 h3\n\t}\n"
      << "}\n\n"
      << "https://127.0.0.1:" << port << " {\n"
      << "\tbind 127.0.0.1\n"
      << "\ttls " << quoted(tls.certificate) << " " << quoted(tls.private_key) << "\n"
      << "\troot * " << quoted(docroot) << "\n"
      // For -L and --compressed interop (redirect_compression_test.cpp): a redirect, and compression
      // for clients that ask (accept-encoding); nothing changes for the others.
      << "\tredir /moved /page.txt 301\n"
      << "\tredir /moved-relative page.txt 302\n"
      << "\tencode zstd gzip\n"
      << "\tfile_server\n"
      << "}\n";
  return out.str();
}

// Writes whatever config `kind` needs into `work_dir` and returns the command line to run it.
std::expected<std::vector<std::string>, std::string> prepare(ServerKind kind, std::uint16_t port,
                                                             const fs::path& work_dir,
                                                             const fs::path& docroot,
                                                             const ServerTls& tls) {
  const std::string binary = server_binary(kind).string();
  switch (kind) {
    case ServerKind::caddy: {
      const fs::path config = work_dir / "Caddyfile";
      std::ofstream(config) << caddyfile(port, work_dir, docroot, tls);
      if (!fs::exists(config)) {
        return std::unexpected("cannot write " + config.string());
      }
      return std::vector<std::string>{binary, "run", "--config", config.string(), "--adapter", "caddyfile"};
    }
    case ServerKind::nghttpd:
      // Argument order is <PORT> <PRIVATE_KEY> <CERT>.
      return std::vector<std::string>{binary, "-a", "127.0.0.1", "-d", docroot.string(), "--echo-upload",
                                      "--trailer", "x-quiver-trailer: served", std::to_string(port),
                                      tls.private_key.string(), tls.certificate.string()};
    case ServerKind::gtlsserver: {
      // -q: no per-packet dump; argument order is <ADDR> <PORT> <PRIVATE_KEY_FILE> <CERTIFICATE_FILE>.
      // A qlog per connection (qlog_dir()) shows the tests what the server received (0-RTT packets).
      const fs::path qlog = work_dir / "qlog";
      fs::create_directories(qlog);
      std::vector<std::string> arguments{binary, "-q", "-d", docroot.string(), "--qlog-dir=" + qlog.string()};
      if (!tls.groups.empty()) arguments.push_back("--groups=" + tls.groups);
      arguments.insert(arguments.end(), {"127.0.0.1", std::to_string(port), tls.private_key.string(),
                                         tls.certificate.string()});
      return arguments;
    }
  }
  return std::unexpected("unknown server kind");
}

std::string missing_binary_message(ServerKind kind) {
  const char* variable = kind == ServerKind::caddy ? "CADDY" : kind == ServerKind::nghttpd ? "NGHTTPD" : "GTLSSERVER";
  return std::string(to_string(kind)) + " is not installed: no executable at " +
         server_binary(kind).string() + " (scripts/setup.sh installs it; or set $QUIVER_" + variable + ")";
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

std::string_view to_string(ServerKind kind) noexcept {
  switch (kind) {
    case ServerKind::caddy:
      return "caddy";
    case ServerKind::gtlsserver:
      return "gtlsserver";
    case ServerKind::nghttpd:
      return "nghttpd";
  }
  return "unknown";
}

fs::path server_binary(ServerKind kind) {
  const char* variable = kind == ServerKind::caddy     ? "QUIVER_CADDY"
                         : kind == ServerKind::nghttpd ? "QUIVER_NGHTTPD"
                                                       : "QUIVER_GTLSSERVER";
  const char* override_path = std::getenv(variable);
  if (override_path != nullptr && *override_path != '\0') {
    return override_path;
  }
  switch (kind) {
    case ServerKind::caddy: return "/usr/bin/caddy";
    case ServerKind::nghttpd: return "/usr/sbin/nghttpd";
    case ServerKind::gtlsserver: break;
  }
  return "/usr/sbin/gtlsserver";
}

ServerTls test_server_tls() {
  const fs::path data(QUIVER_TEST_DATA_DIR);
  return {data / "server.pem", data / "server-key.pem", {}};
}

fs::path test_ca_file() { return fs::path(QUIVER_TEST_DATA_DIR) / "ca.pem"; }

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

std::expected<std::unique_ptr<ExternalServer>, std::string> ExternalServer::start(
    ServerKind kind, const fs::path& docroot, const ServerTls& tls,
    std::chrono::milliseconds ready_timeout) {
  if (::access(server_binary(kind).c_str(), X_OK) != 0) {
    return std::unexpected(missing_binary_message(kind));
  }
  for (const fs::path& pem : {tls.certificate, tls.private_key}) {
    if (!fs::exists(pem)) {
      return std::unexpected("TLS file missing: " + pem.string());
    }
  }
  std::string failures;
  for (int attempt = 1; attempt <= max_launch_attempts; ++attempt) {
    auto work_dir = TempDir::create(to_string(kind));
    auto port = pick_free_port();
    if (!work_dir || !port) {
      return std::unexpected(!work_dir ? work_dir.error() : port.error());
    }
    std::unique_ptr<ExternalServer> server(new ExternalServer(kind, std::move(*work_dir), *port));
    auto launched = server->launch(docroot, tls, ready_timeout);
    if (launched) {
      return server;
    }
    failures += "attempt " + std::to_string(attempt) + ": " + launched.error() + "\n";
    if (server->pid_ < 0 || server->running()) {
      break;  // could not spawn, or alive but not listening: another port will not help
    }
  }
  return std::unexpected(std::string(to_string(kind)) + " did not start:\n" + failures);
}

fs::path ExternalServer::qlog_dir() const { return work_dir_.path() / "qlog"; }

ExternalServer::ExternalServer(ServerKind kind, TempDir work_dir, std::uint16_t port)
    : kind_(kind), work_dir_(std::move(work_dir)), port_(port) {}

ExternalServer::~ExternalServer() { stop(); }

std::expected<void, std::string> ExternalServer::launch(const fs::path& docroot, const ServerTls& tls,
                                                        std::chrono::milliseconds ready_timeout) {
  auto argv = prepare(kind_, port_, work_dir_.path(), docroot, tls);
  if (!argv) {
    return std::unexpected(argv.error());
  }
  command_line_ = join(*argv);
  auto pid = spawn({std::move(*argv), child_environment(work_dir_.path()), work_dir_.path(),
                    work_dir_.path() / "server.log"});
  if (!pid) {
    return std::unexpected(pid.error());
  }
  pid_ = *pid;
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  while (!listening()) {
    if (!running()) {
      return std::unexpected("exited before listening on port " + std::to_string(port_) + "; `" +
                             command_line_ + "` logged:\n" + log_tail());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected("not listening on port " + std::to_string(port_) + " after " +
                             std::to_string(ready_timeout.count()) + " ms; `" + command_line_ +
                             "` logged:\n" + log_tail());
    }
    std::this_thread::sleep_for(poll_interval);
  }
  return {};
}

bool ExternalServer::running() const { return pid_ > 0 && !has_exited(pid_); }

bool ExternalServer::listening() const {
  if (!running()) {
    return false;
  }
  const bool udp = kind_ != ServerKind::nghttpd;
  const bool tcp = kind_ != ServerKind::gtlsserver;
  return (!udp || holds_socket_on_port(pid_, "/proc/net/udp", port_)) &&
         (!tcp || holds_socket_on_port(pid_, "/proc/net/tcp", port_));
}

std::string ExternalServer::log_tail(std::size_t max_bytes) const {
  std::ifstream in(work_dir_.path() / "server.log", std::ios::binary);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (log.size() > max_bytes) {
    log = "[...]" + log.substr(log.size() - max_bytes);
  }
  return log;
}

void ExternalServer::stop() noexcept {
  if (pid_ <= 0) {
    return;
  }
  signal_child(pid_, SIGTERM);
  if (!wait_for_exit(pid_, term_grace)) {
    signal_child(pid_, SIGKILL);
  }
  // The leader is a zombie now (or about to be); its pid still names the group, so this cannot hit a
  // stranger. It removes anything the server started.
  ::kill(-pid_, SIGKILL);
  if (wait_for_exit(pid_, kill_timeout)) {
    ::waitpid(pid_, nullptr, 0);
  } else {
    std::fprintf(stderr, "interop: %s (pid %d) survived SIGKILL for %llds; not reaped\n",
                 std::string(to_string(kind_)).c_str(), static_cast<int>(pid_),
                 static_cast<long long>(std::chrono::seconds(kill_timeout).count()));
  }
  pid_ = -1;
}

}  // namespace quiver::interop
