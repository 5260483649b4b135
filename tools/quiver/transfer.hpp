#pragma once
// One attempt at one URL of `quiver [options] URL...`: the request through Client::stream, the head
// shown (-v, -D) and its cookies kept, the body written chunk by chunk as it arrives, the progress
// counters bumped on the way. Runs on the calling thread (never an io thread of the client): fetch
// runs one at a time, or several on worker threads with -Z.

#include <optional>

#include "cli_request.hpp"
#include "console.hpp"
#include "cookies.hpp"
#include "exit_codes.hpp"
#include "progress.hpp"
#include "quiver/client.hpp"
#include "response_output.hpp"
#include "retry.hpp"
#include "telemetry_sinks.hpp"
#include "write_out.hpp"

namespace quiver::cli {

// What every transfer of one command shares. All borrowed; thread-safe where -Z needs it (the client,
// the console, the counters, the cookie jar and the header dump are).
struct TransferContext {
  Client& client;
  const FetchOptions& options;
  Console& console;
  TransferCounters& counters;
  bool count_upload = false;  // send -d bodies through a counting producer (only for the progress bar)
  VerboseLog* verbose = nullptr;      // -v: prints the response head; null otherwise
  CookieJar* cookies = nullptr;       // the cookie engine (-b FILE, -c); null when off
  HeaderDump* header_dump = nullptr;  // -D; null otherwise
};

// Sends `request`, writes the body to `writer` (begun once the status is known) and says how it ended.
// `resume_from` (-C, > 0), as libcurl decides: a 206 starting there is appended; a 416, or a response
// exactly that long, means the file is complete (nothing written, success); anything else fails with
// exit 33. With `report` (-w), also what the write-out report needs.
AttemptOutcome run_transfer(const TransferContext& context, Request request, BodyWriter& writer,
                            std::uint64_t resume_from = 0, TransferReport* report = nullptr);

// A producer body that hands out `bytes` in chunks and adds each chunk's size to `uploaded` (which must
// outlive the request). One-shot: a producer body is never retried transparently.
RequestBody counting_body(std::string bytes, std::atomic<std::uint64_t>& uploaded);

}  // namespace quiver::cli
