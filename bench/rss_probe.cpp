// rss_probe: an LD_PRELOAD shim that, when the process exits, appends one line "PID PEAK_KB\n" to the
// file named by $QUIVER_RSS_PROBE_OUT: its pid and its peak resident set size (the "VmHWM:" line of
// /proc/self/status, in KB).
//
// One line per process, keyed by pid, because the variables are inherited: a wrapper the client runs
// under (/usr/bin/time, timeout) or a process it starts loads the shim too and writes its own line; the
// reader (bench/compare.py) takes the line of the pid it started. Short appends (O_APPEND) do not mix.
//
// Why: the kernel's ru_maxrss (getrusage, wait4, /usr/bin/time) is carried across exec, so a client
// started by a large parent (compare.py's Python) reports at least the parent's RSS. VmHWM belongs to
// the process's own address space only. bench/compare.py preloads this into both clients alike.
//
// Only async-signal-safe-style calls (open/read/write), nothing that allocates: it runs very late.

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

// Writes `value` in decimal at `out`; returns the number of characters.
std::size_t format_decimal(unsigned long value, char* out) {
  char reversed[24];
  std::size_t length = 0;
  do {
    reversed[length++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (std::size_t i = 0; i < length; ++i) out[i] = reversed[length - 1 - i];
  return length;
}

// The "VmHWM:   12345 kB\n" line's number as text, or nullptr when absent.
const char* find_peak_line(char* status, ssize_t length, std::size_t& digits) {
  status[length] = '\0';
  const char* line = std::strstr(status, "\nVmHWM:");
  if (line == nullptr) return nullptr;
  line += std::strlen("\nVmHWM:");
  while (*line == ' ' || *line == '\t') ++line;
  digits = std::strspn(line, "0123456789");
  return digits > 0 ? line : nullptr;
}

__attribute__((destructor)) void write_peak_rss() {
  const char* out_path = std::getenv("QUIVER_RSS_PROBE_OUT");
  if (out_path == nullptr || *out_path == '\0') return;
  char status[8192];
  const int in = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  const ssize_t length = read(in, status, sizeof status - 1);
  close(in);
  if (length <= 0) return;
  std::size_t digits = 0;
  const char* peak = find_peak_line(status, length, digits);
  if (peak == nullptr) return;
  if (digits > 20) return;
  char line[64];
  std::size_t used = format_decimal(static_cast<unsigned long>(getpid()), line);
  line[used++] = ' ';
  std::memcpy(line + used, peak, digits);
  used += digits;
  line[used++] = '\n';
  const int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return;
  [[maybe_unused]] const ssize_t written = write(out, line, used);  // one write: the line stays whole
  close(out);
}

}  // namespace
