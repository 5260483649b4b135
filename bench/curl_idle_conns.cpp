// curl_idle_conns: the libcurl counterpart of bench/quiver_idle_conns.cpp. Opens N HTTP/3 connections
// to one origin from one multi handle, lets them sit idle in the multi's connection pool, and prints the
// process's memory as one JSON object with the same keys.
//
// How the N connections are opened: multiplexing is off (CURLMOPT_PIPELINING = CURLPIPE_NOTHING), so
// each of N transfers started together needs a connection of its own; CURLMOPT_MAXCONNECTS = N keeps all
// of them in the pool once the transfers are done. The easy handles are then removed and cleaned up
// (as quiver frees a finished request), so what stays is the connections. "connections_open" is the sum
// of CURLINFO_NUM_CONNECTS (new connections the transfers made); "sockets" cross-checks it. With
// --cacert, that file replaces the system store (CAINFO set, CAPATH cleared), as in curl_h3_bench.

#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "idle_args.hpp"
#include "proc_memory.hpp"

namespace {

constexpr std::string_view usage_text = R"(usage: curl_idle_conns [options] URL

  -c, --connections N   open N connections to the URL's origin (default 1)
      --cacert FILE     trust this CA (PEM) instead of the system store
      --idle SECONDS    how long the connections sit idle before memory is read (default 2)
  -h, --help            this text
)";

[[noreturn]] void die(const std::string& message) { quiver::bench::die("curl_idle_conns", message); }

std::size_t drop_body(char*, std::size_t size, std::size_t count, void*) { return size * count; }

}  // namespace

int main(int argc, char** argv) {
  const auto [url, ca_file, connections, idle_s] = quiver::bench::parse_idle_args(argc, argv, "curl_idle_conns", usage_text);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init failed");
  const curl_version_info_data* version = curl_version_info(CURLVERSION_NOW);
  if ((version->features & CURL_VERSION_HTTP3) == 0) die("this libcurl has no HTTP/3");

  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, connections);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);

  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // as quiver_idle_conns does
  const quiver::bench::ProcMemory before = quiver::bench::read_proc_memory();

  std::vector<CURL*> easies;
  for (long i = 0; i < connections; ++i) {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_3ONLY));
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!ca_file.empty()) {  // as curl_h3_bench: this file instead of the system store
      curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file.c_str());
      curl_easy_setopt(easy, CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30'000L);
    curl_multi_add_handle(multi, easy);
    easies.push_back(easy);
  }

  int running = 1;
  while (running > 0) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) die("curl_multi_perform failed");
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  long ok = 0;
  long opened = 0;
  std::string first_error;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    long status = 0;
    long new_connections = 0;
    curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(message->easy_handle, CURLINFO_NUM_CONNECTS, &new_connections);
    opened += new_connections;
    if (message->data.result == CURLE_OK && status == 200) {
      ++ok;
    } else if (first_error.empty()) {
      first_error = message->data.result != CURLE_OK ? curl_easy_strerror(message->data.result)
                                                     : "status " + std::to_string(status);
    }
  }
  for (CURL* easy : easies) {
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
  }
  easies.clear();

  std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
  const quiver::bench::ProcMemory idle = quiver::bench::read_proc_memory();
  const int sockets = quiver::bench::count_sockets();

  std::printf(
      "{\"client\": \"libcurl/%s\", \"connections\": %ld, \"connections_open\": %ld, \"requests_ok\": %ld, "
      "\"sockets\": %d, \"threads\": %lld, \"idle_s\": %.3f, \"rss_kb_before\": %lld, \"rss_anon_kb_before\": %lld, "
      "\"rss_kb\": %lld, \"rss_anon_kb\": %lld, \"hwm_kb\": %lld, \"first_error\": \"%s\"}\n",
      version->version, connections, opened, ok, sockets, static_cast<long long>(idle.threads), idle_s,
      static_cast<long long>(before.rss_kb), static_cast<long long>(before.rss_anon_kb),
      static_cast<long long>(idle.rss_kb), static_cast<long long>(idle.rss_anon_kb),
      static_cast<long long>(idle.hwm_kb), first_error.empty() ? "" : "see stderr");
  std::fflush(stdout);
  if (!first_error.empty()) std::fprintf(stderr, "curl_idle_conns: first error: %s\n", first_error.c_str());

  curl_multi_cleanup(multi);
  curl_global_cleanup();
  if (opened != connections || ok != connections) {
    std::fprintf(stderr, "curl_idle_conns: %ld of %ld connections opened, %ld of %ld requests ok\n", opened,
                 connections, ok, connections);
    return 1;
  }
  return 0;
}
