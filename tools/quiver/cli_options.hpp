#pragma once
// The command line of `quiver`, parsed apart from main() so tests can drive it:
//
//   quiver [options] URL...      fetch (the default form; cli_options.cpp)
//   quiver serve [options]       run the project's HTTP/3 server      } subcommand_options.cpp
//   quiver bench [options] [URL...] HTTP/3 load generator             }
//   quiver demo [options]        a guided tour on an embedded server   }
//
// Parsing only checks the form of each value; files, URLs and headers are checked before anything is
// sent (cli_request.hpp), so their errors get their own exit codes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quiver/headers.hpp"
#include "quiver/options.hpp"

namespace quiver::cli {

// One piece of body data, in command-line order. curl's rules: the pieces are joined with '&'
// (--json pieces are appended as they are); "@FILE" reads a file ("@-": stdin).
struct DataItem {
  enum class Kind {
    ascii,      // -d/--data: @FILE with its CR and LF bytes stripped
    binary,     // --data-binary: @FILE exactly
    raw,        // --data-raw: no @ meaning
    urlencode,  // --data-urlencode: "content", "=content", "name=content", "@file", "name@file"
    json,       // --json: as --data-binary, plus JSON content-type and accept
  };
  Kind kind = Kind::ascii;
  std::string text;
  bool operator==(const DataItem&) const = default;
};

// What to send and how to reach the server; shared by fetch and bench (bench declares only -H, -d,
// --cacert, -k and --connect-timeout; the rest keep their defaults there).
struct RequestOptions {
  std::vector<std::string> urls;             // as typed; validated by prepare_requests
  std::optional<std::string> method;         // -X; otherwise GET, HEAD (-I), PUT (-T) or POST (data, -F)
  // -H as typed, in order, curl's syntax: "Name: value" adds (replacing a default of that name),
  // "Name:" removes a default, "Name;" sends it empty, "@FILE" reads one header per line.
  std::vector<std::string> headers;
  std::vector<DataItem> data;                // -d, --data-*, --json
  std::vector<std::string> form;             // -F "name=value", "name=@file;type=...", "name=<file"
  std::optional<std::string> upload_file;    // -T FILE ("-": stdin), streamed, PUT
  bool get = false;                          // -G: the data goes into the query string of a GET
  bool head = false;                         // -I: HEAD, and the head is the output
  std::optional<std::string> user;           // -u USER:PASSWORD (basic)
  std::optional<std::string> user_agent;     // -A
  std::optional<std::string> referer;        // -e
  std::vector<std::string> cookies;          // -b: "NAME=VALUE; ..." sent as is, or a cookie file
  std::optional<std::string> range;          // -r "0-99", "-500", "100-"
  std::string ca_file;                       // --cacert; empty: system trust store only
  bool insecure = false;                     // -k
  bool http2 = false;                        // --http2: HTTP/2 over TLS over TCP instead of HTTP/3
  bool http1_1 = false;                      // --http1.1: HTTP/1.1 over TLS over TCP instead of HTTP/3
  bool http3 = false;                        // --http3: HTTP/3 first, TCP as the fallback (auto, the default)
  bool http3_only = false;                   // --http3-only: HTTP/3 and nothing else
  std::optional<std::chrono::milliseconds> connect_timeout;  // unset: the library default
};

// --retry and its companions (curl's rules: retry.hpp).
struct RetryOptions {
  int count = 0;                                        // --retry N
  std::optional<std::chrono::milliseconds> delay;       // --retry-delay; unset: 1 s doubling to 10 min
  std::optional<std::chrono::milliseconds> max_time;    // --retry-max-time; unset: no limit
  bool all_errors = false;                              // --retry-all-errors
  bool connection_refused = false;                      // --retry-connrefused
};

// `quiver [options] URL...`
struct FetchOptions {
  RequestOptions request;
  std::optional<std::string> output_file;    // -o (one URL only); stdout when unset ("-o -" leaves it unset)
  bool remote_name = false;                  // -O: each body to a file named after its URL
  std::optional<std::string> output_dir;     // --output-dir: where -O files go (default: current dir)
  bool create_dirs = false;                  // --create-dirs: make the output file's missing directories
  bool no_clobber = false;                   // --no-clobber: an existing file stays; FILE.1 .. FILE.100 instead
  std::optional<std::string> dump_header;    // -D FILE ("-": stdout)
  std::optional<std::string> cookie_jar;     // -c FILE: every cookie at the end, Netscape format
  // -C: resume at this byte offset; -C - leaves it unset with continue_auto (offset = the file's size).
  std::optional<std::uint64_t> continue_at;
  bool continue_auto = false;
  RetryOptions retry;
  bool parallel = false;                     // -Z: several URLs at once instead of one after another
  std::size_t parallel_max = 50;             // --parallel-max: at most this many at once with -Z
  bool include = false;                      // -i
  bool fail = false;                         // -f
  bool verbose = false;                      // -v
  std::string ssl_sessions;                  // --ssl-sessions FILE: TLS tickets kept across runs ("": none)
  std::string alt_svc;                       // --alt-svc FILE: the Alt-Svc cache kept across runs ("": none)
  bool tls_earlydata = false;                // --tls-earlydata: 0-RTT on resumed connections
  bool silent = false;                       // -s: no progress bar, no error line
  bool show_error = false;                   // -S: the error line even with -s
  bool progress_hashes = false;              // -#: curl's "#####   42.0%" bar instead of the detailed one
  bool no_progress_meter = false;            // --no-progress-meter: no bar, errors still shown
  std::optional<std::chrono::milliseconds> max_time;  // -m; unset: no overall deadline
  // Redirects, decompression and the -w report (write_out.hpp), with curl's spelling and defaults.
  bool location = false;                     // -L: follow redirects
  int max_redirs = 50;                       // --max-redirs: with -L, at most this many (-1: no limit)
  bool compressed = false;                   // --compressed: ask for gzip, deflate, br, zstd and decode
  std::optional<std::string> write_out;      // -w: the format as typed ("@file" is read by run_fetch)
  std::vector<ConnectOverride> connect_to;   // --resolve, then --connect-to (connect_overrides.hpp)
  std::string ca_path;                       // --capath: trust the PEM files of this directory too
  std::vector<std::string> pinned_public_keys;  // --pinnedpubkey "sha256//...;sha256//..."
  std::string client_certificate;            // -E/--cert: PEM (no ":password" suffix: keys must be unencrypted)
  std::string client_key;                    // --key: PEM ("": in the --cert file)
};

// `quiver serve`
struct ServeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 4433;                 // 0: any free port (printed)
  std::string cert_file, key_file;           // both or neither; neither: a generated self-signed pair
  std::uint64_t max_streams = 100;           // concurrent requests per connection
  std::chrono::milliseconds idle_timeout{30000};
  std::uint64_t goaway_after = 0;            // GOAWAY after this many requests per connection (0: never)
  bool session_tickets = true;               // --no-session-tickets turns resumption tickets off
  bool early_data = true;                    // --reject-early-data refuses 0-RTT
  std::string client_ca_file;                // --client-ca: require client certificates signed by these CAs
  bool http3 = true;                         // --no-h3: TCP (HTTP/2) only
  bool tcp = true;                           // --no-tcp: HTTP/3 only
  bool datagrams = false;                    // --datagrams: HTTP datagrams + extended CONNECT
  bool connect_udp = false;                  // --connect-udp: a MASQUE UDP proxy (RFC 9298)
  std::vector<std::string> connect_udp_allow;  // --connect-udp-allow CIDR...; none: loopback only
  bool quiet = false;                        // no access log
};

// `quiver tunnel` (tunnel.hpp): a local UDP port carried through a CONNECT-UDP proxy
struct TunnelOptions {
  struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
  };
  std::string proxy;                         // --proxy: a URI template, or an origin (the default template)
  Endpoint listen{"127.0.0.1", 0};           // --listen ADDR:PORT (port 0: any free one, printed)
  Endpoint target;                           // TARGET_HOST:PORT
  RequestOptions tls;                        // --cacert, -k only
};

// `quiver bench` (see bench.hpp), and its `merge` and `report` forms
struct BenchOptions {
  enum class Action { run, merge, report };
  Action action = Action::run;
  std::vector<std::string> inputs;           // merge, report: the --json reports to read
  RequestOptions request;                    // URLs used round-robin; none: the embedded server's /bytes/1024
  std::optional<std::string> input_file;     // -i: more URLs, one per line ("URL [@BODY_FILE]")
  std::optional<std::uint64_t> requests;     // -n; unset (and no -D): default_requests
  std::optional<std::chrono::milliseconds> duration;  // -D; excludes -n
  std::size_t connections = 1;               // -c: connections, each with its own client and io thread
  std::size_t streams = 10;                  // -m: most requests in flight per connection
  std::chrono::milliseconds warmup{0};       // --warm-up-time: unrecorded traffic first
  std::size_t threads = 1;                   // -t: checked (at most -c), otherwise no effect: see bench's help
  std::optional<double> rps;                 // --rps: open loop at this total rate
  std::optional<std::uint64_t> requests_per_connection;  // churn: a new connection after N requests
  std::optional<std::chrono::milliseconds> timeout;      // --timeout: deadline of each request
  std::optional<std::string> log_file;       // --log-file: one line per request
  std::optional<std::string> html_file;      // --html: a self-contained page with the charts
  bool json = false;                         // --json
  static constexpr std::uint64_t default_requests = 10000;
};

// `quiver demo`
struct DemoOptions {
  std::chrono::milliseconds bench_duration{3000};  // --bench-seconds
};

using Command = std::variant<FetchOptions, ServeOptions, BenchOptions, DemoOptions, TunnelOptions>;

// Parsing stopped without a command to run: --help/--version (exit 0, `text` goes to stdout) or a usage
// problem (non-zero exit, `text` is the one line for stderr).
struct CliExit {
  int exit_code = 0;
  std::string text;
};

std::expected<Command, CliExit> parse_cli(int argc, const char* const* argv);

// "0.1.0"
std::string_view quiver_version() noexcept;

}  // namespace quiver::cli
