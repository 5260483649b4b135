#pragma once
// The C callback tables of a ServerConnection. Every entry is a noexcept trampoline: it casts the
// user_data back to the ServerConnection, calls one member, and maps an exception to the library's
// CALLBACK_FAILURE. user_data is always the ServerConnection that owns the C object.

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

namespace quiver::server {

const ngtcp2_callbacks& quic_callbacks() noexcept;
const nghttp3_callbacks& h3_callbacks() noexcept;
// Reader for every response body; stream_id identifies the stream.
const nghttp3_data_reader& body_reader() noexcept;
// ngtcp2_crypto_conn_ref::get_conn; conn_ref->user_data is the ServerConnection.
ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* conn_ref) noexcept;
// ngtcp2_settings::log_printf for QUIVER_SERVER_TRACE=1.
void trace_printf(void* user_data, const char* format, ...) noexcept;

}  // namespace quiver::server
