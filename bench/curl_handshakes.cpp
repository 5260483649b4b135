// curl_handshakes: the libcurl counterpart of quiver_handshakes. N transfers, each a fresh easy handle
// with CURLOPT_FRESH_CONNECT and CURLOPT_FORBID_REUSE (a new HTTP/3 connection each), cold (session ID
// cache off), resumed (TLS sessions shared through a CURLSH with CURL_LOCK_DATA_SSL_SESSION) or early
// (resumed + CURLSSLOPT_EARLYDATA, curl's --tls-earlydata); with --auto, CURL_HTTP_VERSION_3 (curl's
// --http3: HTTP/3 first, TCP as the fallback). Prints the same JSON line; "resumed" and "early" are -1:
// libcurl does not report them per transfer.
#include <curl/curl.h>

#include "handshake_args.hpp"

namespace {

std::size_t drop_body(char*, std::size_t size, std::size_t count, void*) { return size * count; }

}  // namespace

int main(int argc, char** argv) {
  using namespace quiver::bench;
  const HandshakeArgs args = parse_handshake_args(argc, argv, "curl_handshakes");
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) handshake_die("curl_handshakes", "curl_global_init failed");
  if ((curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP3) == 0)
    handshake_die("curl_handshakes", "this libcurl has no HTTP/3");
  CURLSH* share = curl_share_init();
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

  auto one = [&]() -> std::optional<double> {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, args.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     static_cast<long>(args.auto_protocol ? CURL_HTTP_VERSION_3 : CURL_HTTP_VERSION_3ONLY));
    curl_easy_setopt(easy, CURLOPT_CAINFO, args.ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, drop_body);
    if (args.mode == HandshakeMode::cold) {
      curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    } else {
      curl_easy_setopt(easy, CURLOPT_SHARE, share);
    }
    if (args.mode == HandshakeMode::early) curl_easy_setopt(easy, CURLOPT_SSL_OPTIONS, static_cast<long>(CURLSSLOPT_EARLYDATA));
    const auto start = std::chrono::steady_clock::now();
    CURLcode rc = curl_easy_perform(easy);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    if (rc != CURLE_OK || status != 200) {
      std::fprintf(stderr, "curl_handshakes: %s (status %ld)\n", curl_easy_strerror(rc), status);
      return std::nullopt;
    }
    return ms;
  };

  (void)one();  // warm-up: trust anchors, the first ticket; not counted
  HandshakeTally tally;
  tally.resumed = tally.early = -1;
  const auto cpu_start = process_cpu();
  const auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < args.connections; ++i) {
    if (auto ms = one()) tally.response_ms.push_back(*ms);
    else ++tally.failures;
  }
  const auto wall = std::chrono::steady_clock::now() - wall_start;
  const auto cpu = process_cpu() - cpu_start;
  tally.print("libcurl", args, cpu, wall);
  curl_share_cleanup(share);
  curl_global_cleanup();
  return tally.failures == 0 ? 0 : 1;
}
