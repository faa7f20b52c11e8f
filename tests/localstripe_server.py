"""localstripe as the tests and the benchmarks run it: a stand-in for Stripe's API on a loopback port.

    python tests/localstripe_server.py --port 8420 [--fast]

localstripe does not know `setup_future_usage`, which Stripe needs on a
PaymentIntent whose card is to be charged again later while its holder is
away (`payments/card.py` sends it when a donor asks to keep their card):
it would refuse the whole request.  Here a value Stripe takes is accepted
and shown on the PaymentIntent as Stripe shows it (any other is refused);
it changes nothing else: the platform attaches the card to the donor's
Customer itself afterwards, which localstripe does model.

`--fast` (the benchmarks) also drops three habits of localstripe that
Stripe does not share and that would make it the thing measured: writing
its whole store to disk after every change, waiting a second before each
notification, and listing a kind of object by scanning every object it
holds (each charge it sends lists its refunds that way, so each payment
cost more than the one before it).  Its store then also keeps each kind's
objects apart, in the same order, and listing reads those.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import types

import localstripe.resources as resources
import localstripe.server as server
import localstripe.webhooks as webhooks

USAGES = ("on_session", "off_session")


def accept_setup_future_usage() -> None:
    create = resources.PaymentIntent._api_create.__func__

    def api_create(cls, setup_future_usage=None, **data):
        if setup_future_usage is not None and setup_future_usage not in USAGES:
            raise resources.UserError(400, "Bad request")
        intent = create(cls, **data)
        intent.setup_future_usage = setup_future_usage   # shown as Stripe shows it (null when not asked)
        return intent
    resources.PaymentIntent._api_create = classmethod(api_create)


def fast() -> None:
    resources.Store.dump_to_disk = lambda self: None
    # Notifications at once: its module's asyncio.sleep, and only its, waits no more.
    webhooks.asyncio = types.SimpleNamespace(**{k: getattr(asyncio, k) for k in dir(asyncio)})
    webhooks.asyncio.sleep = lambda seconds: asyncio.sleep(0)
    kinds: dict[str, dict] = {}

    def kept(self, key, value):
        dict.__setitem__(self, key, value)
        kinds.setdefault(key.partition(":")[0], {})[key] = value

    def dropped(self, key):
        dict.__delitem__(self, key)
        kinds.get(key.partition(":")[0], {}).pop(key, None)

    def list_all(cls, url, limit=None, starting_after=None, **kwargs):
        if kwargs:
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        found = resources.List(url, limit=limit, starting_after=starting_after)
        found._list = list(kinds.get(cls.object, {}).values())
        return found
    resources.Store.__setitem__, resources.Store.__delitem__ = kept, dropped
    resources.StripeObject._api_list_all = classmethod(list_all)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fast", action="store_true", help="the benchmarks' localstripe (see above)")
    args = p.parse_args()
    accept_setup_future_usage()
    if args.fast:
        fast()
    # It keeps its data in /tmp/localstripe.pickle; --from-scratch never reads it back.
    sys.argv = ["localstripe", "--port", str(args.port), "--from-scratch"]
    server.start()


if __name__ == "__main__":
    main()
