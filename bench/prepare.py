"""Benchmark data for Livehall: one event, its attendees and their sign-in links, made in bulk.

`make bench` (bench/run.py) starts the shared embedded store itself, fills it
with this module before any server process runs, and then starts
`server.py --processes 2` pointed at the same store.  Everything is written
with the platform's own functions (accounts.users, roles, accounts.tokens,
events.model), so the documents are exactly what the product would store;
the indexes are created afterwards with `mongo_indexes.ensure_indexes`, as a
server start would.

    python bench/prepare.py --store 127.0.0.1:27117 --attendees 1000 --out data.json
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tornado.web import create_signed_value  # noqa: E402

from access import roles as R  # noqa: E402
from accounts import sessions, tokens, users  # noqa: E402
from events import model  # noqa: E402
from mongo_indexes import ensure_indexes  # noqa: E402
from storage.shared import SharedClient  # noqa: E402

DB_NAME = "livehall"
SLIDES_PER_DECK = 2          # flips alternate next/prev: every flip changes the state
PARALLEL = 8                 # store connections used at once while writing


def spread_locales(count: int, mix: list[tuple[str, float]]) -> list[str]:
    """`count` locales in the proportions of `mix`, largest share first, deterministic."""
    out: list[str] = []
    total = sum(share for _, share in mix)
    for i, (locale, share) in enumerate(mix):
        n = count - len(out) if i == len(mix) - 1 else round(count * share / total)
        out.extend([locale] * max(0, min(n, count - len(out))))
    return out


async def _in_parallel(clients, items, work) -> list:
    """Run `work(db, item)` over items with one store connection per lane, results in order."""
    results: list = [None] * len(items)

    async def lane(k):
        db = clients[k][DB_NAME]
        for i in range(k, len(items), len(clients)):
            results[i] = await work(db, items[i])

    await asyncio.gather(*(lane(k) for k in range(len(clients))))
    return results


async def prepare(address: str, attendee_locales: list[str], sender_locale: str, senders: int,
                  event_locales: list[str], link_hours: int = 6, cookie_secret: str | None = None) -> dict:
    """Create the event and accounts; returns what the load generator needs (tokens in clear).

    With `cookie_secret`, attendees and senders also get a session each and its
    cookie, signed as the server signs it: they connect without signing in
    (the scaling runs measure holding an audience, not signing it in).
    """
    clients = [SharedClient(address) for _ in range(PARALLEL)]
    db = clients[0][DB_NAME]
    try:
        space = await model.create_space(db, slug="bench", name="Benchmark")
        locales = sorted(set(event_locales) | set(attendee_locales) | {sender_locale})
        event = model.blank_event(space["_id"], "load", locales, sender_locale,
                                  {loc: "Benchmark" for loc in locales})
        event["gate"]["mode"] = model.GATE_OPEN
        event["slides"]["decks"] = {
            loc: [{"media_id": f"{loc}{n:062x}", "name": f"slide {n + 1}"} for n in range(SLIDES_PER_DECK)]
            for loc in locales}
        await model.create_event(db, event)
        ttl = datetime.timedelta(hours=link_hours)

        people = [("attendee", loc) for loc in attendee_locales] + [("sender", sender_locale)] * senders

        async def make(db, item):
            i, (kind, locale) = item
            user = await users.create(db, email=f"{kind}{i}@bench.invalid", name=f"{kind.title()} {i}",
                                      locale=locale, login=f"bench-{kind}-{i}")
            await R.grant(db, user, "event", event["_id"], R.ATTENDEE, [locale])
            raw = await tokens.issue(db, user["_id"], tokens.SIGNIN, ttl, event_id=event["_id"])
            out = {"kind": kind, "locale": locale, "user_id": str(user["_id"]), "token": raw}
            if cookie_secret:
                session = await sessions.create(db, user["_id"], ttl, "bench", "127.0.0.1")
                out["cookie"] = create_signed_value(cookie_secret, sessions.COOKIE, session).decode()
            return out

        accounts = await _in_parallel(clients, list(enumerate(people)), make)
        staff = await users.create(db, email="staff@bench.invalid", name="Bench staff",
                                   locale=locales[0], login="bench-staff", platform_admin=True)
        staff_token = await tokens.issue(db, staff["_id"], tokens.SIGNIN, ttl)
        await ensure_indexes(db)
        return {
            "event_id": str(event["_id"]), "locales": locales,
            "attendees": [a for a in accounts if a["kind"] == "attendee"],
            "senders": [a for a in accounts if a["kind"] == "sender"],
            "staff": {"user_id": str(staff["_id"]), "token": staff_token},
        }
    finally:
        for client in clients:
            await client.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True, help="host:port of `server.py store-server`")
    p.add_argument("--attendees", type=int, default=1000)
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--locales", default="en:0.9,ru:0.05,de:0.05", help="locale:share,...")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    mix = [(part.split(":")[0], float(part.split(":")[1])) for part in args.locales.split(",")]
    data = asyncio.run(prepare(args.store, spread_locales(args.attendees, mix), mix[0][0], args.senders,
                               [m[0] for m in mix]))
    with open(args.out, "w") as f:
        json.dump(data, f)
    print(f"event {data['event_id']}: {len(data['attendees'])} attendees, {len(data['senders'])} senders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
