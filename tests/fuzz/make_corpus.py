#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

Each seed is named after what it holds. The formats are documented at the top of each target's .cpp file.
Re-run after changing a format: python3 tests/fuzz/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- url_fuzz: the input is the URL ----------------------------------------------------------------
for name, text in {
    "simple": b"https://example.com/",
    "port_path_query_fragment": b"https://Example.COM:8443/a/b%20c?x=1&y=2#frag",
    "ipv6": b"https://[::1]:4433/index.html",
    "ipv6_full": b"https://[2001:DB8:0:0:0:0:0:1]/",
    "ipv4": b"https://127.0.0.1:443?q",
    "uppercase_scheme": b"HTTPS://host_name.example./",
    "userinfo_rejected": b"https://user:secret@example.com/",
    "http_rejected": b"http://example.com/",
    "control_rejected": b"https://example.com/a\x01b",
    "bad_port": b"https://example.com:65536/",
}.items():
    write("url_fuzz", name, text)


# ---- request_fields_fuzz: flags method url body (name value)* with one-byte length prefixes -----------
def s8(b):
    assert len(b) < 256
    return bytes([len(b)]) + b


def request(flags, method, url, body, headers):
    out = bytes([flags]) + s8(method) + s8(url) + s8(body)
    for name, value in headers:
        out += s8(name) + s8(value)
    return out


write("request_fields_fuzz", "get_with_headers",
      request(0, b"GET", b"example.com/", b"", [(b"Accept", b"*/*"), (b"User-Agent", b"quiver")]))
write("request_fields_fuzz", "post_bytes_content_length",
      request(1, b"POST", b"example.com:8443/upload?x", b"hello",
              [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]))
write("request_fields_fuzz", "host_and_te",
      request(0, b"GET", b"example.com/", b"", [(b"Host", b"other.example:8443"), (b"TE", b"trailers")]))
write("request_fields_fuzz", "crlf_in_value_rejected",
      request(0, b"GET", b"example.com/", b"", [(b"X-Bad", b"a\r\nInjected: 1")]))
write("request_fields_fuzz", "connection_rejected",
      request(0, b"GET", b"example.com/", b"", [(b"Connection", b"close")]))
write("request_fields_fuzz", "producer_body",
      request(2, b"PUT", b"example.com/up", b"", [(b"content-length", b"10"), (b"X-Trace", b"1")]))
write("request_fields_fuzz", "raw_url_ipv6",
      request(4, b"DELETE", b"https://[::1]:4433/item/7", b"", [(b"x-nul", b"a\x00b")]))


# ---- response_assembly_fuzz: operations (see the .cpp) --------------------------------------------------
# Stream selectors: index into {3, 7, 11, 15, 2, 6, 10, 0, 4, 8, later requests}.
SEL = {3: 0, 7: 1, 11: 2, 15: 3, 2: 4, 6: 5, 10: 6, 0: 7, 4: 8, 8: 9}
DATA, DATA_FIN, RESET, STOP, CLOSE, WRITE, ACK, BLOCKED, CREDIT, CONSUME, SUBMIT, CANCEL, GOAWAY, PULL, \
    WRITE_SHUT, DATA8 = range(16)


def op(kind, stream=3):
    return bytes([kind | SEL[stream] << 4])


def data(stream, payload, fin=False):
    return op(DATA_FIN if fin else DATA, stream) + struct.pack(">H", len(payload)) + payload


def varint(n):  # QUIC variable-length integer
    if n < 0x40:
        return bytes([n])
    if n < 0x4000:
        return struct.pack(">H", n | 0x4000)
    return struct.pack(">I", n | 0x80000000)


def frame(frame_type, payload):
    return varint(frame_type) + varint(len(payload)) + payload


def settings(pairs):
    return frame(0x04, b"".join(varint(k) + varint(v) for k, v in pairs))


CONTROL = b"\x00" + settings([(0x01, 4096), (0x07, 16), (0x06, 65536)])  # QPACK capacity, blocked, field size
ENCODER = b"\x02"
DECODER = b"\x03"
STATUS_200_INDEXED = b"\x00\x00\xd9"                            # static index 25 (:status 200)
STATUS_200_LITERAL = b"\x00\x00\x5f\x0a\x03200"                 # literal, static name ref 25, "200"
FIELD_X_A = b"\x23x-a\x01b"                                     # literal name "x-a", value "b"
TRAILER_X_T = b"\x00\x00\x23x-t\x011"
HEADERS = lambda block: frame(0x01, block)
DATA_FRAME = lambda body: frame(0x00, body)
WRITE_ALL = op(WRITE) + b"\x00"

write("response_assembly_fuzz", "settings_only", data(3, CONTROL) + WRITE_ALL)
write("response_assembly_fuzz", "settings_qpack_streams",
      data(3, CONTROL) + data(7, ENCODER) + data(11, DECODER) + WRITE_ALL)
write("response_assembly_fuzz", "response_200_indexed",
      data(3, CONTROL) + data(0, HEADERS(STATUS_200_INDEXED) + DATA_FRAME(b"hello"), fin=True) + WRITE_ALL)
write("response_assembly_fuzz", "response_200_literal_data_end",
      data(3, CONTROL) + data(0, HEADERS(STATUS_200_LITERAL + FIELD_X_A)) +
      data(0, DATA_FRAME(b"hello, ")) + op(CONSUME, 0) + data(0, DATA_FRAME(b"world"), fin=True) +
      op(CONSUME, 0) + WRITE_ALL)
write("response_assembly_fuzz", "response_with_trailers",
      data(3, CONTROL) + data(4, HEADERS(STATUS_200_LITERAL) + DATA_FRAME(b"body") + HEADERS(TRAILER_X_T),
                              fin=True) + WRITE_ALL)
write("response_assembly_fuzz", "three_responses",
      data(3, CONTROL) + b"".join(data(s, HEADERS(STATUS_200_INDEXED) + DATA_FRAME(b"x" * 10), fin=True)
                                  for s in (8, 0, 4)) + WRITE_ALL)
# A dynamic-table reference that arrives before its insertion: the stream blocks, then unblocks.
SET_CAPACITY_4096 = b"\x3f\xe1\x1f"
INSERT_STATUS_200 = b"\xd9\x03200"                               # insert with static name ref 25
DYNAMIC_STATUS = b"\x02\x00\x80"                                 # RIC 1, base 1, dynamic index 0
write("response_assembly_fuzz", "qpack_blocked_then_unblocked",
      data(3, CONTROL) + data(0, HEADERS(DYNAMIC_STATUS) + DATA_FRAME(b"late"), fin=True) +
      data(7, ENCODER + SET_CAPACITY_4096 + INSERT_STATUS_200) + WRITE_ALL + op(ACK, 10) + b"\x00\x00")
write("response_assembly_fuzz", "qpack_blocked_then_reset",
      data(3, CONTROL) + data(0, HEADERS(DYNAMIC_STATUS), fin=True) + op(RESET, 0) + b"\x00\x0c" +
      data(7, ENCODER + SET_CAPACITY_4096 + INSERT_STATUS_200) + op(CLOSE, 0) + b"\x0c")
write("response_assembly_fuzz", "headers_then_reset_then_close",
      data(3, CONTROL) + data(4, HEADERS(STATUS_200_INDEXED)) + op(RESET, 4) + b"\x00\x0c" +
      op(CLOSE, 4) + b"\x0c")
write("response_assembly_fuzz", "goaway",
      data(3, CONTROL + frame(0x07, varint(4))) + data(0, HEADERS(STATUS_200_INDEXED), fin=True) +
      op(SUBMIT) + b"\x00\x00")
write("response_assembly_fuzz", "post_bodies_written_and_acked",
      op(SUBMIT) + b"\x01\x40" + op(SUBMIT) + b"\x02\x2b" + data(3, CONTROL) + WRITE_ALL +
      op(PULL) + WRITE_ALL + op(PULL) + op(WRITE) + b"\x01" + op(ACK, 2) + b"\x00\x00" +
      op(ACK, 0) + b"\x00\x00" + op(ACK, 4) + b"\x00\x00" + op(PULL) + WRITE_ALL +
      data(0, HEADERS(STATUS_200_INDEXED), fin=True) + op(CLOSE, 0) + b"\x00")
write("response_assembly_fuzz", "cancel_and_stop_sending",
      data(3, CONTROL) + op(CANCEL, 0) + op(STOP, 4) + b"\x00\x0c" + WRITE_ALL + op(BLOCKED, 8) +
      op(CREDIT, 8) + op(WRITE_SHUT, 8) + WRITE_ALL)
write("response_assembly_fuzz", "informational_then_final",
      data(3, CONTROL) + data(0, HEADERS(b"\x00\x00\x5f\x09\x03103") + HEADERS(STATUS_200_INDEXED) +
                              DATA_FRAME(b"ok"), fin=True))
write("response_assembly_fuzz", "data_before_headers_error",
      data(3, CONTROL) + data(0, DATA_FRAME(b"early")))
write("response_assembly_fuzz", "second_settings_error", data(3, CONTROL + settings([])))


def prefixed_int(first, prefix_bits, n):  # QPACK/HPACK prefixed integer (RFC 7541 §5.1)
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out, n = [first | limit], n - limit
    while n >= 0x80:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(out + [n])


# Over the harness's 1024-byte max_response_header_bytes: a literal "x-big" of 1100 bytes (RFC 9114
# §4.2.2 size 1137), in a header section, in trailers, and as a QPACK-blocked dynamic-table entry.
BIG_VALUE = b"v" * 1100
FIELD_X_BIG = prefixed_int(0x20, 3, 5) + b"x-big" + prefixed_int(0x00, 7, len(BIG_VALUE)) + BIG_VALUE
INSERT_X_BIG = prefixed_int(0x40, 5, 5) + b"x-big" + prefixed_int(0x00, 7, len(BIG_VALUE)) + BIG_VALUE
write("response_assembly_fuzz", "headers_over_the_limit_then_another_response",
      data(3, CONTROL) + data(0, HEADERS(STATUS_200_LITERAL + FIELD_X_BIG) + DATA_FRAME(b"dropped"), fin=True) +
      data(4, HEADERS(STATUS_200_INDEXED) + DATA_FRAME(b"ok"), fin=True) + op(CLOSE, 0) + b"\x07" + WRITE_ALL)
write("response_assembly_fuzz", "trailers_over_the_limit",
      data(3, CONTROL) + data(4, HEADERS(STATUS_200_LITERAL) + DATA_FRAME(b"body") + HEADERS(b"\x00\x00" + FIELD_X_BIG),
                              fin=True) + op(CONSUME, 4) + WRITE_ALL)
write("response_assembly_fuzz", "qpack_blocked_over_the_limit",
      data(3, CONTROL) + data(0, HEADERS(b"\x02\x00\xd9\x80") + DATA_FRAME(b"late"), fin=True) +
      data(7, ENCODER + SET_CAPACITY_4096 + INSERT_X_BIG) + WRITE_ALL)

# Regressions: inputs that found bugs (docs/reliability.md, "Findings"). CI replays them on every run.
# A response header whose value is one forbidden byte (LF): nghttp3 1.8 checks one-byte values for
# whitespace only, so it reaches Headers unless the session checks it.
write("response_assembly_fuzz", "regression_single_byte_lf_header_value",
      data(3, CONTROL) + data(0, HEADERS(STATUS_200_LITERAL + b"\x23x-a\x01\n") + DATA_FRAME(b"ok"), fin=True))
# A response that is QPACK-blocked when its FIN arrives: QUIC closes the stream (our side was done), the
# session reports it closed, and only then does the encoder stream unblock it.
write("response_assembly_fuzz", "regression_closed_while_qpack_blocked",
      data(3, CONTROL) + data(0, HEADERS(DYNAMIC_STATUS) + DATA_FRAME(b"late"), fin=True) + op(CLOSE, 0) +
      b"\x00" + data(7, ENCODER + SET_CAPACITY_4096 + INSERT_STATUS_200))

# ---- h2_response_assembly_fuzz: raw HTTP/2 frames (RFC 9113 §4.1) from the server ---------------------

def h2_frame(frame_type, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + stream.to_bytes(4, "big") + payload


def h2_recv(payload):  # op 0: RECV len:u16 bytes
    return b"\x00" + len(payload).to_bytes(2, "big") + payload


H2_DATA, H2_HEADERS, H2_RST, H2_SETTINGS, H2_PING, H2_GOAWAY, H2_WINDOW = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
H2_STATUS_200 = b"\x88"  # HPACK static index 8
H2_SEND, H2_CONSUME = b"\x01", b"\x02"
write("h2_response_assembly_fuzz", "get_200_body",
      h2_recv(h2_frame(H2_HEADERS, END_HEADERS, 1, H2_STATUS_200) + h2_frame(H2_DATA, END_STREAM, 1, b"hello")) +
      H2_SEND + H2_CONSUME + H2_SEND)
write("h2_response_assembly_fuzz", "headers_only",
      h2_recv(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, 3, H2_STATUS_200)) + H2_SEND)
write("h2_response_assembly_fuzz", "trailers",
      h2_recv(h2_frame(H2_HEADERS, END_HEADERS, 1, H2_STATUS_200) + h2_frame(H2_DATA, 0, 1, b"abc") +
              h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, 1, b"\x40\x01x\x01y")) + H2_SEND)
write("h2_response_assembly_fuzz", "refused_stream",
      h2_recv(h2_frame(H2_RST, 0, 3, (7).to_bytes(4, "big"))) + H2_SEND)
write("h2_response_assembly_fuzz", "goaway_last_1",
      h2_recv(h2_frame(H2_GOAWAY, 0, 0, (1).to_bytes(4, "big") + (0).to_bytes(4, "big"))) + H2_SEND +
      h2_recv(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, 1, H2_STATUS_200)))
write("h2_response_assembly_fuzz", "informational_then_final",
      h2_recv(h2_frame(H2_HEADERS, END_HEADERS, 5, b"\x08\x03" + b"100") +
              h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, 5, H2_STATUS_200)))
write("h2_response_assembly_fuzz", "upload_and_ping",
      b"\x04\x01\x05\x04\x02\x21\x06\x01" + h2_recv(h2_frame(H2_PING, 0, 0, b"12345678")) +
      b"\x07\x01\x03\x01\x05\x01")
write("h2_response_assembly_fuzz", "settings_ack_and_window",
      h2_recv(h2_frame(H2_SETTINGS, ACK, 0) + h2_frame(H2_WINDOW, 0, 0, (1000).to_bytes(4, "big"))) + H2_SEND)


# ---- h1_response_assembly_fuzz: EXPECT / RECV / EOF operations over raw HTTP/1.1 response bytes ------
def h1_recv(data):
    return bytes([1]) + struct.pack(">H", len(data)) + data


H1_EXPECT, H1_EXPECT_HEAD, H1_EOF = bytes([0]), bytes([4]), bytes([2])
write("h1_response_assembly_fuzz", "content_length_keep_alive",
      H1_EXPECT + h1_recv(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") +
      H1_EXPECT + h1_recv(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
write("h1_response_assembly_fuzz", "chunked_with_trailers",
      H1_EXPECT + h1_recv(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbo") +
      h1_recv(b"dy\r\n0\r\nX-Checksum: 42\r\n\r\n"))
write("h1_response_assembly_fuzz", "head_and_304",
      H1_EXPECT_HEAD + h1_recv(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") +
      H1_EXPECT + h1_recv(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"))
write("h1_response_assembly_fuzz", "body_until_close",
      H1_EXPECT + h1_recv(b"HTTP/1.0 200 OK\r\n\r\nsome bytes") + H1_EOF)
write("h1_response_assembly_fuzz", "bad_chunk_size",
      H1_EXPECT + h1_recv(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"))
write("h1_response_assembly_fuzz", "body_longer_than_content_length",
      H1_EXPECT + h1_recv(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world"))


# ---- capsule_fuzz: one byte of piece size, then the stream's capsules ----------------------------------
def varint(value):
    if value < 64:
        return bytes([value])
    if value < 16384:
        return struct.pack(">H", 0x4000 | value)
    if value < 2**30:
        return struct.pack(">I", 0x80000000 | value)
    return struct.pack(">Q", 0xC000000000000000 | value)


def capsule(kind, value):
    return varint(kind) + varint(len(value)) + value


write("capsule_fuzz", "datagrams_and_unknown",
      bytes([2]) + capsule(0, b"\x00hello") + capsule(0x2a, b"skip me") + capsule(0, b""))
write("capsule_fuzz", "large_datagram_one_byte_pieces", bytes([0]) + capsule(0, b"\x00" + b"u" * 1300))
write("capsule_fuzz", "oversized_datagram", bytes([5]) + varint(0) + varint(70000) + b"x" * 10)
write("capsule_fuzz", "cut_short", bytes([3]) + capsule(0, b"whole") + varint(0) + varint(9) + b"half")
