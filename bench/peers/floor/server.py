"""Benchmark floor: the least a server can do per delivered frame.

    .venv/bin/python bench/peers/floor/server.py --port 9301 [--siblings 9302]

No protocol and no rooms: a flip builds one WebSocket frame and writes those
same bytes to every socket the process holds, one `transport.write` each, on
uvloop.  Anything a real server does per delivered frame (rooms, encoding,
backpressure, compression, a broker) costs more than this, so a run reports
each server's CPU per delivered frame as a multiple of this one's on the same
machine.

It speaks just enough of the plain peer's wire format (bench/peers/README)
for the load generator: the WebSocket upgrade, `{"type":"join","room"}`
answered with `joined`, and `{"type":"flip","n","ts"}` answered by the
`slide` frame to every socket of every process (`--frame-bytes` pads its
payload to the size of the frame the compared server sends): run one process per core,
each told the others' ports (`--siblings`); the process a flip reaches hands
its payload to the others in a UDP datagram on loopback.  Prints
"READY <port>" once listening.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import resource
import signal
import socket
import sys

import orjson
import uvloop

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SOCKETS: set = set()   # every open transport of this process
PAD = 0                # flip payloads are padded to this many bytes (--frame-bytes)
SIBLINGS: list = []    # (UDP socket, address) of every other process


def frame(payload: bytes) -> bytes:
    """An unmasked text frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def broadcast(payload: bytes) -> None:
    data = frame(payload)          # built once
    for transport in SOCKETS:      # written to every socket as it is
        transport.write(data)


class Peer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf, self.upgraded = transport, b"", False

    def connection_lost(self, exc):
        SOCKETS.discard(self.transport)

    def data_received(self, data):
        self.buf += data
        if not self.upgraded:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                        if line.lower().startswith(b"sec-websocket-key:")), b"")
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            self.buf, self.upgraded = rest, True
            SOCKETS.add(self.transport)
        while len(self.buf) >= 6:   # client frames: masked, small
            n, at = self.buf[1] & 0x7F, 2
            if n == 126:
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + 4 + n:
                return
            opcode, mask = self.buf[0] & 0x0F, self.buf[at:at + 4]
            body = self.buf[at + 4:at + 4 + n]
            self.buf = self.buf[at + 4 + n:]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
            if opcode == 8:
                self.transport.close()
                return
            if opcode == 1:
                self.message(orjson.loads(payload))

    def message(self, msg):
        if msg.get("type") == "join":
            self.transport.write(frame(orjson.dumps({"type": "joined", "room": msg.get("room")})))
        elif msg.get("type") == "flip":
            slide = {"type": "slide", "n": msg.get("n"), "ts": msg.get("ts")}
            payload = orjson.dumps(slide)
            if len(payload) < PAD:
                payload = orjson.dumps({**slide, "pad": "x" * (PAD - len(payload) - 9)})
            for udp, address in SIBLINGS:
                udp.sendto(payload, address)
            broadcast(payload)


def sibling_flips(sock: socket.socket) -> None:
    """A flip another process received: its payload, one datagram each."""
    while True:
        try:
            broadcast(sock.recv(65536))
        except BlockingIOError:
            return


async def serve(host: str, port: int, siblings: list[int]) -> None:
    loop = asyncio.get_running_loop()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))   # flips from the other processes arrive on the same port number, by UDP
    udp.setblocking(False)
    loop.add_reader(udp.fileno(), sibling_flips, udp)
    SIBLINGS.extend((udp, (host, p)) for p in siblings)
    server = await loop.create_server(Peer, host, port, backlog=4096)
    print("READY %d" % port, flush=True)
    await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--siblings", default="", help="comma-separated ports of the other processes")
    ap.add_argument("--frame-bytes", type=int, default=0,
                    help="pad each flip payload to this size (the size of the server compared with it)")
    args = ap.parse_args()
    global PAD
    PAD = args.frame_bytes
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("open files limit (soft / hard): %s / %s" % resource.getrlimit(resource.RLIMIT_NOFILE), file=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGINT):  # nothing to flush: exit now
        signal.signal(sig, lambda *_: os._exit(0))
    uvloop.run(serve(args.host, args.port, [int(p) for p in args.siblings.split(",") if p]))


if __name__ == "__main__":
    main()
