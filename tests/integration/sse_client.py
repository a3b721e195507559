"""A small Server-Sent Events client over a raw socket (HTTP/1.1, chunked or not),
for the push tests: it reads the status, the headers, then events and comments."""
import collections
import json
import select
import socket
import time


class SSE:
    def __init__(self, port, path, headers=None, rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        h = {"Host": "127.0.0.1", "Accept": "text/event-stream"}
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""
        self.payload = b""
        self.blocks = collections.deque()
        self.eof = False
        self.ended = False  # the last chunk came (a clean end)
        self.comments = []
        self.retry = None
        self.status = None
        self.headers = {}
        self.body = b""
        self.chunked = False
        self._read_head(timeout)

    def _fill(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._fill(deadline - time.monotonic()):
                raise AssertionError(f"no response head: {self.raw!r}")
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if self.status != 200 or "text/event-stream" not in self.headers.get("content-type", ""):
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n and self._fill(deadline - time.monotonic()):
                pass
            self.body = self.raw[:n]
            self.sock.close()

    def json_body(self):
        return json.loads(self.body)

    def _decode(self):
        if not self.chunked:
            self.payload += self.raw
            self.raw = b""
            return
        pos, out, raw = 0, [], self.raw
        while True:
            nl = raw.find(b"\r\n", pos)
            if nl < 0:
                break
            size = int(raw[pos:nl].split(b";")[0], 16)
            if size == 0:
                self.ended = True
                pos = len(raw)
                break
            if len(raw) < nl + 2 + size + 2:
                break
            out.append(raw[nl + 2:nl + 2 + size])
            pos = nl + 2 + size + 2
        self.raw = raw[pos:]
        self.payload += b"".join(out)

    def _parse_one(self):
        """One complete event block from payload, or None."""
        while True:
            if not self.blocks:
                if b"\n\n" not in self.payload:
                    return None
                *done, self.payload = self.payload.split(b"\n\n")
                self.blocks.extend(done)
            block = self.blocks.popleft()
            ev = {}
            for ln in block.decode().split("\n"):
                if ln.startswith(":"):
                    self.comments.append(ln[1:].strip())
                    continue
                k, _, v = ln.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "retry":
                    self.retry = int(v)
                elif k == "data":
                    ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
                elif k:
                    ev[k] = v
            if ev.get("data") is not None or "event" in ev:
                if "data" in ev:
                    ev["json"] = json.loads(ev["data"])
                return ev

    def next_event(self, timeout=5.0):
        """The next event (dict with id, event, data, json), or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._decode()
            ev = self._parse_one()
            if ev is not None:
                return ev
            if self.eof or self.ended:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._fill(left)

    def wait_comment(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while text not in self.comments:
            self._decode()
            if self._parse_one() is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof or self.ended:
                    return False
                self._fill(left)
        return True

    def wait_closed(self, timeout=10.0):
        """True when the stream ended (last chunk) or the connection closed."""
        deadline = time.monotonic() + timeout
        while not (self.eof or self.ended):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._fill(left)
            self._decode()
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
