#pragma once
// One URL of `quiver [options] URL...`: the request through Client::stream, its body written chunk by
// chunk as it arrives, the progress counters bumped on the way. Runs on the calling thread (never an
// io thread of the client): fetch runs one at a time, or several on worker threads with -Z.

#include <optional>

#include "cli_request.hpp"
#include "console.hpp"
#include "exit_codes.hpp"
#include "progress.hpp"
#include "quiver/client.hpp"
#include "response_output.hpp"
#include "telemetry_sinks.hpp"
#include "write_out.hpp"

namespace quiver::cli {

// What every transfer of one command shares. All borrowed; thread-safe where -Z needs it (the client,
// the console and the counters are).
struct TransferContext {
  Client& client;
  const FetchOptions& options;
  Console& console;
  TransferCounters& counters;
  bool count_upload = false;  // send -d bodies through a counting producer (only for the progress bar)
  VerboseLog* verbose = nullptr;  // -v: prints the response head; null otherwise
};

// Sends `prepared`, writes the body to `writer` (begun once the status is known) and returns the
// failure that decides the exit code, if any.
// With `report` (-w), also what the write-out report needs.
std::optional<Failure> run_transfer(const TransferContext& context, PreparedRequest prepared, BodyWriter& writer,
                                    TransferReport* report = nullptr);

// A producer body that hands out `bytes` in chunks and adds each chunk's size to `uploaded` (which must
// outlive the request). One-shot: a producer body is never retried transparently.
RequestBody counting_body(std::string bytes, std::atomic<std::uint64_t>& uploaded);

}  // namespace quiver::cli
