"""Benchmark peer: a plain Tornado WebSocket server, the "plain loop" baseline.

    .venv/bin/python bench/peers/plain-tornado/server.py --port 9201

One process, no Redis, JSON text frames, no compression. A broadcast encodes
once and calls write_message on every socket in the room, one by one.
  {"type":"join","room"}                      -> {"type":"joined","room"} (sender)
  {"type":"send","room","text","client_id"}   -> {"type":"message",...}   (room)
  {"type":"flip","room","n","ts"}             -> {"type":"slide","n","ts"} (room)
Prints "READY <port>" once listening.
"""
import argparse
import asyncio
import json
import os
import resource
import signal
import sys

import tornado.web
import tornado.websocket

ROOMS = {}  # room name -> set of PeerSocket


def broadcast(room, msg):
    payload = json.dumps(msg)
    for sock in list(ROOMS.get(room, ())):
        try:
            sock.write_message(payload)
        except tornado.websocket.WebSocketClosedError:
            pass


class PeerSocket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self):
        self.rooms = set()

    def on_message(self, message):
        msg = json.loads(message)
        kind, room = msg.get('type'), msg.get('room')
        if kind == 'join':
            ROOMS.setdefault(room, set()).add(self)
            self.rooms.add(room)
            self.write_message(json.dumps({'type': 'joined', 'room': room}))
        elif kind == 'send':
            broadcast(room, {'type': 'message', 'room': room,
                             'text': msg.get('text'),
                             'client_id': msg.get('client_id')})
        elif kind == 'flip':
            broadcast(room, {'type': 'slide', 'n': msg.get('n'),
                             'ts': msg.get('ts')})

    def on_close(self):
        for room in self.rooms:
            members = ROOMS.get(room)
            if members is not None:
                members.discard(self)
                if not members:
                    del ROOMS[room]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print('open files limit (soft / hard): %s / %s'
          % resource.getrlimit(resource.RLIMIT_NOFILE), file=sys.stderr)


async def main(host, port):
    app = tornado.web.Application([(r'/ws', PeerSocket), (r'/', PeerSocket)])
    app.listen(port, address=host)
    print('READY %d' % port, flush=True)
    await asyncio.Event().wait()  # serve until a signal ends the process


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--host', default='127.0.0.1')
    args = ap.parse_args()
    raise_nofile()
    for sig in (signal.SIGTERM, signal.SIGINT):  # nothing to flush: exit now
        signal.signal(sig, lambda *_: os._exit(0))
    asyncio.run(main(args.host, args.port))
