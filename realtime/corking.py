"""Hold a new socket's first writes back and send them as one TCP segment.

A connect answers with the 101 response, then `welcome`, then `state`:
three writes a few hundred microseconds apart.  Sent one by one they are
three transmissions, and three wake-ups and reads for the client; in a
reconnect storm each costs both machines more than the bytes do.  With
TCP_CORK set the kernel queues them and sends them together when the cork
is released.

Turning TCP_NODELAY on pushes out whatever is queued, cork or not, and
Tornado's HTTP response path does that when it finishes a response; so
Nagle is off before the cork goes on (turning it on again is what flushes),
and the stream's own `set_nodelay` does nothing while the cork is held.
(`realtime.endpoint` writes the 101 response itself, but a held stream stays
held whoever writes to it.)
"""
from __future__ import annotations

import socket

CORK = getattr(socket, "TCP_CORK", None)  # Linux only: elsewhere nothing is held


def hold(stream) -> bool:
    """Cork `stream`'s socket; False (and nothing changed) where that is not possible."""
    sock = getattr(stream, "socket", None)
    if CORK is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, CORK, 1)
    except OSError:
        return False
    stream.set_nodelay = _ignore
    return True


def release(stream) -> None:
    """Send what `hold` kept back.  Nagle is off afterwards either way (the hub
    gathers writes itself), also where the socket could not be corked."""
    if stream.__dict__.pop("set_nodelay", None) is None:
        stream.set_nodelay(True)   # never held (or released already): nothing queued
        return
    sock = getattr(stream, "socket", None)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, CORK, 0)
    except OSError:
        pass  # closed meanwhile: nothing left to send


def _ignore(value: bool) -> None:
    pass
