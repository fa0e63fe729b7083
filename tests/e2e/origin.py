"""A recording HTTP/1.1 origin for the proxy tests: a real socket server in a thread that keeps
every request it receives (raw head, parsed fields, body) and the connections it accepted, and
answers by path:

  /echo...        200 with a JSON body describing the request
  /bytes/N        N deterministic bytes (Content-Length; ?chunked for chunked, ?close for a body
                  delimited by the end of the connection)
  /hop            a response with hop-by-hop fields that must not reach the client
  /slow/S         the head after S seconds
  /bad            a response with two different Content-Length fields
  /short          Content-Length 1000 but 10 bytes, then close
  /stale          on a reused connection: close without answering; else as /echo
  /ws             a WebSocket (RFC 6455) echo: 101, then every message back, until a close
  /healthz        200, or 503 while `healthy` is False (not recorded in `requests`)
  /c/...          for the cache tests: fields from the query string (cc= Cache-Control, etag=
                  ETag, lm= Last-Modified as seconds before now, vary= Vary, loc= Location,
                  status=; fail=N: 500 after N requests; delay=S: the head after S seconds,
                  but not for the first delayafter=N requests; delay1=S: the first's only),
                  a body of size= bytes (payload) or naming the request (its number for this
                  path, Accept-Encoding), chunked= for chunked framing; 304 when
                  If-None-Match matches etag or If-Modified-Since is not older than lm;
                  ranges=1: a 206 for a Range bytes=A-B or bytes=A- (one range only)
  anything else   as /echo
"""

import base64
import email.utils
import hashlib
import json
import urllib.parse
import struct
import socket
import threading
import time


def recv_exact(sock, buf, n):
    """n bytes from buf and then sock: (them, what is left of buf); ConnectionError at EOF."""
    while len(buf) < n:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError("closed")
        buf += d
    return buf[:n], buf[n:]


def payload(n):
    """n deterministic bytes (a repeating SHA-256 stream)."""
    out = bytearray()
    block = hashlib.sha256(b"tern").digest() * 128
    while len(out) < n:
        out += block
    return bytes(out[:n])


class Origin:
    def __init__(self, family=socket.AF_INET, path=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.port = None
        else:
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(128)
        self.requests = []
        self.counts = {}
        self.connections = 0
        self.lock = threading.Lock()
        self.closed = False
        self.healthy = True
        self.health_checks = 0
        self.ws_done = threading.Event()  # a WebSocket session ended with a close frame
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        n = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method, target, version = lines[0].decode().split(" ")
                fields = []
                for ln in lines[1:]:
                    k, v = ln.decode("latin-1").split(":", 1)
                    fields.append((k.strip(), v.strip()))
                low = {}
                for k, v in fields:
                    low.setdefault(k.lower(), []).append(v)
                body = b""
                if "transfer-encoding" in low:
                    if low["transfer-encoding"] != ["chunked"] or "content-length" in low:
                        raise AssertionError("the proxy sent ambiguous framing upstream")
                    body, buf = self._chunked(c, buf)
                    if body is None:
                        return
                elif "content-length" in low:
                    want = int(low["content-length"][0])
                    got = bytearray(buf)
                    while len(got) < want:
                        d = c.recv(1 << 20)
                        if not d:
                            return
                        got += d
                    body, buf = bytes(got[:want]), bytes(got[want:])
                if target == "/healthz":
                    with self.lock:
                        self.health_checks += 1
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" if self.healthy
                              else b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    n += 1
                    continue
                rec = {"method": method, "target": target, "version": version,
                       "fields": fields, "headers": low, "body": body, "reused": n > 0,
                       "raw": head}
                with self.lock:
                    self.requests.append(rec)
                    p = target.split("?")[0]
                    self.counts[p] = self.counts.get(p, 0) + 1
                    rec["n"] = self.counts[p]
                n += 1
                if not self.respond(c, rec):
                    return
        except (OSError, AssertionError):
            return
        finally:
            c.close()

    @staticmethod
    def _chunked(c, buf):
        """A chunked body (RFC 9112 §7.1, no trailers): (body, rest), or (None, b"") at EOF."""
        data = bytearray(buf)
        pos = 0
        body = bytearray()

        def more():
            d = c.recv(1 << 20)
            if not d:
                return False
            data.extend(d)
            return True

        while True:
            while data.find(b"\r\n", pos) < 0:
                if not more():
                    return None, b""
            eol = data.find(b"\r\n", pos)
            size = int(bytes(data[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            while len(data) < pos + size + 2:
                if not more():
                    return None, b""
            if size == 0:
                return bytes(body), bytes(data[pos + 2:])
            body += data[pos:pos + size]
            pos += size + 2
            if pos > (1 << 22):  # drop what was read so the buffer stays small
                del data[:pos]
                pos = 0

    def websocket(self, c, rec, buf=b""):
        key = rec["headers"].get("sec-websocket-key", [""])[0]
        if rec["headers"].get("upgrade", [""])[0].lower() != "websocket" or not key:
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")

        def need(n):
            nonlocal buf
            out, buf = recv_exact(c, buf, n)
            return out

        while True:
            b0, b1 = need(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack("!H", need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", need(8))[0]
            mask = need(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(need(n)))
            op = b0 & 0x0f
            hdr = bytes([0x80 | op])
            hdr += bytes([n]) if n < 126 else (b"\x7e" + struct.pack("!H", n) if n < 65536
                                               else b"\x7f" + struct.pack("!Q", n))
            c.sendall(hdr + data)
            if op == 8:
                self.ws_done.set()
                return False

    def respond(self, c, rec):
        path = rec["target"]
        if path.startswith("/ws"):
            return self.websocket(c, rec)
        if path.startswith("/stale") and rec["reused"]:
            return False
        if path.startswith("/bytes/"):
            n = int(path.split("/")[2].split("?")[0])
            data = payload(n)
            if "chunked" in path:
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(0, n, 70000):
                    part = data[i:i + 70000]
                    c.sendall(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
                c.sendall(b"0\r\nX-Trailer: t\r\n\r\n")
                return True
            if "close" in path:
                c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                c.sendall(data)
                return False
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            c.sendall(data)
            return True
        if path.startswith("/c/"):
            return self.cacheable(c, rec)
        if path.startswith("/hop"):
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: X-Hop, keep-alive\r\nX-Hop: 1\r\n"
                      b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                      b"Upgrade: h2c\r\nTrailer: X-T\r\nX-End: yes\r\nVia: 1.0 inner\r\n"
                      b"Content-Length: 2\r\n\r\nok")
            return True
        if path.startswith("/slow/"):
            time.sleep(float(path.split("/")[2]))
        if path.startswith("/wait-ws"):  # answers once a WebSocket session has ended
            self.ws_done.wait(10)
        if path.startswith("/bad"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
            return False
        if path.startswith("/short"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            return False
        body = json.dumps({"method": rec["method"], "target": rec["target"],
                           "fields": rec["fields"], "body": len(rec["body"]),
                           "sha256": hashlib.sha256(rec["body"]).hexdigest()}).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body),
                                                    b"" if rec["method"] == "HEAD" else body))
        return True

    def cacheable(self, c, rec):
        path, _, query = rec["target"].partition("?")
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if "delay" in q and rec["n"] > int(q.get("delayafter", "0")):
            time.sleep(float(q["delay"]))
        if "delay1" in q and rec["n"] == 1:
            time.sleep(float(q["delay1"]))
        now = time.time()
        head = [b"Date: " + email.utils.formatdate(now, usegmt=True).encode()]
        if "cc" in q:
            head.append(b"Cache-Control: " + q["cc"].encode())
        if "etag" in q:
            head.append(b"ETag: " + q["etag"].encode())
        lm = now - float(q["lm"]) if "lm" in q else None
        if lm is not None:
            head.append(b"Last-Modified: " + email.utils.formatdate(lm, usegmt=True).encode())
        if "vary" in q:
            head.append(b"Vary: " + q["vary"].encode())
        if "loc" in q:
            head.append(b"Location: " + q["loc"].encode())
        inm = rec["headers"].get("if-none-match", [None])[0]
        ims = rec["headers"].get("if-modified-since", [None])[0]
        if rec["method"] in ("GET", "HEAD") and (
                (inm is not None and "etag" in q and inm == q["etag"]) or
                (inm is None and ims is not None and lm is not None and
                 email.utils.parsedate_to_datetime(ims).timestamp() >= int(lm))):
            c.sendall(b"HTTP/1.1 304 Not Modified\r\n" + b"\r\n".join(head) + b"\r\n\r\n")
            return True
        if "size" in q:
            body = payload(int(q["size"]))
        else:
            ae = rec["headers"].get("accept-encoding", ["-"])[0]
            body = f"{rec['method']} {path} n={rec['n']} ae={ae}".encode()
        status = int(q.get("status", "200"))
        if "fail" in q and rec["n"] > int(q["fail"]):
            status = 500
        rng = rec["headers"].get("range", [None])[0]
        if "ranges" in q and rng and rec["method"] == "GET" and status == 200:
            first, _, last = rng.removeprefix("bytes=").partition("-")
            first, last = int(first), min(int(last or len(body) - 1), len(body) - 1)
            head.append(b"Content-Range: bytes %d-%d/%d" % (first, last, len(body)))
            status, body = 206, body[first:last + 1]
        out = b"HTTP/1.1 %d X\r\n" % status + b"\r\n".join(head) + b"\r\n"
        if rec["method"] == "HEAD":
            c.sendall(out + b"Content-Length: %d\r\n\r\n" % len(body))
        elif "chunked" in q:
            c.sendall(out + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 100000):
                part = body[i:i + 100000]
                c.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            c.sendall(b"0\r\n\r\n")
        else:
            c.sendall(out + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True

    def count(self, path):
        """Requests received for path (without its query)."""
        with self.lock:
            return self.counts.get(path, 0)

    def last(self):
        with self.lock:
            return self.requests[-1]
