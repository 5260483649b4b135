#pragma once
// StreamTransport: the part of a QUIC transport that the HTTP/3 session drives (open streams, return
// flow-control credit, shut streams down, ask for a write). QuicTransport implements it; the fuzz
// target tests/fuzz/response_assembly_fuzz.cpp drives H3Session with a fake one.

#include <cstdint>
#include <span>

#include "quiver/error.hpp"

namespace quiver::quic {

class StreamTransport {
 public:
  virtual ~StreamTransport() = default;

  virtual Result<std::int64_t> open_bidi_stream() = 0;
  virtual Result<std::int64_t> open_uni_stream() = 0;
  // Returns `bytes` of flow-control credit on the stream and the connection (they were consumed); a
  // stream already gone gets none, the connection still does.
  virtual void extend_stream_credit(std::int64_t stream_id, std::uint64_t bytes) = 0;
  // Resets our send side and asks the peer to stop sending (RESET_STREAM + STOP_SENDING).
  virtual void shutdown_stream(std::int64_t stream_id, std::uint64_t app_error_code) = 0;
  virtual void shutdown_stream_read(std::int64_t stream_id, std::uint64_t app_error_code) = 0;   // STOP_SENDING
  virtual void shutdown_stream_write(std::int64_t stream_id, std::uint64_t app_error_code) = 0;  // RESET_STREAM
  // Coalesces writes: one write loop runs soon for any number of calls.
  virtual void schedule_write() = 0;
  // QUIC DATAGRAM frames (RFC 9221): the largest payload one may carry now (0: not negotiated), and
  // queueing one (`prefix` then `payload`) for the next write; false when too many wait already.
  virtual std::size_t max_datagram_payload() const noexcept { return 0; }
  virtual bool queue_datagram(std::span<const std::uint8_t>, std::span<const std::uint8_t>) { return false; }
};

}  // namespace quiver::quic
