#pragma once
// Content codings for the test server's compressed routes (/gzip, /deflate, /brotli, /zstd, /bomb):
// whole bodies compressed with zlib, brotli and zstd, as a server would send them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quiver::server {

// The content-encoding token of a route's coding name: "gzip", "deflate", "br" (also for "brotli"),
// "zstd"; nullopt for anything else.
std::optional<std::string> content_coding(std::string_view name);

// `body` compressed with `coding` (a content_coding() token): gzip (RFC 1952), deflate (the zlib format,
// RFC 1950), br, zstd (with its content checksum). Empty if the encoder failed.
std::string compress(std::string_view coding, std::string_view body);

// `size` zero bytes compressed with `coding`, encoded piece by piece (the zeros are never held whole):
// a decompression bomb of `size` decoded bytes.
std::string compressed_zeros(std::string_view coding, std::uint64_t size);

}  // namespace quiver::server
