"""Every URL of the platform, gathered from the modules that handle them.

Each handler module exports ROUTES, a list of (pattern, handler class).
`build` gives every handler the same `services` through `initialize()`;
a route to an HTTPServerConnectionDelegate class (the WebSocket endpoint,
which works below RequestHandler) gets one instance built with `services`.
"""
from __future__ import annotations

from tornado.httputil import HTTPServerConnectionDelegate
from tornado.web import URLSpec

from admin import (attendees, audit_log, console, control, dashboard, events, mailings, outbox,
                   slides, staff)
from admin import community as admin_community
from admin import quizzes as admin_quizzes
from handlers import auth, event, home, media, ops, profile
from handlers import community
from handlers import quizzes
from realtime import handler as live_socket

# `/ws` first: patterns are tried in order, and a reconnect storm is
# thousands of upgrades a second.
MODULES = (live_socket, ops, auth, profile, home, event, media,
           dashboard, events, control, console, slides, staff, audit_log, attendees, mailings, outbox,
           community, admin_community, quizzes, admin_quizzes)


def build(services) -> list[URLSpec]:
    specs = []
    for module in MODULES:
        for pattern, handler, *name in module.ROUTES:
            if issubclass(handler, HTTPServerConnectionDelegate):
                handler = handler(services)
            specs.append(URLSpec(pattern, handler, {"services": services}, name[0] if name else None))
    return specs
