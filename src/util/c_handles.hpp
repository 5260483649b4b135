#pragma once
// Owning smart pointers for the C libraries' handles. Each deleter is the library's own destructor.

#include <cstdio>
#include <memory>
#include <type_traits>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nghttp2/nghttp2.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

namespace quiver::util {

struct NgtcpConnDeleter {
  void operator()(ngtcp2_conn* conn) const noexcept { ngtcp2_conn_del(conn); }
};
struct Nghttp3ConnDeleter {
  void operator()(nghttp3_conn* conn) const noexcept { nghttp3_conn_del(conn); }
};
struct Nghttp2SessionDeleter {
  void operator()(nghttp2_session* session) const noexcept { nghttp2_session_del(session); }
};
struct Nghttp2OptionDeleter {
  void operator()(nghttp2_option* option) const noexcept { nghttp2_option_del(option); }
};
struct Nghttp2CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* callbacks) const noexcept { nghttp2_session_callbacks_del(callbacks); }
};
struct GnutlsSessionDeleter {
  void operator()(gnutls_session_int* session) const noexcept { gnutls_deinit(session); }
};
struct GnutlsCredentialsDeleter {
  void operator()(gnutls_certificate_credentials_st* creds) const noexcept {
    gnutls_certificate_free_credentials(creds);
  }
};

struct GnutlsPriorityDeleter {
  void operator()(gnutls_priority_st* priority) const noexcept { gnutls_priority_deinit(priority); }
};

struct GnutlsPacketDeleter {
  void operator()(gnutls_packet_t packet) const noexcept { gnutls_packet_deinit(packet); }
};
struct GnutlsCertificateDeleter {
  void operator()(gnutls_x509_crt_t certificate) const noexcept { gnutls_x509_crt_deinit(certificate); }
};

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

using FilePtr = std::unique_ptr<std::FILE, FileCloser>;
using NgtcpConnPtr = std::unique_ptr<ngtcp2_conn, NgtcpConnDeleter>;
using Nghttp3ConnPtr = std::unique_ptr<nghttp3_conn, Nghttp3ConnDeleter>;
using Nghttp2SessionPtr = std::unique_ptr<nghttp2_session, Nghttp2SessionDeleter>;
using Nghttp2OptionPtr = std::unique_ptr<nghttp2_option, Nghttp2OptionDeleter>;
using Nghttp2CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, Nghttp2CallbacksDeleter>;
using GnutlsSessionPtr = std::unique_ptr<gnutls_session_int, GnutlsSessionDeleter>;
using GnutlsCredentialsPtr =
    std::unique_ptr<gnutls_certificate_credentials_st, GnutlsCredentialsDeleter>;
using GnutlsPriorityPtr = std::unique_ptr<gnutls_priority_st, GnutlsPriorityDeleter>;
using GnutlsPacketPtr = std::unique_ptr<std::remove_pointer_t<gnutls_packet_t>, GnutlsPacketDeleter>;
using GnutlsCertificatePtr = std::unique_ptr<std::remove_pointer_t<gnutls_x509_crt_t>, GnutlsCertificateDeleter>;

}  // namespace quiver::util
