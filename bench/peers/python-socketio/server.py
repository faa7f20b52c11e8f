"""Benchmark peer: python-socketio AsyncServer on aiohttp with AsyncRedisManager.

    .venv/bin/python bench/peers/python-socketio/server.py --port 9101 --redis redis://127.0.0.1:6379

Written as a typical python-socketio user would: aiohttp + web.run_app on
the plain asyncio loop (no uvloop), websocket transport only, Redis manager
(with a blocking connection pool; see RedisManager).
Events: join {room} -> joined {room} (to the sender)
        chat {room,text,cid} -> chat {room,text,cid} (to the room)
        flip {room,n,ts} -> slide {n,ts} (to the room)
Prints "READY <port>" once listening and subscribed to Redis.
"""
import argparse
import asyncio
import os
import resource
import signal
import sys

import socketio
from aiohttp import web
from redis import asyncio as aioredis


class RedisManager(socketio.AsyncRedisManager):
    """AsyncRedisManager with a bounded pool that waits for a free connection.

    With redis-py 8 (the project's pin) the stock manager's pool holds at most
    100 connections and *raises* when a burst of emits needs more; the manager
    then builds a whole new client per failure and leaks the old one
    (measured: 5,000 concurrent joins into one process left ~5,100 Redis
    clients open). Raising max_connections instead opens a connection per
    in-flight publish; under the same burst those timed out and ~90 publishes
    were dropped. A blocking pool is the fix a user who hit "Cannot publish to
    redis... retrying" would apply.
    """

    def _redis_connect(self):
        pool = aioredis.BlockingConnectionPool.from_url(
            self.redis_url, max_connections=32, timeout=None)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print('open files limit (soft / hard): %s / %s'
          % resource.getrlimit(resource.RLIMIT_NOFILE), file=sys.stderr)


def make_app(redis_url):
    mgr = RedisManager(redis_url)
    # python-socketio cannot turn websocket permessage-deflate off: aiohttp
    # accepts it if the client offers it, so the load generator must not.
    sio = socketio.AsyncServer(async_mode='aiohttp', client_manager=mgr,
                               transports=['websocket'],
                               http_compression=False,
                               cors_allowed_origins='*')

    @sio.on('join')
    async def join(sid, data):
        await sio.enter_room(sid, data['room'])
        await sio.emit('joined', {'room': data['room']}, to=sid)

    @sio.on('chat')
    async def chat(sid, data):
        await sio.emit('chat', {'room': data['room'], 'text': data['text'],
                                'cid': data['cid']}, to=data['room'])

    @sio.on('flip')
    async def flip(sid, data):
        await sio.emit('slide', {'n': data['n'], 'ts': data['ts']},
                       to=data['room'])

    async def subscribe_before_ready(app):
        # The manager normally subscribes on the first connection; do it now
        # so that "READY" means the Redis side is live.
        sio.manager_initialized = True
        mgr.initialize()
        while mgr.pubsub is None or not mgr.pubsub.subscribed:
            await asyncio.sleep(0.02)

    app = web.Application()
    sio.attach(app)
    app.on_startup.append(subscribe_before_ready)
    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--redis', default='redis://127.0.0.1:6379')
    args = ap.parse_args()
    raise_nofile()
    # A bench peer has nothing to flush: exit at once on SIGTERM/SIGINT
    # (aiohttp's graceful shutdown took 10-20 s with 1-2k open sockets).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))
    # run_app calls `print` once every site is listening.
    web.run_app(make_app(args.redis), host=args.host, port=args.port,
                access_log=None, handle_signals=False,
                print=lambda *_: print('READY %d' % args.port, flush=True))


if __name__ == '__main__':
    main()
