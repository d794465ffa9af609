"""A small WebSocket client (RFC 6455) on the socket module, enough to drive
/stream from the end-to-end tests without a package: the opening handshake
(and broken ones), masked text/binary/continuation frames out (and unmasked
ones), frames in, the close handshake.
"""

import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the connection; `code` and `reason` from its close frame."""

    def __init__(self, code, reason):
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class Refused(Exception):
    """The server answered the handshake with something else than 101."""

    def __init__(self, status, headers, body):
        super().__init__(f"no upgrade: {status} {body!r}")
        self.status = status
        self.headers = headers
        self.body = body


class WebSocket:
    def __init__(self, host, port, path="/stream", timeout=10, headers=None, key=True):
        """`headers`: more handshake headers (an Origin…); `key=False` leaves
        out Sec-WebSocket-Key, as a broken client would."""
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode() if key else None
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           + (f"Sec-WebSocket-Key: {key}\r\n" if key else "")
                           + f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"no upgrade: {head!r}")
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if self.status != 101:
            length = int(headers.get("content-length", "0"))
            while len(self.buffer) < length:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buffer += chunk
            self.sock.close()
            raise Refused(self.status, headers, self.buffer[:length].decode("utf-8", "replace"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise ConnectionError("bad Sec-WebSocket-Accept")

    # -- sending

    @staticmethod
    def frame(opcode, payload, fin=True, masked=True):
        """One client frame, as bytes: masked, as RFC 6455 requires, unless
        told otherwise (a broken client)."""
        bit = 0x80 if masked else 0
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([bit | n])
        elif n < 65536:
            header += bytes([bit | 126]) + struct.pack("!H", n)
        else:
            header += bytes([bit | 127]) + struct.pack("!Q", n)
        if not masked:
            return header + payload
        mask = os.urandom(4)
        return header + mask + _mask(payload, mask)

    def send_frame(self, opcode, payload, fin=True, masked=True):
        self.sock.sendall(self.frame(opcode, payload, fin, masked))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode())

    def request(self, text):
        """Sends one message and returns the server's text reply."""
        self.send_text(text)
        return self.receive()

    # -- receiving

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(1006, "connection dropped without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _frame(self):
        first, second = self._read(2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if second & 0x80:
            raise ConnectionError("server frames must not be masked")
        return bool(first & 0x80), first & 0x0F, self._read(n)

    def receive(self):
        """The next text message; raises Closed when the server closes."""
        parts = []
        while True:
            fin, opcode, payload = self._frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                try:
                    self.send_frame(CLOSE, payload[:2])
                except OSError:
                    pass
                self.sock.close()
                raise Closed(code, reason)
            parts.append(payload)
            if fin:
                if opcode not in (TEXT, CONTINUATION):
                    raise ConnectionError(f"unexpected opcode {opcode}")
                return b"".join(parts).decode("utf-8")

    def close(self, code=1000):
        """The close handshake; returns the code the server answered with."""
        self.send_frame(CLOSE, struct.pack("!H", code))
        try:
            while True:
                self.receive()
        except Closed as closed:
            return closed.code


def _mask(payload, mask):
    # XOR as one big integer: fast for large payloads.
    n = len(payload)
    if n == 0:
        return b""
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
