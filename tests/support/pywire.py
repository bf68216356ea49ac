"""Helpers for the python3-grpcio tests: free ports and hand-encoded
protobuf (no generated code needed)."""
import socket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_str(num, s):
    b = s.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def read_varint(buf, i):
    """The varint at buf[i:], and the index after it."""
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def parse_fields(buf):
    """Decode a flat protobuf message into {field: value} (varints and bytes)."""
    i, out = 0, {}
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num], i = read_varint(buf, i)
        elif wt == 2:
            ln, i = read_varint(buf, i)
            out[num] = buf[i:i + ln]
            i += ln
        else:
            raise ValueError("unexpected wire type %d" % wt)
    return out
