// What the kernel says about this process's memory and descriptors, read from /proc/self: used by the
// idle-connection probes (bench/quiver_idle_conns.cpp, bench/curl_idle_conns.cpp) so that both clients
// are measured by the same code.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace quiver::bench {

struct ProcMemory {
  std::int64_t rss_kb = -1;       // VmRSS: resident now (anonymous + file-backed + shared memory)
  std::int64_t rss_anon_kb = -1;  // RssAnon: the anonymous part (heap, stacks): what the program allocated
  std::int64_t hwm_kb = -1;       // VmHWM: the most VmRSS has ever been
  std::int64_t threads = -1;      // Threads
};

inline ProcMemory read_proc_memory() {
  ProcMemory memory;
  std::ifstream status("/proc/self/status");
  std::string line;
  const auto field = [&line](std::string_view name, std::int64_t& out) {
    if (!line.starts_with(name)) return;
    out = std::strtoll(line.c_str() + name.size(), nullptr, 10);  // "VmRSS:\t  1234 kB"
  };
  while (std::getline(status, line)) {
    field("VmRSS:", memory.rss_kb);
    field("RssAnon:", memory.rss_anon_kb);
    field("VmHWM:", memory.hwm_kb);
    field("Threads:", memory.threads);
  }
  return memory;
}

// Open descriptors of this process that are sockets (a QUIC connection usually owns one UDP socket).
inline int count_sockets() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int sockets = 0;
  char target[64];
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t length = readlink(path.c_str(), target, sizeof target - 1);
    if (length <= 0) continue;
    target[length] = '\0';
    if (std::string_view(target).starts_with("socket:")) ++sockets;
  }
  closedir(dir);
  return sockets;
}

}  // namespace quiver::bench
