"""The load generator's worker: one process holding a slice of the benchmark's connections.

bench/run.py (the coordinator) starts a few of these with multiprocessing and
drives them phase by phase over a pipe: sign in, connect, flip slides, chat,
reconnect storm, report.  Each worker runs one uvloop event loop and picows
WebSocket clients (a Cython frame parser and one Python callback per frame),
so the generator spends as little CPU per connection and per frame as
Python allows; its own CPU time is measured and reported next to the
servers'.

One scenario, three adapters (the wire formats of bench/peers/README):
- `livehall`: this server's protocol (docs/protocol.md): sign in by link
  (GET the confirm page for the XSRF cookie, POST it), open /ws with the
  session cookie and Origin, offering permessage-deflate as browsers do
  (busy rooms' frames then arrive compressed), join the public room of the account's language
  from `welcome`; slides are flipped by staff with
  POST /admin/events/<id>/control/slide_next|slide_prev and arrive as `state`;
- `socketio`: Engine.IO 4 / Socket.IO 4 over the websocket transport
  (`0{..}` open, `40` connect, `2`/`3` ping/pong, `42[..]` events);
- `plain`: JSON frames `join`/`send`/`flip` of the plain Tornado peer.

What a client verifies (the coordinator turns it into the table):
- every client counts the chat messages it receives (bench chat texts carry
  the marker `~B|<sender>|<seq>|<send time>|~`, nothing else does), and
  records when each slide flip arrived (first arrival per flip);
- "sample" clients (about 1 in 100) also record which messages arrived (so
  lost and duplicated ones are known exactly) and each one's latency;
- on Livehall every client also tracks the stream offsets it receives (it
  needs them to resume): an offset at or below the last one is a duplicate,
  a jump over offsets that exist (the senders' acks say which) is a gap.
Thousands of clients of one server process receive byte-identical chat
frames, so a worker decodes each distinct payload once (`Decoded`) and every
client that receives it applies the result to its own state; a payload is
matched by comparing all its bytes, so what each client checks is exactly
what it received.  Real clients are separate machines; this keeps the
generator's CPU for reading sockets, not for decoding one frame 4,500 times.
Times are `time.monotonic()`, the same clock in every process of the machine.
"""
from __future__ import annotations

import array
import asyncio
import errno
import gc
import os
import random
import re
import resource
import signal
import socket
import threading
import time
import traceback
import zlib
from urllib.parse import quote

import orjson
from picows import WSListener, WSMsgType, ws_connect

MARK = b"~B|"
OFFSETS = re.compile(rb'"offset":(\d+)')
FILLER = " lorem ipsum dolor sit amet, consectetur adipiscing elit"
ID_BASE = 10_000_000          # a message id in reports: sender * ID_BASE + seq
now = time.monotonic


def raise_nofile() -> int:
    """Allow as many sockets as the hard limit (root may raise that too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (max(hard, 65536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            continue
    return soft


# --- a minimal HTTP/1.1 client (sign-in by link, staff slide flips) ------------------

async def http(port: int, method: str, path: str, headers=(), body: bytes = b"",
               timeout: float = 60) -> tuple[int, list, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers]
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [tuple(part.strip() for part in h.split(":", 1)) for h in header_lines if ":" in h]
    return int(status_line.split()[1]), parsed, rest


def set_cookies(headers, jar: dict) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            jar[key.strip()] = val.strip()


def cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


async def form_post(port: int, path: str, jar: dict) -> tuple[int, list]:
    xsrf = jar["_xsrf"].strip('"')
    status, headers, _ = await http(port, "POST", path, [
        ("Cookie", cookie_header(jar)), ("Content-Type", "application/x-www-form-urlencoded")],
        ("_xsrf=" + quote(xsrf, safe="")).encode())
    set_cookies(headers, jar)
    return status, headers


async def sign_in_by_link(port: int, token: str) -> dict:
    """The browser's path: GET the confirm page (sets the XSRF cookie), POST it; returns the cookies."""
    jar: dict = {}
    path = f"/signin/link/{token}"
    status, headers, _ = await http(port, "GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path[:20]}…: {status}")
    set_cookies(headers, jar)
    status, _ = await form_post(port, path, jar)
    if status != 302 or "lh_session" not in jar:
        raise RuntimeError(f"POST sign-in link: {status}")
    return jar


# --- decoding chat payloads -----------------------------------------------------------

class Decoded:
    """What one chat payload carries: its bench messages and stream offsets.

    `plain` keeps a compressed frame's text when it is not chat (the
    client's adapter reads it as any other frame).  Which messages and
    when they were sent is read only when a sample client asks.
    """

    __slots__ = ("marks", "offsets", "run", "plain", "_text", "_samples")

    def __init__(self, data: bytes, packed: bool = False):
        if packed:  # permessage-deflate without context takeover: each frame stands alone
            data = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
        self.plain = data if packed and MARK not in data else None
        self.marks = data.count(MARK)
        self.offsets = tuple(map(int, OFFSETS.findall(data)))
        first = self.offsets[0] if self.offsets else 0
        self.run = self.offsets == tuple(range(first, first + len(self.offsets)))
        self._text = data
        self._samples = None

    def samples(self) -> tuple:
        """(message ids, send times) of the bench messages, in order."""
        if self._samples is None:
            ids, sent_at = array.array("q"), array.array("d")
            data = self._text
            i = data.find(MARK)
            while i >= 0:
                i += 3
                parts = data[i:data.find(b"|~", i)].split(b"|")
                ids.append(int(parts[0]) * ID_BASE + int(parts[1]))
                sent_at.append(float(parts[2]))
                i = data.find(MARK, i)
            self._samples = (ids, sent_at)
        return self._samples


class DecodedCache:
    """Decoded payloads of this worker, found by their exact bytes.

    The key is the length and the tail (the last message's marker is there);
    a hit still compares the whole payload.  Two generations bound the
    memory: frames of one window reach every client within moments.
    """

    TAIL = 256

    def __init__(self, limit: int = 2048):
        self.limit = limit
        self.new: dict = {}
        self.old: dict = {}

    def get(self, data: bytes, packed: bool = False) -> Decoded:
        key = (packed, len(data), data[-self.TAIL:])
        hit = self.new.get(key) or self.old.get(key)
        if hit is not None and hit[0] == data:
            return hit[1]
        decoded = Decoded(data, packed)
        self.new[key] = (data, decoded)
        if len(self.new) > self.limit:
            self.old, self.new = self.new, {}
        return decoded


DECODED = DecodedCache()


async def _writable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_writer(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_writer(sock.fileno())


# --- WebSocket clients ----------------------------------------------------------------

class Client(WSListener):
    """One simulated viewer (or sender); the adapter subclasses parse their wire format."""

    def __init__(self, spec: dict, target: dict):
        super().__init__()
        self.i = spec["i"]
        self.role = spec["role"]              # viewer | sample | sender | staff
        self.locale = spec.get("locale", "en")
        self.sid = spec.get("sid", 0)
        self.port = target["ports"][self.i % len(target["ports"])]
        self.target = target
        self.transport = None
        self.jar: dict = {}
        self.ready: asyncio.Future | None = None
        self.closed: asyncio.Future | None = None
        self.expect_close = False
        self.drops = 0                         # closed without being asked to
        self.chat = 0                          # chat frames received
        self.flips: dict = {}                  # flip id -> first arrival time
        self.flip_bytes = 0                    # the payload of the last flip frame
        self.errors: dict = {}
        self.sample = self.role == "sample"
        self.ids = array.array("q") if self.sample else None
        self.lat = array.array("d") if self.sample else None
        self.seq = 0
        self.sent = array.array("q")           # seqs sent (senders)
        self.acks: dict = {}                   # seq -> offset (Livehall senders)
        self.duplicate_acks = 0

    # picows callbacks
    def on_ws_connected(self, transport):
        self.transport = transport

    def on_ws_disconnected(self, transport):
        if not self.expect_close:
            self.drops += 1
        for fut in (self.ready, self.closed):
            if fut is not None and not fut.done():
                fut.set_result(False)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type != WSMsgType.TEXT:
            return
        data = frame.get_payload_as_bytes()
        if frame.rsv1:
            decoded = DECODED.get(data, packed=True)
            if decoded.plain is None:
                self.on_chat(decoded, now())
            else:
                self.on_other(decoded.plain, now())
        elif MARK in data:
            self.on_chat(DECODED.get(data), now())
        else:
            self.on_other(data, now())

    def on_chat(self, decoded: Decoded, t: float) -> None:
        # A frame may carry several messages (Livehall's `messages` frame).
        self.chat += decoded.marks
        if self.sample:
            ids, sent_at = decoded.samples()
            self.ids.extend(ids)
            self.lat.extend(t - sent for sent in sent_at)
        self.on_decoded(decoded)

    def on_decoded(self, decoded: Decoded) -> None:
        pass

    def on_other(self, data: bytes, t: float) -> None:
        raise NotImplementedError

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def _done(self, ok=True) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(ok)

    def send(self, payload: bytes) -> None:
        self.transport.send(WSMsgType.TEXT, payload)

    # lifecycle
    def url(self) -> str:
        raise NotImplementedError

    def headers(self) -> list:
        return []

    async def connect(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.closed = loop.create_future()
        self.expect_close = False
        try:
            await asyncio.wait_for(ws_connect(lambda: self, self.url(), extra_headers=self.headers(),
                                              websocket_handshake_timeout=timeout,
                                              socket_factory=self.open_socket), timeout)
            return await asyncio.wait_for(self.ready, timeout)
        except Exception as exc:  # refused, timed out, reset: counted, never fatal
            self.error("connect:" + type(exc).__name__)
            if self.transport is not None:
                self.transport.disconnect()
            return False

    async def open_socket(self, url) -> socket.socket:
        """A connected socket.  The address is numeric, yet uvloop's sock_connect
        still resolves it through getaddrinfo on a thread (a wake-up and a
        hand-off per connect); connecting directly costs one syscall."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            err = sock.connect_ex(("127.0.0.1", self.port))
            if err == errno.EINPROGRESS:
                await _writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
        except BaseException:
            sock.close()
            raise
        return sock

    async def close(self, timeout: float = 5) -> None:
        if self.transport is None or self.closed is None or self.closed.done():
            return
        self.expect_close = True
        self.transport.disconnect()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            pass

    def message_text(self, seq: int) -> str:
        return f"~B|{self.sid}|{seq}|{now():.6f}|~{FILLER}"

    def send_chat(self, room: str) -> None:
        raise NotImplementedError

    def flip(self, n: int, t: float) -> None:
        raise NotImplementedError


class LivehallClient(Client):
    def __init__(self, spec, target):
        super().__init__(spec, target)
        self.room = None
        self.epoch = None
        self.offset = 0                        # greatest stream offset received
        self.dups = 0
        self.jumps: list = []                  # (previous offset, new offset) where new > previous + 1
        self.fills: list = []                  # offsets that came late, inside an earlier jump
        self.version = 0
        self.resume = False
        self.recovered = None
        self.missed = 0

    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws?event={self.target['event_id']}"

    def headers(self):
        # As a browser: offer compression (the server sends busy rooms' frames compressed).
        return [("Cookie", cookie_header(self.jar)), ("Origin", f"http://127.0.0.1:{self.port}"),
                ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]

    def on_decoded(self, decoded):
        offsets = decoded.offsets
        if not offsets:
            return
        # The usual case: exactly the next offsets, in order.
        if decoded.run and offsets[0] == self.offset + 1:
            self.offset = offsets[-1]
            return
        for offset in offsets:
            self.on_offset(offset)

    def on_offset(self, offset: int) -> None:
        if offset <= self.offset:
            # Late, into a jump already recorded (the server delivers an offset
            # that storage was slow to publish after it moved on), or a repeat.
            if offset not in self.fills and any(a < offset < b for a, b in self.jumps[-64:]):
                self.fills.append(offset)
            else:
                self.dups += 1
            return
        if offset != self.offset + 1:
            self.jumps.append((self.offset, offset))
        self.offset = offset

    def on_other(self, data, t):
        if data.startswith(b'{"type":"state"'):
            k = data.find(b'"state_version":') + 16
            end = k
            while data[end:end + 1].isdigit():
                end += 1
            version = int(data[k:end])
            self.flip_bytes = len(data)
            if version not in self.flips:
                self.flips[version] = t
            self.version = max(self.version, version)
        elif data.startswith(b'{"type":"ack"'):
            msg = orjson.loads(data)
            self.acks[msg["ref"]] = msg["offset"]
            self.duplicate_acks += bool(msg.get("duplicate"))
        elif data.startswith(b'{"type":"welcome"'):
            msg = orjson.loads(data)
            self.room = next(r for r in msg["rooms"] if ":pub:" in r)
            join = {"type": "join", "room": self.room, "ref": "j"}
            if self.resume and self.epoch is not None:
                join.update(epoch=self.epoch, offset=self.offset)
            self.send(orjson.dumps(join))
        elif data.startswith(b'{"type":"joined"'):
            msg = orjson.loads(data)
            self.recovered = msg.get("recovered")
            self.missed = msg.get("missed") or 0
            if self.recovered is not True:
                # A plain join (or a resume refused): the stream continues from here.
                if self.resume:
                    self.jumps.append((self.offset, msg["offset"] + 1))
                self.offset = msg["offset"]
            self.epoch = msg["epoch"]
            self._done(True)
        elif data.startswith(b'{"type":"error"'):
            self.error(orjson.loads(data).get("code", "?"))
        elif data.startswith(b'{"type":"takeover"'):
            self.error("takeover")

    def send_chat(self, room=None):
        self.seq += 1
        self.sent.append(self.seq)
        self.send(orjson.dumps({"type": "send", "room": self.room, "text": self.message_text(self.seq),
                                "client_id": f"b{self.sid}-{self.seq}", "ref": self.seq}))


class SocketIOClient(Client):
    def __init__(self, spec, target):
        super().__init__(spec, target)
        self.room = f"pub:{self.locale}"
        self.joined = 0

    def url(self):
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def rooms(self):
        return [] if self.role == "staff" else [self.target["flip_room"], self.room]

    def on_other(self, data, t):
        if data == b"2":
            self.send(b"3")
        elif data.startswith(b'42["slide"'):
            n = orjson.loads(data[2:])[1]["n"]
            self.flip_bytes = len(data)
            if n not in self.flips:
                self.flips[n] = t
        elif data.startswith(b'42["joined"'):
            self.joined += 1
            if self.joined == len(self.rooms()):
                self._done(True)
        elif data.startswith(b"0{"):
            self.send(b"40")
        elif data.startswith(b"40"):
            rooms = self.rooms()
            for room in rooms:
                self.send(b'42["join",' + orjson.dumps({"room": room}) + b"]")
            if not rooms:
                self._done(True)
        elif data.startswith(b"44"):
            self.error("connect_error")
        elif data.startswith(b"41"):
            self.error("disconnected")

    def send_chat(self, room=None):
        self.seq += 1
        self.sent.append(self.seq)
        self.send(b'42["chat",' + orjson.dumps({"room": self.room, "text": self.message_text(self.seq),
                                                "cid": f"b{self.sid}-{self.seq}"}) + b"]")

    def flip(self, n, t):
        self.send(b'42["flip",' + orjson.dumps({"room": self.target["flip_room"], "n": n, "ts": t}) + b"]")


class PlainClient(SocketIOClient):
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def on_ws_connected(self, transport):
        super().on_ws_connected(transport)
        rooms = self.rooms()
        for room in rooms:
            self.send(orjson.dumps({"type": "join", "room": room}))
        if not rooms:
            self._done(True)

    def on_other(self, data, t):
        msg = orjson.loads(data)
        kind = msg.get("type")
        if kind == "slide":
            self.flip_bytes = len(data)
            if msg["n"] not in self.flips:
                self.flips[msg["n"]] = t
        elif kind == "joined":
            self.joined += 1
            if self.joined == len(self.rooms()):
                self._done(True)

    def send_chat(self, room=None):
        self.seq += 1
        self.sent.append(self.seq)
        self.send(orjson.dumps({"type": "send", "room": self.room, "text": self.message_text(self.seq),
                                "client_id": f"b{self.sid}-{self.seq}"}))

    def flip(self, n, t):
        self.send(orjson.dumps({"type": "flip", "room": self.target["flip_room"], "n": n, "ts": t}))


ADAPTERS = {"livehall": LivehallClient, "socketio": SocketIOClient, "plain": PlainClient}


# --- the worker -------------------------------------------------------------------------

async def serve_commands(pipe, worker, after_each=None) -> None:
    """Answer the coordinator: each (command, args) that comes over `pipe` runs
    `worker.cmd_<command>(**args)` and its result (or the traceback) goes back;
    "exit", or the pipe closing, runs `worker.cmd_exit()` and ends the loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    # A thread reads the pipe: the loop's add_reader would make the pipe
    # non-blocking, and a large report would then fail to send.
    def read_commands():
        while True:
            try:
                item = pipe.recv()
            except (EOFError, OSError):
                item = ("exit", {})
            loop.call_soon_threadsafe(queue.put_nowait, item)
            if item[0] == "exit":
                return

    threading.Thread(target=read_commands, daemon=True).start()
    while True:
        command, args = await queue.get()
        try:
            result = await getattr(worker, "cmd_" + command)(**args)
        except Exception:
            result = {"error": traceback.format_exc()}
        pipe.send(result)
        if command == "exit":
            return
        if after_each is not None:
            after_each()


class Worker:
    def __init__(self, pipe, wid: int):
        self.pipe = pipe
        self.wid = wid
        self.clients: list[Client] = []
        self.target: dict = {}
        self.tasks: set = set()
        self.chat_stop = None

    async def run(self) -> None:
        # What lives on (clients, their records) is never garbage for the cyclic collector to walk
        # again; a short-lived process may keep the odd cycle.
        await serve_commands(self.pipe, self, after_each=gc.freeze)

    async def cmd_exit(self) -> dict:
        return await self.cmd_close()

    def spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @property
    def viewers(self):
        return [c for c in self.clients if c.role in ("viewer", "sample")]

    @property
    def senders(self):
        return [c for c in self.clients if c.role == "sender"]

    @property
    def staff(self):
        return next((c for c in self.clients if c.role == "staff"), None)

    async def cmd_init(self, target: dict, clients: list) -> dict:
        self.target = target
        cls = ADAPTERS[target["kind"]]
        self.clients = [cls(spec, target) for spec in clients]
        for client, spec in zip(self.clients, clients):
            client.token = spec.get("token")
            if spec.get("cookie"):   # a session made beforehand (bench/prepare.py): no sign-in
                client.jar = {"lh_session": spec["cookie"]}
        return {"clients": len(self.clients), "nofile": raise_nofile()}

    async def bounded(self, coros, seconds: float) -> int:
        """Run coroutines together for at most `seconds`; returns how many were cut off."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        return len(pending)

    async def cmd_signin(self, concurrency: int, seconds: float) -> dict:
        """Livehall: every client (and staff) without a session signs in by its link; returns durations."""
        sem = asyncio.Semaphore(concurrency)
        took = array.array("d")
        failed: dict = {}
        started = now()

        async def one(client):
            async with sem:
                t0 = now()
                try:
                    client.jar = await sign_in_by_link(client.port, client.token)
                    took.append(now() - t0)
                except Exception as exc:
                    key = str(exc)[:80]
                    failed[key] = failed.get(key, 0) + 1

        cut = await self.bounded((one(c) for c in self.clients if not c.jar), seconds)
        if cut:
            failed["not signed in within the phase's time"] = cut
        return {"ok": len(took), "failed": failed, "took": took.tobytes(), "started": started,
                "ended": now()}

    async def cmd_connect(self, concurrency: int, connect_timeout: float, seconds: float) -> dict:
        sem = asyncio.Semaphore(concurrency)
        took = array.array("d")
        started = now()

        staff_ok = True

        async def one(client):
            nonlocal staff_ok
            if client.role == "staff":
                # Livehall's staff flips over HTTP; a peer's flipper is a socket outside the rooms.
                if self.target["kind"] != "livehall":
                    staff_ok = await client.connect(connect_timeout)
                return
            async with sem:
                t0 = now()
                if await client.connect(connect_timeout):
                    took.append(now() - t0)

        cut = await self.bounded((one(c) for c in self.clients
                                  if c.jar or self.target["kind"] != "livehall"), seconds)
        return {"ok": len(took), "cut": cut, "wanted": len(self.viewers) + len(self.senders), "staff_ok": staff_ok,
                "took": took.tobytes(), "started": started, "ended": now(), "errors": self.errors(),
                "version": max((getattr(c, "version", 0) for c in self.clients), default=0)}

    def errors(self) -> dict:
        out: dict = {}
        for c in self.clients:
            for k, v in c.errors.items():
                out[k] = out.get(k, 0) + v
        return out

    async def cmd_flip(self, n: int, forward: bool) -> dict:
        """Worker 0 only: flip once; returns the send time."""
        staff = self.staff
        t0 = now()
        if self.target["kind"] == "livehall":
            action = "slide_next" if forward else "slide_prev"
            status, _ = await form_post(staff.port, f"/admin/events/{self.target['event_id']}/control/{action}",
                                        staff.jar)
            return {"t0": t0, "status": status, "took": now() - t0}
        staff.flip(n, t0)
        return {"t0": t0, "status": 0, "took": 0.0}

    async def cmd_flip_report(self, sent: dict) -> dict:
        """`sent`: flip id -> send time. Latencies of every viewer, and how many never arrived."""
        lat = array.array("d")
        missing = 0
        held = [c for c in self.viewers if c.transport is not None]  # viewers that ever connected
        for c in held:
            for fid, t0 in sent.items():
                t = c.flips.get(fid)
                if t is None:
                    missing += 1
                else:
                    lat.append(t - t0)
        return {"lat": lat.tobytes(), "missing": missing, "viewers": len(held),
                "frame_bytes": max((c.flip_bytes for c in held), default=0)}

    async def cmd_counts(self) -> dict:
        return {"chat": sum(c.chat for c in self.viewers),
                "acks": sum(len(c.acks) for c in self.senders),
                "sent": sum(len(c.sent) for c in self.senders),
                "drops": sum(c.drops for c in self.clients),
                "connected": sum(1 for c in self.clients if c.closed is not None and not c.closed.done())}

    async def cmd_chat_start(self, rate_per_sender: float, seconds: float) -> dict:
        """Every sender of this worker sends at `rate_per_sender` for `seconds` (returns at once)."""
        self.chat_stop = asyncio.get_running_loop().create_future()
        until = now() + seconds
        for sender in self.senders:
            if sender.closed is not None and not sender.closed.done():
                self.spawn(self._send_loop(sender, rate_per_sender, until))
        return {"senders": len(self.senders)}

    async def _send_loop(self, sender: Client, rate: float, until: float) -> None:
        interval = 1.0 / rate
        due = now() + random.random() * interval
        while due < until and not self.chat_stop.done():
            wait = due - now()
            if wait > 0:
                await asyncio.sleep(wait)
            if sender.closed.done():
                return
            sender.send_chat()
            due += interval

    async def cmd_chat_report(self, locale: str) -> dict:
        """What the viewers of the chat room (`locale`) received since chat_start, and what was sent."""
        room = [c for c in self.viewers if c.locale == locale]
        others = [c for c in self.viewers if c.locale != locale]
        samples = [c for c in room if c.sample]
        out = {
            "chat": sum(c.chat - getattr(c, "chat_mark", 0) for c in room),
            "others_chat": sum(c.chat - getattr(c, "chat_mark", 0) for c in others),
            "senders_chat": sum(c.chat - getattr(c, "chat_mark", 0) for c in self.senders),
            "viewers": len(room),
            "sent": {c.sid: c.sent.tobytes() for c in self.senders},
            "acks": {c.sid: c.acks for c in self.senders},
            "duplicate_acks": sum(c.duplicate_acks for c in self.senders),
            "samples": [{"ids": c.ids.tobytes(), "lat": c.lat.tobytes()} for c in samples],
            "errors": self.errors(),
        }
        for c in self.clients:  # the next phase starts a fresh record
            c.chat_mark = c.chat
            c.sent, c.acks = array.array("q"), {}
            if c.sample:
                c.ids, c.lat = array.array("q"), array.array("d")
        if self.target["kind"] == "livehall":
            out["dups"] = sum(c.dups - getattr(c, "dups_mark", 0) for c in room)
            out["jumps"] = [j for c in room for j in c.jumps[getattr(c, "jumps_mark", 0):]]
            out["fills"] = [f for c in room for f in c.fills[getattr(c, "fills_mark", 0):]]
            out["offsets"] = [c.offset for c in room]
            for c in room:
                c.dups_mark, c.jumps_mark, c.fills_mark = c.dups, len(c.jumps), len(c.fills)
        return out

    async def cmd_storm(self, drop_spread: float, window: float, concurrency: int, connect_timeout: float) -> dict:
        """Livehall: every viewer drops within `drop_spread` s and reconnects within `window` s, resuming."""
        sem = asyncio.Semaphore(concurrency)
        self.storm_done = array.array("d")
        self.storm_waits = array.array("d")   # from a client's reconnect time to its resume
        self.storm_failed = 0
        start = now()
        stormed = [c for c in self.viewers if c.closed is not None and not c.closed.done()]
        self.storm_last_reconnect = start
        for c in stormed:
            drop_at = random.random() * drop_spread
            back_at = random.uniform(drop_spread, window)
            self.storm_last_reconnect = max(self.storm_last_reconnect, start + back_at)
            self.spawn(self._storm_one(c, sem, start, drop_at, back_at, connect_timeout))
        return {"viewers": len(stormed)}

    async def _storm_one(self, c, sem, start, drop_at, back_at, timeout) -> None:
        await asyncio.sleep(drop_at)
        await c.close()
        await asyncio.sleep(max(0.0, start + back_at - now()))
        c.resume = True
        c.recovered = None
        async with sem:
            ok = await c.connect(timeout)
        if ok:
            self.storm_done.append(now())
            self.storm_waits.append(now() - start - back_at)
        else:
            self.storm_failed += 1

    async def cmd_storm_status(self) -> dict:
        return {"done": len(self.storm_done), "failed": self.storm_failed}

    async def cmd_storm_report(self) -> dict:
        vs = self.viewers
        return {
            "rejoined": len(self.storm_done), "failed": self.storm_failed,
            "last_rejoin": max(self.storm_done, default=0.0),
            "last_reconnect": self.storm_last_reconnect,   # when the last client was due to reconnect
            "recovered": sum(1 for c in vs if c.recovered is True),
            "not_recovered": sum(1 for c in vs if c.recovered is False),
            "missed": sum(c.missed for c in vs if c.recovered),
            "waits": self.storm_waits.tobytes(),
            "errors": self.errors(),
        }

    async def cmd_close(self) -> dict:
        await asyncio.gather(*(c.close(2) for c in self.clients), return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()
        return {"ok": True}


def batch_scheduling() -> bool:
    """Run this process under SCHED_BATCH (Linux): the same share of the CPU, but its
    wake-ups do not preempt a running process.

    The generator stands for clients on other machines.  Under the default
    policy every frame that arrives wakes a worker, which then preempts the
    server in the middle of writing a broadcast to thousands of sockets: a
    context switch per wake-up that a real server never pays for its clients.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        return False
    return True


def worker_main(pipe, wid: int, batch_policy: bool = True) -> None:
    """Entry point of a worker process (multiprocessing target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when to stop
    if batch_policy:
        batch_scheduling()
    raise_nofile()
    # Thousands of connects at once keep many objects alive across awaits;
    # CPython's 700-allocation threshold would scan them again and again.
    gc.set_threshold(50_000, 20, 20)
    try:
        import uvloop
        uvloop.run(Worker(pipe, wid).run())
    except ImportError:
        asyncio.run(Worker(pipe, wid).run())
