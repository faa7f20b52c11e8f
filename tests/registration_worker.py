"""A server process of its own acting on registrations through the shared embedded store.

    python -m tests.registration_worker ADDRESS DB EVENT_ID ID,ID,... [registrations|seats]

Builds the services as `server.py serve` does, against the store at
ADDRESS, prints "ready", waits for a line on stdin (so several workers
start together), cancels the registrations named (as staff) all at once,
or with `seats` gives up the session seats named (as their holders),
waits for its mails and prints what happened to each as JSON.
"""
import asyncio
import json
import sys

from bson import ObjectId

import server
from core import config
from realtime import timers
from registration import actions, session_seats, states


async def main(address: str, db_name: str, event_id: str, ids: list[str], kind: str = "registrations") -> None:
    settings = config.from_env(embedded_store_address=address, mongodb_db=db_name, argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="")
    services = await server.make_services(settings)
    event = await services.db.events.find_one({"_id": ObjectId(event_id)})
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def cancel(mid: str) -> str:
        membership = await services.db.memberships.find_one({"_id": ObjectId(mid)})
        try:
            await actions.cancel(services, event, membership, actor_kind=states.STAFF, actor=None)
        except states.TransitionError:
            return "refused"
        return "cancelled"

    async def give_up(sid: str) -> str:
        seat = await services.db.session_seats.find_one({"_id": ObjectId(sid)})
        try:
            await session_seats.give_up(services, event, seat)
        except states.TransitionError:
            return "refused"
        return "cancelled"

    act = give_up if kind == "seats" else cancel
    results = await asyncio.gather(*(act(i) for i in ids))
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)
    print(json.dumps(dict(zip(ids, results, strict=True))), flush=True)
    await server.close_services(services)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], [i for i in sys.argv[4].split(",") if i],
                     *sys.argv[5:6]))
