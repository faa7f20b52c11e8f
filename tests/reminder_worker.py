"""A server process of its own sending due reminders through the shared embedded store.

    python -m tests.reminder_worker ADDRESS DB SMTP_PORT LEASE_SECONDS [MODE:N]

Builds the services as `server.py serve` does, against the store at ADDRESS
and the SMTP server on SMTP_PORT, with the mailer's lease cut to
LEASE_SECONDS, prints "ready", waits for a line on stdin (so several workers
start together), runs one reminder sweep and one round of the mailer's
queue, and prints {"sent": mails written, "delivered": queue entries tried}
as JSON.  MODE makes the N-th mail of this process stop for good, printing
"hanging" (the test then kills the process):

- `hang-before-handover`: the whole mail is written to the server, its
  ending line is not, nor the hand-over mark;
- `hang-after-handover`: the hand-over is marked, the ending line not sent;
- `hang-after-accept`: the server has accepted the mail, the outbox entry
  does not say so yet.
"""
import asyncio
import datetime
import json
import sys

import server
from core import config
from mailings import mailer
from reminders import runner


async def main(address: str, db_name: str, smtp_port: str, lease: str, mode: str = "") -> None:
    mailer.LEASE = datetime.timedelta(seconds=float(lease))
    settings = config.from_env(embedded_store_address=address, mongodb_db=db_name, argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="127.0.0.1",
                               smtp_port=int(smtp_port), smtp_tls="none", smtp_user="", smtp_password="",
                               mail_from="Livehall <events@example.org>")
    services = await server.make_services(settings)
    hang, _, at = mode.partition(":")
    counts = {"handover": 0, "sent": 0}

    async def stop_here():
        print("hanging", flush=True)
        await asyncio.Event().wait()

    handover = services.mailer._handover.submit

    async def watched_handover(entry_id):
        counts["handover"] += 1
        n = counts["handover"]
        if hang == "hang-before-handover" and n == int(at):
            await stop_here()
        held = await handover(entry_id)
        if hang == "hang-after-handover" and n == int(at):
            await stop_here()
        return held

    send = services.mailer.pool.send

    async def watched_send(transport, sender, recipients, data, commit):
        result = await send(transport, sender, recipients, data, commit)
        counts["sent"] += 1
        if hang == "hang-after-accept" and counts["sent"] == int(at):
            await stop_here()
        return result

    services.mailer._handover.submit = watched_handover
    services.mailer.pool.send = watched_send
    written = 0
    send_many = services.mailer.send_many

    async def counted(*args, **kwargs):
        nonlocal written
        entries, repeated = await send_many(*args, **kwargs)
        written += len(entries)
        return entries, repeated

    services.mailer.send_many = counted
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    sweep = runner.Runner(services)
    await sweep.sweep()
    await asyncio.gather(*sweep.working.values())
    delivered = await services.mailer.deliver_due()
    print(json.dumps({"sent": written, "delivered": delivered}), flush=True)
    await server.close_services(services)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
