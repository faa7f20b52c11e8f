"""A server process of its own buying tickets through the shared embedded store.

    python -m tests.orders_worker ADDRESS DB EVENT_ID TYPE_ID BUYER_ID,BUYER_ID,... [PROMO_CODE]

Builds the services as `server.py serve` does, against the store at
ADDRESS, prints "ready", waits for a line on stdin (so several workers
start together), then has every buyer named reserve one ticket of the type
and place the order, all at once (with the promo code, if one is given),
and prints what happened to each as JSON: "ordered", "sold_out" or
"used_up" (the code had no use left).
"""
import asyncio
import json
import sys

from bson import ObjectId

import server
from core import config
from orders import checkout, promo_codes
from realtime import timers


async def main(address: str, db_name: str, event_id: str, type_id: str, buyer_ids: list[str],
               promo: str | None = None) -> None:
    settings = config.from_env(embedded_store_address=address, mongodb_db=db_name, argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="")
    services = await server.make_services(settings)
    db = services.db
    event = await db.events.find_one({"_id": ObjectId(event_id)})
    buyers = {b["_id"]: b for b in await db.users.find({"_id": {"$in": [ObjectId(i) for i in buyer_ids]}})
              .to_list(None)}
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def buy(buyer_id: str) -> str:
        buyer = buyers[ObjectId(buyer_id)]
        try:
            reservation = await checkout.reserve(services, event, buyer, {type_id: "1"}, currency="EUR", promo=promo)
        except checkout.SoldOut:
            return "sold_out"
        except (promo_codes.UsedUp, promo_codes.TooFewUsesLeft):
            return "used_up"
        await checkout.place(services, event, buyer, reservation["_id"], buyer_name=buyer["name"],
                             method="invoice", holders=[None], idempotency_key=f"k-{buyer_id}", locale="en")
        return "ordered"

    results = await asyncio.gather(*(buy(i) for i in buyer_ids))
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)
    print(json.dumps(dict(zip(buyer_ids, results, strict=True))), flush=True)
    await server.close_services(services)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], [i for i in sys.argv[5].split(",") if i],
                     sys.argv[6] if len(sys.argv) > 6 else None))
