// Uses the installed library from outside the tree: value types, and a Client that really tries to
// connect (so ngtcp2, nghttp3 and GnuTLS are linked and run). Built both through find_package(quiver)
// and through `pkg-config --cflags --libs quiver` by tests/package/package_test.cmake.
// Prints "consumer ok" and exits 0 when everything behaved.

#include <chrono>
#include <iostream>

#include <quiver/client.hpp>
#include <quiver/quiver.hpp>

int main() {
  using namespace std::chrono_literals;

  auto url = quiver::Url::parse("https://Example.com:8443/a?b=c#frag");
  if (!url || url->host() != "example.com" || url->port() != 8443 || url->target() != "/a?b=c") {
    std::cerr << "Url::parse gave an unexpected result\n";
    return 1;
  }
  auto bad = quiver::Url::parse("http://example.com/");
  if (bad || bad.error().kind() != quiver::ErrorKind::invalid_url) {
    std::cerr << "an http:// URL was not refused as invalid_url\n";
    return 1;
  }

  quiver::ClientOptions options;
  options.defaults.connection.connect_timeout = 500ms;
  quiver::Client client(options);
  // Nothing serves HTTP/3 on UDP port 9 of the loopback: the request must fail, quickly and cleanly.
  auto response = client.request(quiver::get("https://127.0.0.1:9/").timeout(3s));
  if (response) {
    std::cerr << "a request to a closed port succeeded\n";
    return 1;
  }
  std::cout << "request to a closed port: " << response.error().to_string() << "\n";
  client.shutdown(1s);

  std::cout << "consumer ok\n";
  return 0;
}
