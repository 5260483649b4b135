// quiver_example_check — runs a program against the project's HTTP/3 server and checks what it printed.
//
//   quiver_example_check --cert server.pem --key server-key.pem [--expect TEXT]... [--timeout-ms N]
//                        -- PROGRAM [ARG...]
//
// Starts quiver::server::Server on 127.0.0.1 with an ephemeral port (datagrams, extended CONNECT and
// CONNECT-UDP on, for the channel examples) and a UDP echo server, replaces "{port}" and "{udp_port}" in
// the program's arguments with their ports, runs the program with stdout and stderr captured, kills it if it outlives
// the timeout (default 20 s), echoes its output, and succeeds (exit 0) when the program exited with
// status 0 and its output contains every TEXT.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/udp_echo_server.hpp"
#include "test_server/server.hpp"

extern char** environ;

namespace {

struct Options {
  std::string cert, key;
  std::vector<std::string> expect;
  std::chrono::milliseconds timeout{20000};
  std::vector<std::string> command;
};

bool parse(int argc, char** argv, Options& options) {
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return false;
    std::string value = argv[++i];
    if (arg == "--cert") {
      options.cert = value;
    } else if (arg == "--key") {
      options.key = value;
    } else if (arg == "--expect") {
      options.expect.push_back(value);
    } else if (arg == "--timeout-ms") {
      options.timeout = std::chrono::milliseconds(std::stoll(value));
    } else {
      return false;
    }
  }
  for (; i < argc; ++i) options.command.emplace_back(argv[i]);
  return !options.cert.empty() && !options.key.empty() && !options.command.empty();
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

struct Outcome {
  bool timed_out = false;
  int status = -1;  // raw waitpid status
  std::string output;
};

// Runs `command` with stdout and stderr on one pipe; kills it at `timeout`.
Outcome run(const std::vector<std::string>& command, std::chrono::milliseconds timeout) {
  Outcome outcome;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  std::vector<char*> args;
  for (auto& arg : command) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (spawned != 0) {
    close(fds[0]);
    throw std::runtime_error("cannot run " + command[0] + ": " + std::strerror(spawned));
  }

  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      outcome.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fd{fds[0], POLLIN, 0};
    int ready = poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout: the deadline check above kills it
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the program closed its output (it has exited)
    outcome.output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  while (waitpid(pid, &outcome.status, 0) < 0 && errno == EINTR) {
  }
  return outcome;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::cerr << "usage: " << argv[0]
              << " --cert FILE --key FILE [--expect TEXT]... [--timeout-ms N] -- PROGRAM [ARG...]\n";
    return 2;
  }
  try {
    quiver::server::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.cert_file = options.cert;
    server_options.key_file = options.key;
    server_options.connect_udp = true;
    quiver::server::Server server(std::move(server_options));
    if (auto started = server.start(); !started) throw std::runtime_error(started.error().message());
    quiver::test::UdpEchoServer udp_echo;
    for (auto& arg : options.command) {
      replace_all(arg, "{port}", std::to_string(server.port()));
      replace_all(arg, "{udp_port}", std::to_string(udp_echo.port()));
    }

    std::cout << "$";
    for (auto& arg : options.command) std::cout << " " << arg;
    std::cout << std::endl;
    Outcome outcome = run(options.command, options.timeout);
    std::cout << outcome.output << std::flush;

    bool ok = true;
    if (outcome.timed_out) {
      std::cout << "FAIL: still running after " << options.timeout.count() << " ms (killed)\n";
      ok = false;
    } else if (!WIFEXITED(outcome.status) || WEXITSTATUS(outcome.status) != 0) {
      if (WIFEXITED(outcome.status)) {
        std::cout << "FAIL: exit status " << WEXITSTATUS(outcome.status) << "\n";
      } else {
        std::cout << "FAIL: killed by signal " << (WIFSIGNALED(outcome.status) ? WTERMSIG(outcome.status) : 0) << "\n";
      }
      ok = false;
    }
    for (auto& text : options.expect) {
      if (outcome.output.find(text) == std::string::npos) {
        std::cout << "FAIL: output lacks \"" << text << "\"\n";
        ok = false;
      }
    }
    if (ok) std::cout << "PASS\n";
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cout << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
