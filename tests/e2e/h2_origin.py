"""A small HTTP/2 upstream on python3-h2 for the proxy's HTTP/2 tests (test_proxy_h2.py): h2c
with prior knowledge, or TLS with ALPN h2 when given an ssl context. It records connections,
streams and the resets it receives, and behaves by path:

  /bytes/N          N bytes of origin.payload, with content-length
  /echo             a JSON summary of the request: method, path, authority, fields, body
                    length and SHA-256 (the body read as the window allows)
  /hold/MS          200 after MS milliseconds (concurrency)
  /rst              RST_STREAM(INTERNAL_ERROR) before any head
  /rst-mid          a head announcing 1 MB, 64 KB of it, then RST_STREAM(INTERNAL_ERROR)
  /refuse-once      RST_STREAM(REFUSED_STREAM) the first time, 200 "again" after
  /goaway-unprocessed  GOAWAY with the last stream id below this one, then the close; the
                    next connection answers 200
  /goaway-processed GOAWAY that covers this stream, then the close without an answer
  /slow             a head, then 16 KB every 20 ms for a long time (cancellation)
  /hints            103 Early Hints with a Link, then 200
  /stall-upload     takes the request body but never gives its window back
  /healthz          200, or 503 while `healthy` is False; counted in `health_checks`

With extended_connect=True it sends SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441) and takes
an extended CONNECT (:protocol websocket) to /ws: 200, then a WebSocket echo over the stream's
DATA (every message back, unmasked; a close frame answered and the stream ended); to /ws-rst:
200, then RST_STREAM(INTERNAL_ERROR) at the first DATA. The heads of CONNECTs are kept in
`connects`.
"""

import email.utils
import hashlib
import json
import select
import socket
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from origin import payload


class H2Origin:
    def __init__(self, ssl_ctx=None, max_streams=100, extended_connect=False):
        self.ssl_ctx = ssl_ctx
        self.max_streams = max_streams
        self.extended_connect = extended_connect
        self.connects = []  # the fields (a list of pairs) of each CONNECT received
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.streams = []  # (connection number, stream id, path)
        self.resets = []   # (path, error code) of RST_STREAMs received
        self.max_open = 0  # most streams open at once on one connection
        self.refused = set()
        self.sent = {}  # path -> DATA bytes sent
        self.received = {}  # path -> DATA bytes received
        self.closed = 0     # connections ended
        self.goaways = 0    # GOAWAY frames received
        self.goaway_sent = False
        self.stopping = False
        self.healthy = True
        self.health_checks = 0
        self.threads = []
        th = threading.Thread(target=self._accept, daemon=True)
        th.start()

    @property
    def url(self):
        return f"h2c://127.0.0.1:{self.port}"

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}"

    def close(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            th = threading.Thread(target=self._serve, args=(s, n), daemon=True)
            th.start()

    # ---- one connection ----

    def _serve(self, sock, n):
        try:
            if self.ssl_ctx:
                sock = self.ssl_ctx.wrap_socket(sock, server_side=True)
            Session(self, sock, n).run()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            with self.lock:
                self.closed += 1
            try:
                sock.close()
            except OSError:
                pass


class Stream:
    def __init__(self, sid, headers):
        self.id = sid
        self.headers = headers
        self.path = headers.get(":path", "")
        self.body = hashlib.sha256()
        self.length = 0
        self.out = b""       # data still to send
        self.end = False     # end the stream after out
        self.next_at = None  # /slow: the next chunk's time; /hold: the answer's
        self.sent = 0


class Session:
    def __init__(self, origin, sock, n):
        self.o = origin
        self.sock = sock
        self.n = n
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                        validate_inbound_headers=True)
        self.c = h2.connection.H2Connection(config=cfg)
        self.streams = {}
        self.closing = False

    def run(self):
        self.c.initiate_connection()
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.o.max_streams}
        if self.o.extended_connect:
            settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        self.c.update_settings(settings)
        self.flush()
        self.sock.settimeout(None)
        while not self.o.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.01)
            if r or (hasattr(self.sock, "pending") and self.sock.pending()):
                data = self.sock.recv(65536)
                if not data:
                    return
                for ev in self.c.receive_data(data):
                    self.event(ev)
            self.tick()
            self.flush()
            if self.closing:
                time.sleep(0.05)
                return

    def flush(self):
        d = self.c.data_to_send()
        if d:
            self.sock.sendall(d)

    def event(self, ev):
        o = self.o
        if isinstance(ev, h2.events.RequestReceived):
            hd = dict(ev.headers)
            st = Stream(ev.stream_id, hd)
            st.fields = list(ev.headers)
            self.streams[ev.stream_id] = st
            with o.lock:
                o.streams.append((self.n, ev.stream_id, st.path))
                opened = sum(1 for s in self.streams.values() if not s.end)
                o.max_open = max(o.max_open, opened)
            self.on_head(st)
        elif isinstance(ev, h2.events.DataReceived):
            st = self.streams.get(ev.stream_id)
            if st and getattr(st, "ws", None) is not None:
                self.ws_data(st, ev.data)
            if st:
                st.body.update(ev.data)
                st.length += len(ev.data)
                with o.lock:
                    o.received[st.path] = o.received.get(st.path, 0) + len(ev.data)
            if not (st and st.path == "/stall-upload"):
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st = self.streams.get(ev.stream_id)
            if st:
                self.on_end(st)
        elif isinstance(ev, h2.events.StreamReset):
            st = self.streams.pop(ev.stream_id, None)
            with o.lock:
                o.resets.append((st.path if st else None, ev.error_code))
        elif isinstance(ev, h2.events.ConnectionTerminated):
            with o.lock:
                o.goaways += 1
            self.closing = True

    def on_head(self, st):
        o = self.o
        p = st.path
        if st.headers.get(":method") == "CONNECT":
            with o.lock:
                o.connects.append(st.fields)
            if p in ("/ws", "/ws-rst") and st.headers.get(":protocol") == "websocket":
                self.c.send_headers(st.id, [(":status", "200")])
                st.ws = b""
            else:
                self.c.send_headers(st.id, [(":status", "404")], end_stream=True)
                self.streams.pop(st.id)
        elif p == "/rst":
            self.c.reset_stream(st.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.streams.pop(st.id)
        elif p == "/refuse-once":
            with o.lock:
                first = p not in o.refused
                o.refused.add(p)
            if first:
                self.c.reset_stream(st.id, h2.errors.ErrorCodes.REFUSED_STREAM)
                self.streams.pop(st.id)
        elif p == "/goaway-unprocessed":
            with o.lock:
                first = not o.goaway_sent
                o.goaway_sent = True
            if first:
                self.c.close_connection(last_stream_id=max(0, st.id - 2))
                self.closing = True
        elif p == "/goaway-processed":
            self.c.close_connection(last_stream_id=st.id)
            self.closing = True

    def ws_data(self, st, data):
        """The WebSocket echo of /ws: each masked client frame back unmasked (RFC 6455 §5)."""
        if st.path == "/ws-rst":
            self.c.reset_stream(st.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.streams.pop(st.id, None)
            return
        st.ws += data
        while len(st.ws) >= 2:
            b0, b1 = st.ws[0], st.ws[1]
            n, at = b1 & 0x7f, 2
            if n == 126:
                n, at = int.from_bytes(st.ws[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(st.ws[2:10], "big"), 10
            mask = st.ws[at:at + 4] if b1 & 0x80 else b"\0\0\0\0"
            at += 4 if b1 & 0x80 else 0
            if len(st.ws) < at + n:
                return
            msg = bytes(c ^ mask[i % 4] for i, c in enumerate(st.ws[at:at + n]))
            st.ws = st.ws[at + n:]
            head = bytes([0x80 | (b0 & 0x0f)])
            head += bytes([n]) if n < 126 else (bytes([126]) + n.to_bytes(2, "big") if n < 65536
                                                 else bytes([127]) + n.to_bytes(8, "big"))
            st.out += head + msg
            if b0 & 0x0f == 8:  # close: answered, then the stream ends
                st.end = True
                st.ws = None
                return

    def on_end(self, st):
        p = st.path
        if st.id not in self.streams or self.closing:
            return
        if hasattr(st, "ws"):
            st.end = True  # the client ended its side of a tunnel: ours ends after what is queued
            if not st.out:
                self.c.end_stream(st.id)
                self.streams.pop(st.id, None)
            return
        if p.startswith("/bytes/"):
            n = int(p.split("/")[2].split("?")[0])
            self.respond(st, 200, payload(n), [("content-type", "application/octet-stream"),
                                               ("cache-control", "max-age=60")])
        elif p.startswith("/echo"):
            body = json.dumps({"method": st.headers.get(":method"), "path": p,
                               "authority": st.headers.get(":authority"),
                               "scheme": st.headers.get(":scheme"),
                               "fields": [[k, v] for k, v in st.fields if not k.startswith(":")],
                               "length": st.length,
                               "sha256": st.body.hexdigest()}).encode()
            self.respond(st, 200, body, [("content-type", "application/json")])
        elif p.startswith("/hold/"):
            st.next_at = time.monotonic() + int(p.split("/")[2]) / 1000
        elif p == "/rst-mid":
            self.c.send_headers(st.id, [(":status", "200"), ("content-length", "1048576")])
            st.out = payload(65536)
            st.rst_after = True
        elif p == "/hints":
            self.c.send_headers(st.id, [(":status", "103"), ("link", "</s.css>; rel=preload")])
            self.respond(st, 200, b"hinted", [])
        elif p == "/slow":
            self.c.send_headers(st.id, [(":status", "200")])
            st.next_at = time.monotonic()
        elif p == "/healthz":
            with self.o.lock:
                self.o.health_checks += 1
            self.respond(st, 200 if self.o.healthy else 503, b"health", [])
        else:
            self.respond(st, 200, b"again" if p == "/refuse-once" else b"ok", [])

    def respond(self, st, status, body, fields):
        self.c.send_headers(st.id, [(":status", str(status)), ("content-length", str(len(body))),
                                    ("date", email.utils.formatdate(usegmt=True))] + fields,
                            end_stream=not body)
        st.out = body
        st.end = True
        if not body:
            self.streams.pop(st.id, None)

    def tick(self):
        now = time.monotonic()
        for st in list(self.streams.values()):
            if st.path.startswith("/hold/") and st.next_at and now >= st.next_at:
                st.next_at = None
                self.respond(st, 200, b"held", [])
            if st.path == "/slow" and st.next_at and now >= st.next_at:
                st.next_at = now + 0.02
                if st.sent < 50 * 1024 * 1024:
                    st.out += payload(16384)
            self.send_some(st)

    def send_some(self, st):
        while st.out:
            try:
                room = min(self.c.local_flow_control_window(st.id), self.c.max_outbound_frame_size)
            except (h2.exceptions.StreamClosedError, KeyError):
                self.streams.pop(st.id, None)
                return
            if room <= 0:
                return
            chunk, st.out = st.out[:room], st.out[room:]
            last = st.end and not st.out
            try:
                self.c.send_data(st.id, chunk, end_stream=last)
            except h2.exceptions.StreamClosedError:
                self.streams.pop(st.id, None)
                return
            st.sent += len(chunk)
            with self.o.lock:
                self.o.sent[st.path] = self.o.sent.get(st.path, 0) + len(chunk)
            self.flush()
            if last:
                self.streams.pop(st.id, None)
                return
        if getattr(st, "rst_after", False):
            self.c.reset_stream(st.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.streams.pop(st.id, None)
