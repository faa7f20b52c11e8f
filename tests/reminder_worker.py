"""A server process of its own sending due reminders through the shared embedded store.

    python -m tests.reminder_worker ADDRESS DB SMTP_PORT LEASE_SECONDS [hang-before-send:N|hang-after-send:N]

Builds the services as `server.py serve` does, against the store at ADDRESS
and the SMTP server on SMTP_PORT, prints "ready", waits for a line on stdin
(so several workers start together), runs one reminder sweep, waits for its
jobs and prints {"sent": n} as JSON.  With `hang-before-send:N` the N-th
mail hangs after its claim and before it is written (the process then
prints "hanging" and waits to be killed); with `hang-after-send:N` it hangs
once the mail server has accepted that mail, before the claim says "sent".
"""
import asyncio
import json
import sys

import server
from core import config
from reminders import runner


async def main(address: str, db_name: str, smtp_port: str, lease: str, mode: str = "") -> None:
    runner.LEASE_SECONDS = float(lease)
    settings = config.from_env(embedded_store_address=address, mongodb_db=db_name, argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="127.0.0.1",
                               smtp_port=int(smtp_port), smtp_tls="none", smtp_user="", smtp_password="",
                               mail_from="Livehall <events@example.org>")
    services = await server.make_services(settings)
    send = services.mailer.send
    sent = 0
    hang, _, at = mode.partition(":")

    async def watched(**kwargs):
        nonlocal sent
        sent += 1
        n = sent
        if hang == "hang-before-send" and n == int(at):
            print("hanging", flush=True)
            await asyncio.Event().wait()
        entry = await send(**kwargs)
        if hang == "hang-after-send" and n == int(at):
            print("hanging", flush=True)
            await asyncio.Event().wait()
        return entry

    services.mailer.send = watched
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    sweep = runner.Runner(services)
    await sweep.sweep()
    await asyncio.gather(*sweep.working.values())
    print(json.dumps({"sent": sent}), flush=True)
    await server.close_services(services)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
