#pragma once
// A child process for the CLI tests: posix_spawn with stdin/stdout/stderr on pipes, every wait bounded,
// and the child killed (SIGKILL) when a limit passes or the handle is dropped, so a hung `quiver`
// fails its test instead of hanging the suite.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace quiver::test {

struct ProcessResult {
  int exit_code = -1;      // when it exited normally
  int signal = 0;          // when a signal ended it
  bool timed_out = false;  // killed by us at the limit
  std::string out, err;    // everything it wrote
};

class ChildProcess {
 public:
  // Starts `args` (args[0] is the program path); `stdin_data` is written to its stdin, which is then
  // closed; `cwd` (if not empty) is its working directory. Throws std::runtime_error if it cannot start.
  explicit ChildProcess(const std::vector<std::string>& args, const std::string& stdin_data = "",
                        const std::string& cwd = "");
  ~ChildProcess();  // kills and reaps the child if it is still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // The next complete line of stdout (without '\n'), or nullopt if none came within `limit` (or stdout
  // closed first).
  std::optional<std::string> read_line(std::chrono::milliseconds limit);
  // Everything read from stdout/stderr so far.
  const std::string& out() const noexcept { return out_; }
  const std::string& err() const noexcept { return err_; }

  void send_signal(int signal);

  // Waits for the child to exit and for its output to end; kills it at `limit`.
  ProcessResult wait(std::chrono::milliseconds limit);

 private:
  // Reads what is available (waiting at most `timeout`); returns false once both pipes are closed.
  bool pump(std::chrono::milliseconds timeout);
  bool reap(bool block);
  void kill_and_reap();

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  std::size_t line_start_ = 0;  // where the next read_line() begins in out_
  bool exited_ = false;
  int status_ = 0;
};

// Runs `args` to completion (or `limit`).
ProcessResult run_process(const std::vector<std::string>& args, std::chrono::milliseconds limit,
                          const std::string& stdin_data = "", const std::string& cwd = "");

}  // namespace quiver::test
