#include "fetch.hpp"

#include <chrono>
#include <memory>
#include <optional>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "cli_request.hpp"
#include "exit_codes.hpp"
#include "h3/connection.hpp"
#include "response_output.hpp"

namespace quiver::cli {

namespace {

// How long to wait for the connection to report its end once the outcome is known (or the other way
// round) before giving up on it; bounds every exit path.
constexpr std::chrono::milliseconds shutdown_grace{500};

// One request on one connection, on a private io_context run in the calling thread. The first outcome
// wins: the response, the request's error, the --max-time deadline, or the connection's close reason.
// run() returns once the outcome is known and the connection has closed, or shutdown_grace later.
class Exchange final : public h3::ConnectionObserver {
 public:
  explicit Exchange(std::ostream* verbose) : verbose_(verbose) {}
  ~Exchange() override {
    if (connection_) connection_->set_observer(nullptr);
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  Result<Response> run(const PreparedRequest& prepared, const ConnectionOptions& options,
                       std::optional<std::chrono::milliseconds> max_time) {
    fields_ = &prepared.fields;
    const h3::Origin origin{prepared.request.url.host(), prepared.request.url.port()};
    log("* Connecting to {}", origin.to_string());
    connection_ = h3::Connection::create(io_.get_executor(), origin, options, this);
    if (max_time) arm_deadline(*max_time);
    connection_->start();
    connection_->request(prepared.request, [this](Result<Response> outcome) { finish(std::move(outcome)); });
    io_.run();
    if (outcome_) return std::move(*outcome_);
    return std::unexpected(Error(ErrorKind::transport_error, "the connection ended without a response"));
  }

 private:
  void on_ready(h3::Connection&, std::uint64_t max_streams) override {
    log("* Connected, peer allows {} streams", max_streams);
    for (const Header& field : *fields_) log("> {}: {}", field.name, field.value);
  }

  void on_stream_done(h3::Connection&) override {}
  void on_stream_credit(h3::Connection&) override {}
  void on_draining(h3::Connection&) override { log("* Connection draining (GOAWAY)"); }

  void on_stream_open_failed(h3::Connection&, const Error& error) override {
    log("* Could not open a stream: {}", error.to_string());
  }

  void on_closed(h3::Connection&, const Error& reason) override {
    log("* Connection closed: {}", reason.message());
    closed_ = true;
    if (outcome_) {
      stop_after_pending_handlers();
      return;
    }
    close_reason_ = reason;  // the request's handler should follow; if it does not, this is the outcome
    stop_after_grace();
  }

  void finish(Result<Response> outcome) {
    if (outcome_) return;  // e.g. the transport_error caused by closing at the deadline
    deadline_.cancel();
    if (outcome) log_response(*outcome);
    outcome_ = std::move(outcome);
    if (closed_) {
      stop_after_pending_handlers();
      return;
    }
    connection_->close();
    stop_after_grace();
  }

  void arm_deadline(std::chrono::milliseconds max_time) {
    deadline_.expires_after(max_time);
    deadline_.async_wait([this, max_time](std::error_code ec) {
      if (ec || outcome_) return;
      outcome_ = std::unexpected(Error(ErrorKind::request_timeout,
          fmt::format("no complete response within {:g}s (--max-time)", max_time.count() / 1000.0)));
      log("* Deadline passed, closing the connection");
      if (closed_) {
        stop_after_pending_handlers();
        return;
      }
      connection_->close();
      stop_after_grace();
    });
  }

  // Lets handlers already queued (e.g. the send of CONNECTION_CLOSE) run, then stops.
  void stop_after_pending_handlers() {
    asio::post(io_, [this] { io_.stop(); });
  }

  void stop_after_grace() {
    grace_.expires_after(shutdown_grace);
    grace_.async_wait([this](std::error_code ec) {
      if (ec) return;
      if (!outcome_ && close_reason_) outcome_ = std::unexpected(*close_reason_);
      io_.stop();
    });
  }

  void log_response(const Response& response) {
    if (!verbose_) return;
    write_head(*verbose_, response, "< ", "\n");
    log("* Received {} bytes of body", response.body.size());
    for (const Header& field : response.trailers) log("< {}: {} (trailer)", field.name, field.value);
  }

  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    if (verbose_) *verbose_ << fmt::format(format, std::forward<Args>(args)...) << '\n';
  }

  // Declared first so it is destroyed last: pending handlers that refer to `this` are destroyed with it
  // and never run after the Exchange is gone.
  asio::io_context io_;
  asio::steady_timer deadline_{io_};
  asio::steady_timer grace_{io_};
  std::shared_ptr<h3::Connection> connection_;
  std::ostream* verbose_;                        // borrowed; null unless -v
  const std::vector<Header>* fields_ = nullptr;  // borrowed from run()'s argument, for -v
  std::optional<Result<Response>> outcome_;
  std::optional<Error> close_reason_;
  bool closed_ = false;
};

int report(std::ostream& err, const Failure& failure) {
  err << failure.line() << '\n';
  return failure.exit_code;
}

}  // namespace

int run_fetch(const CliOptions& options, Terminal terminal) {
  auto prepared = prepare_request(options, terminal.in);
  if (!prepared) return report(terminal.err, prepared.error());
  auto connection_options = connection_options_for(options);
  if (!connection_options) return report(terminal.err, connection_options.error());

  Exchange exchange(options.verbose ? &terminal.err : nullptr);
  auto outcome = exchange.run(*prepared, *connection_options, options.max_time);
  if (!outcome) return report(terminal.err, failure_from(outcome.error()));
  if (auto failure = emit_response(*outcome, prepared->request.url.to_string(), options, terminal.out)) {
    return report(terminal.err, *failure);
  }
  return exit_code::ok;
}

}  // namespace quiver::cli
