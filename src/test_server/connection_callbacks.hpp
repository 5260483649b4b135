#pragma once
// The C callback tables of a server connection. Every entry is a noexcept trampoline: it casts the
// user_data back, calls one member, and maps an exception to the library's CALLBACK_FAILURE. ngtcp2's
// user_data is the QuicTransport that owns the ngtcp2_conn (stream events go on to its TransportEvents);
// nghttp3's is the ServerConnection that owns the nghttp3_conn.

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

namespace quiver::server {

const ngtcp2_callbacks& quic_callbacks() noexcept;
const nghttp3_callbacks& h3_callbacks() noexcept;
// Reader for every response body; stream_id identifies the stream.
const nghttp3_data_reader& body_reader() noexcept;
// ngtcp2_crypto_conn_ref::get_conn; conn_ref->user_data is the QuicTransport.
ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* conn_ref) noexcept;
// ngtcp2_settings::log_printf for QUIVER_SERVER_TRACE=1.
void trace_printf(void* user_data, const char* format, ...) noexcept;

}  // namespace quiver::server
