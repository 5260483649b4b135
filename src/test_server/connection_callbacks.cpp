#include "test_server/connection_callbacks.hpp"

#include <cstdarg>
#include <cstdio>
#include <string>

#include <gnutls/crypto.h>

#include "test_server/server_connection.hpp"

namespace quiver::server {
namespace {

ServerConnection& self(void* user_data) noexcept { return *static_cast<ServerConnection*>(user_data); }
QuicTransport& transport(void* user_data) noexcept { return *static_cast<QuicTransport*>(user_data); }

template <class F>
int quic_guard(F&& f) noexcept {
  try {
    return f();
  } catch (...) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
}

template <class F>
auto h3_guard(F&& f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  }
}

std::string to_string(nghttp3_rcbuf* buffer) {
  auto v = nghttp3_rcbuf_get_buf(buffer);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

// Friend of QuicTransport and ServerConnection: the only way the C libraries reach their on_* members.
struct Trampolines {
  static TransportEvents& events(void* user_data) noexcept { return transport(user_data).events_; }

  // ---- ngtcp2 (user_data: the QuicTransport; stream events go on to its TransportEvents) ----
  static int recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t* data,
                              size_t datalen, void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_recv_stream_data(flags, stream_id, {data, datalen}); });
  }
  static int stream_open(ngtcp2_conn*, int64_t stream_id, void* user_data) noexcept {
    return quic_guard([&] { return events(user_data).on_stream_open(stream_id); });
  }
  static int acked_stream_data_offset(ngtcp2_conn*, int64_t stream_id, uint64_t offset, uint64_t datalen,
                                      void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_acked_stream_data_offset(stream_id, offset, datalen); });
  }
  static int stream_close(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
                          void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_stream_close(flags, stream_id, app_error_code); });
  }
  static int stream_reset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t, void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_stream_reset(stream_id); });
  }
  static int stream_stop_sending(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_stream_reset(stream_id); });
  }
  static int recv_datagram(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t datalen, void* user_data) noexcept {
    return quic_guard([&] { return events(user_data).on_datagram({data, datalen}); });
  }
  static int extend_max_stream_data(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) noexcept {
    return quic_guard([&] { return events(user_data).on_extend_max_stream_data(stream_id); });
  }
  static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen,
                                   void* user_data) noexcept {
    return quic_guard([&] { return transport(user_data).on_new_connection_id(cid, token, cidlen); });
  }
  static int remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) noexcept {
    return quic_guard([&] { return transport(user_data).on_remove_connection_id(cid); });
  }
  // The server's 1-RTT keys exist once it has sent its Finished: the application can start.
  static int recv_tx_key(ngtcp2_conn*, ngtcp2_encryption_level level, void* user_data) noexcept {
    return quic_guard([&] { return level == NGTCP2_ENCRYPTION_LEVEL_1RTT ? events(user_data).on_handshake_keys() : 0; });
  }
  static int handshake_completed(ngtcp2_conn*, void* user_data) noexcept {
    return quic_guard([&] { return transport(user_data).on_handshake_completed(); });
  }
  static void rand(uint8_t* dest, size_t destlen, const ngtcp2_rand_ctx*) noexcept {
    gnutls_rnd(GNUTLS_RND_RANDOM, dest, destlen);
  }

  // ---- nghttp3 ----
  static int acked_stream_data(nghttp3_conn*, int64_t stream_id, uint64_t datalen, void* user_data,
                               void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_acked_data(stream_id, datalen); });
  }
  static int h3_stream_close(nghttp3_conn*, int64_t stream_id, uint64_t app_error_code, void* user_data,
                             void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_stream_close(stream_id, app_error_code); });
  }
  static int recv_data(nghttp3_conn*, int64_t stream_id, const uint8_t* data, size_t datalen, void* user_data,
                       void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_recv_data(stream_id, {data, datalen}); });
  }
  static int deferred_consume(nghttp3_conn*, int64_t stream_id, size_t consumed, void* user_data,
                              void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_deferred_consume(stream_id, consumed); });
  }
  static int begin_headers(nghttp3_conn*, int64_t stream_id, void* user_data, void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_begin_headers(stream_id); });
  }
  static int recv_header(nghttp3_conn*, int64_t stream_id, int32_t, nghttp3_rcbuf* name, nghttp3_rcbuf* value,
                         uint8_t, void* user_data, void*) noexcept {
    return h3_guard(
        [&] { return self(user_data).on_h3_recv_header(stream_id, to_string(name), to_string(value)); });
  }
  static int end_headers(nghttp3_conn*, int64_t stream_id, int, void* user_data, void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_end_headers(stream_id); });
  }
  static int end_stream(nghttp3_conn*, int64_t stream_id, void* user_data, void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_end_stream(stream_id); });
  }
  static int stop_sending(nghttp3_conn*, int64_t stream_id, uint64_t app_error_code, void* user_data,
                          void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_stop_sending(stream_id, app_error_code); });
  }
  static int reset_stream(nghttp3_conn*, int64_t stream_id, uint64_t app_error_code, void* user_data,
                          void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_reset_stream(stream_id, app_error_code); });
  }
  static nghttp3_ssize read_body(nghttp3_conn*, int64_t stream_id, nghttp3_vec* vec, size_t veccnt,
                                 uint32_t* pflags, void* user_data, void*) noexcept {
    return h3_guard([&] { return self(user_data).on_h3_read_body(stream_id, vec, veccnt, pflags); });
  }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* conn_ref) noexcept {
    return transport(conn_ref->user_data).conn();
  }
};

const ngtcp2_callbacks& quic_callbacks() noexcept {
  static const ngtcp2_callbacks callbacks = [] {
    ngtcp2_callbacks c{};
    c.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    c.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    c.encrypt = ngtcp2_crypto_encrypt_cb;
    c.decrypt = ngtcp2_crypto_decrypt_cb;
    c.hp_mask = ngtcp2_crypto_hp_mask_cb;
    c.update_key = ngtcp2_crypto_update_key_cb;
    c.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    c.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    c.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    c.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    c.recv_stream_data = Trampolines::recv_stream_data;
    c.stream_open = Trampolines::stream_open;
    c.acked_stream_data_offset = Trampolines::acked_stream_data_offset;
    c.stream_close = Trampolines::stream_close;
    c.stream_reset = Trampolines::stream_reset;
    c.stream_stop_sending = Trampolines::stream_stop_sending;
    c.extend_max_stream_data = Trampolines::extend_max_stream_data;
    c.recv_datagram = Trampolines::recv_datagram;
    c.rand = Trampolines::rand;
    c.get_new_connection_id = Trampolines::get_new_connection_id;
    c.remove_connection_id = Trampolines::remove_connection_id;
    c.recv_tx_key = Trampolines::recv_tx_key;
    c.handshake_completed = Trampolines::handshake_completed;
    return c;
  }();
  return callbacks;
}

const nghttp3_callbacks& h3_callbacks() noexcept {
  static const nghttp3_callbacks callbacks = [] {
    nghttp3_callbacks c{};
    c.acked_stream_data = Trampolines::acked_stream_data;
    c.stream_close = Trampolines::h3_stream_close;
    c.recv_data = Trampolines::recv_data;
    c.deferred_consume = Trampolines::deferred_consume;
    c.begin_headers = Trampolines::begin_headers;
    c.recv_header = Trampolines::recv_header;
    c.end_headers = Trampolines::end_headers;
    c.stop_sending = Trampolines::stop_sending;
    c.end_stream = Trampolines::end_stream;
    c.reset_stream = Trampolines::reset_stream;
    return c;
  }();
  return callbacks;
}

const nghttp3_data_reader& body_reader() noexcept {
  static const nghttp3_data_reader reader{Trampolines::read_body};
  return reader;
}

ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* conn_ref) noexcept { return Trampolines::get_conn(conn_ref); }

void trace_printf(void*, const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

}  // namespace quiver::server
