#pragma once

#include "quiver/config.hpp"

#include <string>

#include "quiver/headers.hpp"

namespace quiver {

// A complete HTTP response. Field names are lowercase, in the order the server sent them.
struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  Headers trailers;
  // The HTTP version that carried it: 3 (HTTP/3) or 2 (HTTP/2).
  int http_version = 3;
};

}  // namespace quiver
