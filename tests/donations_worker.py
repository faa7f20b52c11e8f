"""A server process of its own giving from one donor's wallet through the shared embedded store.

    python -m tests.donations_worker ADDRESS DB CAMPAIGN_ID DONOR_ID PREFIX COUNT

Builds the services as `server.py serve` does, against the store at
ADDRESS, prints "ready", waits for a line on stdin (so several workers
start together), then makes COUNT gifts of 1.00 from the donor's wallet to
the campaign, all at once (keys PREFIX-0 ... PREFIX-<COUNT-1>), and prints
what happened to each as JSON: "given" or "refused" (the wallet held too little).
"""
import asyncio
import json
import sys

from bson import ObjectId

import server
from core import config
from donations import campaigns, giving, wallet
from realtime import timers


async def main(address: str, db_name: str, campaign_id: str, donor_id: str, prefix: str, count: int) -> None:
    settings = config.from_env(embedded_store_address=address, mongodb_db=db_name, argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="")
    services = await server.make_services(settings)
    db = services.db
    campaign = await campaigns.get(db, campaign_id)
    donor = await db.users.find_one({"_id": ObjectId(donor_id)})
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def give(key: str) -> str:
        try:
            await giving.give(services, campaign, amount="1", currency=campaign["currency"], key=key,
                              method=giving.WALLET, user=donor, locale="en")
            return "given"
        except wallet.NotEnough:
            return "refused"

    keys = [f"{prefix}-{i}" for i in range(count)]
    results = await asyncio.gather(*(give(k) for k in keys))
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)
    print(json.dumps(dict(zip(keys, results, strict=True))), flush=True)
    await server.close_services(services)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])))
