"""Checkout floor: the same HTTP stack as Livehall answering "sold out" with nothing behind it.

    .venv/bin/python bench/peers/bare-shop/server.py --port 9401 --cookie-secret S --page-bytes 2048

Tornado on uvloop, as Livehall runs, with what any shop must do before it
can refuse a buyer: parse the request and its form, check the XSRF token
against its cookie and read the signed session cookie.  Then, instead of
reading the event, the buyer's rights and the quota, it answers 409 with a
page of `--page-bytes` bytes (the size of Livehall's sold-out page, which
the checkout benchmark passes) that names the refusal as Livehall's does.
`bench/checkout.py` sends it the same rush as Livehall, so the difference
between the two is what Livehall's own work costs per refusal.  Run one
process per port.  Prints "READY <port>" once listening.
"""
import argparse
import asyncio
import signal
import sys

import tornado.web
import uvloop

SOLD_OUT = b"Not enough tickets of this type are left."   # the words bench/checkout.py looks for


class Tickets(tornado.web.RequestHandler):
    def post(self, _path):
        if self.get_signed_cookie("lh_session") is None:
            raise tornado.web.HTTPError(403)
        self.get_body_argument("currency")
        self.set_status(409)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.application.settings["page"])


def page(size: int) -> bytes:
    head = b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Sold out</title></head><body><p>"
    tail = b"</p></body></html>"
    body = head + SOLD_OUT + tail
    return body.replace(b"</body>", b"<!--" + b"." * max(0, size - len(body) - 7) + b"--></body>")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cookie-secret", required=True)
    p.add_argument("--page-bytes", type=int, default=2048)
    args = p.parse_args()
    app = tornado.web.Application([(r"(/e/.*)/tickets", Tickets)], xsrf_cookies=True,
                                  cookie_secret=args.cookie_secret, page=page(args.page_bytes))
    # The backlog Livehall listens with (server.py): a rush opens a thousand connections at once.
    app.listen(args.port, args.host, xheaders=False, backlog=4096)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {args.port}", flush=True)
    await stop.wait()


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
