// The load half of bench/soak.sh (issue 7, "Memory and load"); soak.sh compiles and runs it, CMake does not
// build it. Two modes:
//
//   soak load   [--seconds N] [--concurrency N] [--sample N] [--url URL --ca FILE]
//       N requests in flight at all times through one quiver::Client for N seconds (a mix: GET /bytes of
//       1 B..32 KiB, POST /echo of 4 KiB, GET /delay/20), every response checked. Prints a `sample` line
//       every --sample seconds and a `result` line at the end.
//   soak cycles [--cycles N] [--url URL --ca FILE]
//       N times: a new Client, one request (a new connection: handshake, request, close), Client destroyed.
//       Counts this process's file descriptors before and after and prints a `result` line.
//
// Without --url the project's server runs in this process (tests/data certificate, 127.0.0.1:ephemeral),
// so the numbers cover client and server together. With --url (e.g. `quiver serve`), only the client.
// Lines are `key=value` words, for soak.sh to parse.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <functional>

#include <malloc.h>
#include <unistd.h>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "test_server/server.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the iterator's own descriptor
}

std::size_t rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

// Bytes allocated with malloc and not freed (glibc), to tell live growth from allocator fragmentation.
std::size_t heap_kb() { return mallinfo2().uordblks / 1024; }

std::string pattern(std::size_t offset, std::size_t length) {
  std::string bytes(length, '\0');
  for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<char>('a' + (offset + i) % 26);
  return bytes;
}

struct Options {
  std::string mode;
  double seconds = 600;
  int concurrency = 50;
  double sample = 5;
  long cycles = 10000;
  std::string url;  // base, e.g. https://127.0.0.1:4433
  std::string ca;
  std::string data_dir = "tests/data";
};

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) throw std::runtime_error("usage: soak load|cycles [options]");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--seconds") o.seconds = std::stod(value());
    else if (arg == "--concurrency") o.concurrency = std::stoi(value());
    else if (arg == "--sample") o.sample = std::stod(value());
    else if (arg == "--cycles") o.cycles = std::stol(value());
    else if (arg == "--url") o.url = value();
    else if (arg == "--ca") o.ca = value();
    else if (arg == "--data-dir") o.data_dir = value();
    else throw std::runtime_error("unknown option " + arg);
  }
  return o;
}

quiver::ClientOptions client_options(const Options& o) {
  quiver::ClientOptions options;
  options.defaults.connection.tls.ca_file = o.ca.empty() ? o.data_dir + "/ca.pem" : o.ca;
  options.defaults.connection.connect_timeout = 5s;
  options.defaults.checkout_timeout = 10s;
  options.shutdown_deadline = 2s;
  return options;
}

// What one request of the mix is and how to check its response.
struct Planned {
  quiver::Request request;
  std::string expected_body;
};

Planned plan(const std::string& base, std::uint64_t i) {
  Planned p;
  switch (i % 10) {
    case 8: {
      std::string body = pattern(i, 4096);
      p.request = *quiver::post(base + "/echo").body(body).timeout(30s).build();
      p.expected_body = std::move(body);
      break;
    }
    case 9:
      p.request = *quiver::get(base + "/delay/20").timeout(30s).build();
      p.expected_body = "delayed";
      break;
    default: {
      std::size_t size = 1 + (i * 7919) % (32 * 1024);
      p.request = *quiver::get(fmt::format("{}/bytes/{}?i={}", base, size, i)).timeout(30s).build();
      p.expected_body = pattern(0, size);
    }
  }
  return p;
}

int run_load(const Options& o, const std::string& base) {
  quiver::Client client(client_options(o));
  std::atomic<std::uint64_t> next{0}, ok{0}, failed{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable idle;
  std::vector<std::string> first_errors;

  std::function<void()> launch = [&] {
    if (stopping) return;
    std::uint64_t i = next++;
    auto planned = std::make_shared<Planned>(plan(base, i));
    ++in_flight;
    client.async_request(planned->request, [&, planned](quiver::Result<quiver::Response> result) {
      std::string error;
      if (!result) error = result.error().to_string();
      else if (result->status != 200) error = fmt::format("status {}", result->status);
      else if (result->body != planned->expected_body) error = "body differs";
      if (error.empty()) {
        ++ok;
      } else {
        ++failed;
        std::lock_guard lock(mutex);
        if (first_errors.size() < 5) first_errors.push_back(planned->request.url.to_string() + ": " + error);
      }
      launch();
      if (--in_flight == 0) {
        std::lock_guard lock(mutex);
        idle.notify_all();
      }
    });
  };

  auto started = Clock::now();
  for (int i = 0; i < o.concurrency; ++i) launch();
  auto end = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  auto next_sample = started;
  while (Clock::now() < end) {
    next_sample += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.sample));
    std::this_thread::sleep_until(std::min(next_sample, end));
    std::printf("sample t=%.1f ok=%llu failed=%llu in_flight=%d rss_kb=%zu heap_kb=%zu fds=%zu\n",
                std::chrono::duration<double>(Clock::now() - started).count(),
                static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(failed.load()),
                in_flight.load(), rss_kb(), heap_kb(), open_fds());
    std::fflush(stdout);
  }
  stopping = true;
  {
    std::unique_lock lock(mutex);
    idle.wait_for(lock, 60s, [&] { return in_flight == 0; });
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (auto& e : first_errors) std::printf("error %s\n", e.c_str());
  std::printf("result mode=load seconds=%.1f concurrency=%d ok=%llu failed=%llu unfinished=%d rate=%.0f rss_kb=%zu fds=%zu\n",
              seconds, o.concurrency, static_cast<unsigned long long>(ok.load()),
              static_cast<unsigned long long>(failed.load()), in_flight.load(), ok / seconds, rss_kb(), open_fds());
  std::fflush(stdout);
  return failed == 0 && in_flight == 0 ? 0 : 1;
}

int run_cycles(const Options& o, const std::string& base) {
  auto options = client_options(o);
  long failed = 0;
  std::string first_error;
  auto cycle = [&](long i) {
    quiver::Client client(options);
    auto response = client.request(quiver::get(fmt::format("{}/bytes/64?cycle={}", base, i)).timeout(10s));
    if (!response || response->status != 200) {
      ++failed;
      if (first_error.empty()) first_error = response ? fmt::format("status {}", response->status) : response.error().to_string();
    }
  };
  for (long i = 0; i < 20; ++i) cycle(-1 - i);  // warm: whatever is opened once (trust store, ...) is open
  std::this_thread::sleep_for(200ms);
  std::size_t fds_before = open_fds(), rss_before = rss_kb(), heap_before = heap_kb(), fds_peak = fds_before;
  auto started = Clock::now();
  for (long i = 0; i < o.cycles; ++i) {
    cycle(i);
    if (i % 100 == 0) fds_peak = std::max(fds_peak, open_fds());
    if (i % 1000 == 999) {
      std::printf("sample cycles=%ld failed=%ld fds=%zu rss_kb=%zu heap_kb=%zu\n", i + 1, failed, open_fds(), rss_kb(),
                  heap_kb());
      std::fflush(stdout);
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::this_thread::sleep_for(200ms);  // the in-process server forgets closed connections after 3 PTO
  std::size_t fds_after = open_fds();
  if (!first_error.empty()) std::printf("error %s\n", first_error.c_str());
  std::printf("result mode=cycles cycles=%ld failed=%ld seconds=%.1f fds_before=%zu fds_after=%zu fds_peak=%zu "
              "rss_before_kb=%zu rss_after_kb=%zu heap_before_kb=%zu heap_after_kb=%zu\n",
              o.cycles, failed, seconds, fds_before, fds_after, fds_peak, rss_before, rss_kb(), heap_before, heap_kb());
  std::fflush(stdout);
  return failed == 0 && fds_after == fds_before ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  std::unique_ptr<quiver::server::Server> server;
  std::string base = o.url;
  if (base.empty()) {
    quiver::server::ServerOptions options;
    options.cert_file = o.data_dir + "/server.pem";
    options.key_file = o.data_dir + "/server-key.pem";
    server = std::make_unique<quiver::server::Server>(options);
    if (auto started = server->start(); !started) throw std::runtime_error(started.error().message());
    base = fmt::format("https://127.0.0.1:{}", server->port());
  }
  std::printf("start mode=%s pid=%d url=%s\n", o.mode.c_str(), static_cast<int>(::getpid()), base.c_str());
  std::fflush(stdout);
  if (o.mode == "load") return run_load(o, base);
  if (o.mode == "cycles") return run_cycles(o, base);
  throw std::runtime_error("mode must be load or cycles");
} catch (const std::exception& e) {
  std::fprintf(stderr, "soak: %s\n", e.what());
  return 2;
}
