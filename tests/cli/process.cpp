#include "cli/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace quiver::test {

namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
};

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Writes all of `data`; the child may exit early (EPIPE), which is not our problem here.
void write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& args, const std::string& stdin_data, const std::string& cwd) {
  signal(SIGPIPE, SIG_IGN);  // writing stdin to a child that already exited must not kill the test
  Pipe in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());

  // The child starts with SIGPIPE at its default, as from a shell: the test's own SIG_IGN must not hide
  // how the child behaves on a closed pipe.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &default_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const int rv = posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(in.read);
  close(out.write);
  close(err.write);
  if (rv != 0) {
    close(in.write);
    close(out.read);
    close(err.read);
    throw std::runtime_error("posix_spawn " + args[0] + ": " + std::strerror(rv));
  }
  out_fd_ = out.read;
  err_fd_ = err.read;
  write_all(in.write, stdin_data);
  close(in.write);
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
  close_fd(out_fd_);
  close_fd(err_fd_);
}

bool ChildProcess::pump(std::chrono::milliseconds timeout) {
  std::array<pollfd, 2> fds{{{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}}};
  if (out_fd_ < 0 && err_fd_ < 0) return false;
  const int ready = poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready <= 0) return true;
  std::array<char, 65536> buffer;
  const auto drain = [&](pollfd& p, int& fd, std::string& into) {
    if (fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      into.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      close_fd(fd);
    }
  };
  drain(fds[0], out_fd_, out_);
  drain(fds[1], err_fd_, err_);
  return out_fd_ >= 0 || err_fd_ >= 0;
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const auto end = out_.find('\n', line_start_);
    if (end != std::string::npos) {
      std::string line = out_.substr(line_start_, end - line_start_);
      line_start_ = end + 1;
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return std::nullopt;
    pump(std::min(left, std::chrono::milliseconds(50)));
  }
}

void ChildProcess::send_signal(int signal) {
  if (!exited_) kill(pid_, signal);
}

bool ChildProcess::reap(bool block) {
  if (exited_) return true;
  const pid_t rv = waitpid(pid_, &status_, block ? 0 : WNOHANG);
  if (rv == pid_) exited_ = true;
  return exited_;
}

void ChildProcess::kill_and_reap() {
  if (pid_ <= 0 || exited_) return;
  kill(pid_, SIGKILL);
  reap(true);
}

ProcessResult ChildProcess::wait(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  // Read while waiting: a child blocked on a full pipe would never exit.
  while (Clock::now() < deadline) {
    const bool open = pump(std::chrono::milliseconds(20));
    if (reap(false) && !open) break;
    if (!open) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ProcessResult result;
  if (!exited_) {
    result.timed_out = true;
    kill_and_reap();
  }
  // What is still in the pipes (bounded: a grandchild could hold them open).
  const auto drain_deadline = Clock::now() + std::chrono::seconds(1);
  while (pump(std::chrono::milliseconds(20)) && Clock::now() < drain_deadline) {
  }
  if (WIFEXITED(status_)) result.exit_code = WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) result.signal = WTERMSIG(status_);
  result.out = out_;
  result.err = err_;
  return result;
}

ProcessResult run_process(const std::vector<std::string>& args, std::chrono::milliseconds limit,
                          const std::string& stdin_data, const std::string& cwd) {
  ChildProcess child(args, stdin_data, cwd);
  return child.wait(limit);
}

}  // namespace quiver::test
