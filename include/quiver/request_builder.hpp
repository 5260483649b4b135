#pragma once
// A fluent way to write a request:
//
//   auto response = client.request(quiver::post("https://example.com/upload")
//                                      .header("Content-Type", "text/plain")
//                                      .body("hello")
//                                      .timeout(std::chrono::seconds(5)));
//
// The URL is parsed when the request is built; a bad URL becomes an invalid_url error there.

#include "quiver/config.hpp"

#include <chrono>
#include <string>

#include "quiver/body.hpp"
#include "quiver/request.hpp"

namespace quiver {

class RequestBuilder {
 public:
  RequestBuilder(std::string method, std::string url) : method_(std::move(method)), url_(std::move(url)) {}

  RequestBuilder& header(std::string name, std::string value) & {
    headers_.add(std::move(name), std::move(value));
    return *this;
  }
  RequestBuilder&& header(std::string name, std::string value) && { return std::move(header(std::move(name), std::move(value))); }
  RequestBuilder& body(RequestBody body) & {
    body_ = std::move(body);
    return *this;
  }
  RequestBuilder&& body(RequestBody body) && { return std::move(this->body(std::move(body))); }
  RequestBuilder& body_from_file(std::string path) & { return body(RequestBody::from_file(std::move(path))); }
  RequestBuilder&& body_from_file(std::string path) && { return std::move(body_from_file(std::move(path))); }
  RequestBuilder& body_from_producer(RequestBody::Producer producer) & {
    return body(RequestBody::from_producer(std::move(producer)));
  }
  RequestBuilder&& body_from_producer(RequestBody::Producer producer) && {
    return std::move(body_from_producer(std::move(producer)));
  }
  RequestBuilder& body_from_async_producer(RequestBody::AsyncProducer producer) & {
    return body(RequestBody::from_async_producer(std::move(producer)));
  }
  RequestBuilder&& body_from_async_producer(RequestBody::AsyncProducer producer) && {
    return std::move(body_from_async_producer(std::move(producer)));
  }
  RequestBuilder& timeout(std::chrono::milliseconds limit) & {
    timeout_ = limit;
    return *this;
  }
  RequestBuilder&& timeout(std::chrono::milliseconds limit) && { return std::move(timeout(limit)); }
  // Follows up to `max_redirects` redirects (RedirectPolicy), whatever the Client's setting.
  RequestBuilder& follow_redirects(int max_redirects = RedirectPolicy{}.max_redirects) & {
    redirects_ = RedirectPolicy{.follow = true, .max_redirects = max_redirects};
    return *this;
  }
  RequestBuilder&& follow_redirects(int max_redirects = RedirectPolicy{}.max_redirects) && {
    return std::move(follow_redirects(max_redirects));
  }
  // Asks for a compressed body and decodes it (Decompression), whatever the Client's setting.
  RequestBuilder& decompress(Decompression settings = Decompression{.enabled = true}) & {
    decompression_ = settings;
    return *this;
  }
  RequestBuilder&& decompress(Decompression settings = Decompression{.enabled = true}) && {
    return std::move(decompress(settings));
  }

  // The request, or invalid_url naming what is wrong with the URL.
  Result<Request> build() const {
    auto url = Url::parse(url_);
    if (!url) return std::unexpected(url.error());
    Request request;
    request.method = method_;
    request.url = std::move(*url);
    request.headers = headers_;
    request.body = body_;
    request.timeout = timeout_;
    request.redirects = redirects_;
    request.decompression = decompression_;
    return request;
  }

 private:
  std::string method_;
  std::string url_;
  Headers headers_;
  RequestBody body_;
  std::optional<std::chrono::milliseconds> timeout_;
  std::optional<RedirectPolicy> redirects_;
  std::optional<Decompression> decompression_;
};

inline RequestBuilder get(std::string url) { return RequestBuilder("GET", std::move(url)); }
inline RequestBuilder head(std::string url) { return RequestBuilder("HEAD", std::move(url)); }
inline RequestBuilder post(std::string url) { return RequestBuilder("POST", std::move(url)); }
inline RequestBuilder put(std::string url) { return RequestBuilder("PUT", std::move(url)); }
inline RequestBuilder patch(std::string url) { return RequestBuilder("PATCH", std::move(url)); }
inline RequestBuilder del(std::string url) { return RequestBuilder("DELETE", std::move(url)); }

}  // namespace quiver
