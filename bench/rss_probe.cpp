// rss_probe: an LD_PRELOAD shim that, when the process exits, writes its peak resident set size (the
// "VmHWM:" line of /proc/self/status, in KB) to the file named by $QUIVER_RSS_PROBE_OUT.
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
  const int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) return;
  [[maybe_unused]] const ssize_t written = write(out, peak, digits);
  close(out);
}

}  // namespace
