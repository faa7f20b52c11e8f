"""Invitation mailings over real SMTP (aiosmtpd) and partner links over HTTP.

The funnel of a seeded scenario is counted exactly, a machine's prefetch of
the pixel apart from a person's open; an unsubscribed address gets no later
invitation; a CSV with a broken row writes nothing; a registration belongs
to the partner link followed last before it.
"""
import asyncio
import datetime
import re

import pytest

from access import roles as R
from core.clock import utcnow
from invitations import campaigns, partners, tracking
from mailings import lease, unsubscribe
from tests.support import translated
from tests.test_mailer import body, settings, smtp_server  # noqa: F401 (the fixtures)
from tests.test_registration_flow import drain, public_event, register_url

CLICK = re.compile(r"/i/c/([A-Za-z0-9_-]+)")
PERSON_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"
APPLE_UA = "Mozilla/5.0"


def mails_to(smtp_server, address):
    return [msg for rcpts, msg in smtp_server.handler.messages() if address in rcpts]


def token_of(smtp_server, address) -> str:
    (mail,) = mails_to(smtp_server, address)
    return CLICK.search(body(mail, "plain")).group(1)


async def backdate(db, token: str, seconds: int) -> None:
    """The message was accepted `seconds` ago: long enough for a person to have read it."""
    item = await campaigns._item(db, token)
    moment = utcnow() - datetime.timedelta(seconds=seconds)
    await db.outbox.update_one({"_id": item["outbox_id"]}, {"$set": {"sent_at": moment}})
    await db[campaigns.ITEMS].update_one({"_id": item["_id"]}, {"$set": {"sent_at": moment}})


async def registers(factory, db, event, email: str, watched: bool) -> None:
    user = await factory.member(R.ATTENDEE, event=event, email=email)
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": event["_id"]},
                                    {"$set": {"created_at": utcnow(), "state": "registered",
                                              **({"watched_at": utcnow()} if watched else {})}})


@pytest.mark.gen_test(timeout=90)
async def test_the_funnel_of_a_seeded_scenario_counts_exactly(factory, services, db, smtp_server, browser):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    gone = await factory.user(email="gone@example.org")
    await unsubscribe.opt_out(db, gone["_id"], campaigns.TOPIC)
    data = (b"email,name,locale\nann@example.org,Ann,en\nbob@example.org,Bob,ru\ncid@example.org,Cid,he\n"
            b"dan@example.org,Dan,\ngone@example.org,Gone,en\n")
    people = campaigns.from_csv(data, event["locales"])
    mailing = await campaigns.create(db, staff, event, people, "csv")
    assert await campaigns.run(services, mailing["_id"]) == 4
    assert mails_to(smtp_server, "gone@example.org") == []
    bob_mail, = mails_to(smtp_server, "bob@example.org")
    assert bob_mail["Subject"] == services.i18n.gettext("ru")(campaigns.TEMPLATE.subject).format(
        event_title=event["title"]["ru"])
    assert bob_mail["List-Unsubscribe"] and bob_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/i/o/" in body(bob_mail, "html")
    ann, bob, cid = (token_of(smtp_server, f"{n}@example.org") for n in ("ann", "bob", "cid"))
    # The staff copy in the outbox does not hold the personal link.
    entry = await db.outbox.find_one({"to": "ann@example.org"})
    assert ann not in entry["text"] and ann not in (entry["html"] or "")

    # Ann reads it a minute later, follows the link, registers and attends.
    await backdate(db, ann, 60)
    visitor = browser()
    r = await visitor.get(f"/i/o/{ann}.gif", headers={"User-Agent": PERSON_UA})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    r = await visitor.get(f"/i/c/{ann}")
    assert r.status_code == 302 and r.headers["location"] == \
        f"/e/{space['slug']}/{event['slug']}/about?invite={ann}"
    await registers(factory, db, event, "ann@example.org", watched=True)
    # Bob's mail is fetched by Apple's proxy on arrival: a prefetch, not an open.
    await campaigns.record_open(db, bob, "17.58.1.20", APPLE_UA)
    # Cid's too, within seconds of delivery, by an ordinary-looking client; later Cid opens, clicks, registers.
    await campaigns.record_open(db, cid, "203.0.113.7", PERSON_UA)
    await backdate(db, cid, 3600)
    await campaigns.record_open(db, cid, "203.0.113.7", PERSON_UA)
    await campaigns.record_open(db, cid, "203.0.113.7", PERSON_UA)
    assert await campaigns.record_click(db, cid)
    await registers(factory, db, event, "cid@example.org", watched=False)
    # Dan was registered before the mailing: not a registration it brought.
    await factory.member(R.ATTENDEE, event=event, email="dan@example.org")
    await db.memberships.update_one({"email": "dan@example.org"},
                                    {"$set": {"created_at": utcnow() - datetime.timedelta(days=1)}})

    people = {p["email"]: p for p in await campaigns.rows(db, mailing)}
    assert campaigns.totals(list(people.values())) == {
        "recipients": 5, "unsubscribed": 1, "sent": 4, "delivered": 4, "opened": 2, "prefetched": 2,
        "clicked": 2, "registered": 2, "attended": 1}
    assert (people["cid@example.org"]["opens"], people["cid@example.org"]["prefetches"]) == (2, 1)
    assert (people["bob@example.org"]["opened"], people["bob@example.org"]["prefetched"]) == (False, True)
    assert people["ann@example.org"]["attended"] and not people["cid@example.org"]["attended"]

    admin = browser()
    await admin.sign_in(staff["login"], factory.PASSWORD)
    page = await admin.get(f"/admin/events/{event['_id']}/invitations/{mailing['_id']}")
    assert page.status_code == 200 and 'data-stage="prefetched"><th>' in page.text
    exported = await admin.get(f"/admin/events/{event['_id']}/invitations/{mailing['_id']}.csv")
    lines = exported.text.splitlines()
    assert lines[0] == ("email,name,locale,unsubscribed,sent,delivered,opened,prefetched,clicked,registered,"
                        "attended,opens,prefetches")
    assert "cid@example.org,Cid,he,0,1,1,1,1,1,1,0,2,1" in lines


def test_the_prefetch_rule():
    now = utcnow()
    read_later = now - datetime.timedelta(minutes=5)
    assert tracking.is_prefetch("17.1.2.3", PERSON_UA, read_later, now)          # Apple's network
    assert tracking.is_prefetch("203.0.113.7", APPLE_UA, read_later, now)        # the proxies' bare agent
    assert tracking.is_prefetch("203.0.113.7", "", read_later, now)
    assert tracking.is_prefetch("203.0.113.7", PERSON_UA, now - datetime.timedelta(seconds=3), now)  # too soon
    assert tracking.is_prefetch("203.0.113.7", PERSON_UA, None, now)             # not even delivered
    assert not tracking.is_prefetch("203.0.113.7", PERSON_UA, read_later, now)
    assert not tracking.is_prefetch("::1", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
                                    " (KHTML, like Gecko) Mobile/15E148", read_later, now)


@pytest.mark.gen_test(timeout=90)
async def test_an_unsubscribed_recipient_gets_no_further_invitation(factory, services, db, smtp_server, browser):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    people = campaigns.from_csv(b"new@example.org,New\nstays@example.org,Stays\n", event["locales"])
    await campaigns.run(services, (await campaigns.create(db, staff, event, people, "csv"))["_id"])
    (mail,) = mails_to(smtp_server, "new@example.org")
    link = re.search(r"<(.+)>", mail["List-Unsubscribe"]).group(1)
    assert link in body(mail, "plain")
    # The mail client's one-click POST (RFC 8058), with no cookie; the address has no account.
    r = await browser().post(link[len(services.settings.public_url):], {"List-Unsubscribe": "One-Click"},
                             xsrf=False)
    assert r.status_code == 200
    second = await campaigns.create(db, staff, event, people, "csv")
    assert await campaigns.run(services, second["_id"]) == 1
    assert len(mails_to(smtp_server, "new@example.org")) == 1
    assert len(mails_to(smtp_server, "stays@example.org")) == 2
    # Once the address has an account, its earlier opt-out still holds, and so does one made by the account.
    await factory.user(email="new@example.org")
    third = await campaigns.create(db, staff, event, people, "csv")
    assert await campaigns.run(services, third["_id"]) == 1
    assert len(mails_to(smtp_server, "new@example.org")) == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_csv_with_broken_rows_changes_nothing(factory, services, db, browser):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event, locale="ru")
    before = {n: await db[n].count_documents({}) for n in
              (campaigns.MAILINGS, campaigns.ITEMS, "invitations", "outbox", "audit")}
    admin = browser(locale="ru")
    await admin.sign_in(staff["login"], factory.PASSWORD)
    data = b"email,name,locale\ngood@example.org,Good,en\nnot-an-address,Bad,en\ngood@example.org,Again,en\n" \
           b"ok@example.org,Ok,xx\n"
    r = await admin.post(f"/admin/events/{event['_id']}/invitations", {"recipients": "csv"},
                         files={"file": ("list.csv", data, "text/csv")})
    assert r.status_code == 400
    assert translated(services, "ru", "The file has %(count)s broken rows; nothing was imported.", count=3) in r.text
    assert translated(services, "ru", "Row %(line)s:", line=3) in r.text
    assert translated(services, "ru", "“%(value)s” is not an email address.", value="not-an-address") in r.text
    after = {n: await db[n].count_documents({}) for n in before}
    assert after == before


@pytest.mark.gen_test(timeout=90)
async def test_partner_attribution_is_last_touch(factory, services, db, browser):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    first = await partners.add(db, staff, event, "First Partner")
    last = await partners.add(db, staff, event, "Last Partner")
    person = await factory.user(email="visitor@example.org")
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    r = await b.get(f"/p/{first['code']}")
    assert r.status_code == 302 and r.headers["location"] == f"/e/{space['slug']}/{event['slug']}/about"
    await b.get(f"/p/{last['code']}")
    r = await b.post(register_url(space, event, "/one-click"))
    assert r.status_code == 302
    await b.get(f"/p/{first['code']}")  # after registering: changes nothing
    other = browser()
    await other.get(f"/p/{first['code']}")
    await db.memberships.update_one({"user_id": person["_id"]}, {"$set": {"watched_at": utcnow()}})
    await drain(services)
    counts = {c["name"]: c for c in await partners.counts(db, event["_id"])}
    assert (counts["First Partner"]["visits"], counts["First Partner"]["registrations"]) == (3, 0)
    assert (counts["Last Partner"]["visits"], counts["Last Partner"]["registrations"],
            counts["Last Partner"]["attended"]) == (1, 1, 1)
    admin = browser()
    await admin.sign_in(staff["login"], factory.PASSWORD)
    exported = await admin.get(f"/admin/events/{event['_id']}/partners.csv")
    assert f"Last Partner,{services.settings.public_url}/p/{last['code']},1,1,1" in exported.text.splitlines()
    page = await admin.get(f"/admin/events/{event['_id']}/partners")
    assert page.status_code == 200 and "First Partner" in page.text


@pytest.mark.gen_test(timeout=90)
async def test_recipients_from_filtered_registrants_and_from_past_attendees(factory, services, db, smtp_server,
                                                                             browser):
    space, event = await public_event(db, factory)
    past = await factory.event(space, locales=("en", "ru"))
    came = await factory.member(R.ATTENDEE, event=past, email="came@example.org")
    await factory.member(R.ATTENDEE, event=past, email="stayed.away@example.org")
    await db.memberships.update_one({"user_id": came["_id"]}, {"$set": {"watched_at": utcnow()}})
    elsewhere = await factory.event(locales=("en",))  # another space: refused as a source
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    admin = browser()
    await admin.sign_in(staff["login"], factory.PASSWORD)
    url = f"/admin/events/{event['_id']}/invitations"
    r = await admin.post(url, {"recipients": "attendees", "from_event": str(past["_id"])})
    assert r.status_code == 302
    await drain(services)
    r = await admin.post(url, {"recipients": "registrants", "from_event": str(past["_id"]), "q": "stayed"})
    assert r.status_code == 302, re.findall(r"error-message[^>]*>([^<]*)", r.text)
    assert r.status_code == 302
    await drain(services)
    for _ in range(50):
        if await db[campaigns.ITEMS].count_documents({"status": campaigns.SENT}) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(mails_to(smtp_server, "came@example.org")) == 1
    assert len(mails_to(smtp_server, "stayed.away@example.org")) == 1
    refused = await admin.post(url, {"recipients": "registrants", "from_event": str(elsewhere["_id"])})
    assert refused.status_code == 400 and await db[campaigns.MAILINGS].count_documents({}) == 2


# --- surviving a restart ---------------------------------------------------------------------

def count_by_address(smtp_server) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rcpts, _ in smtp_server.handler.messages():
        for address in rcpts:
            counts[address] = counts.get(address, 0) + 1
    return counts


@pytest.mark.gen_test(timeout=90)
async def test_an_interrupted_mailing_is_resumed_and_everyone_gets_exactly_one_invitation(
        factory, services, db, smtp_server):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    emails = [f"p{i}@example.org" for i in range(8)]
    people = campaigns.from_csv("\n".join(f"{e},P{i},en" for i, e in enumerate(emails)).encode(), event["locales"])
    mailing = await campaigns.create(db, staff, event, people, "csv")
    items = db[campaigns.ITEMS]

    # The runner is stopped (as a shutdown cancels it) while it hands its third invitation to the mailer.
    send = services.mailer.send
    handed = []

    async def stopping_at_the_third(**message):
        handed.append(message["to"])
        if len(handed) == 3:
            task.cancel()
        return await send(**message)

    services.mailer.send = stopping_at_the_third
    task = campaigns.start(services, mailing["_id"])
    with pytest.raises(asyncio.CancelledError):
        await task
    services.mailer.send = send
    # The mail in hand was finished first; the lease is given back.
    assert await items.count_documents({"mailing_id": mailing["_id"], "status": campaigns.SENT}) == 3
    assert sum(count_by_address(smtp_server).values()) == 3
    stopped = await db[campaigns.MAILINGS].find_one({"_id": mailing["_id"]})
    assert stopped["status"] == campaigns.RUNNING and stopped["lease_until"] is None

    # Then a runner dies (no clean stop): it had claimed one item and was composing it, and had written
    # another to the outbox without recording it; its lease has run out since.
    composing = await items.find_one_and_update({"mailing_id": mailing["_id"], "status": campaigns.PENDING},
                                                {"$set": {"status": campaigns.SENDING, "runner": "dead"}})
    written = await items.find_one_and_update(
        {"mailing_id": mailing["_id"], "status": campaigns.PENDING},
        {"$set": {"status": campaigns.SENDING, "runner": "dead", "handing_off_at": utcnow()}})
    entry = await send(to=written["email"], subject="Invitation", text="t", event_id=event["_id"],
                       kind=campaigns.KIND, mailing_id=mailing["_id"])
    await db[campaigns.MAILINGS].update_one({"_id": mailing["_id"]}, {"$set": {
        "runner": "dead", "lease_until": utcnow() - datetime.timedelta(seconds=1)}})

    # The server starts again.
    tasks = await campaigns.resume_all(services)
    assert len(tasks) == 1
    assert sum(await asyncio.gather(*tasks)) == 4  # the composing one and the three never claimed

    assert count_by_address(smtp_server) == {e: 1 for e in emails}
    assert await items.count_documents({"mailing_id": mailing["_id"], "status": campaigns.SENT}) == 8
    assert (await items.find_one({"_id": written["_id"]}))["outbox_id"] == entry["_id"]
    assert (await items.find_one({"_id": composing["_id"]}))["outbox_id"] is not None
    done = await db[campaigns.MAILINGS].find_one({"_id": mailing["_id"]})
    assert done["status"] == campaigns.DONE and done["lease_until"] is None
    # Nothing left to resume; running it again mails nobody.
    assert await campaigns.resume_all(services) == []
    assert await campaigns.run(services, mailing["_id"]) == 0
    assert sum(count_by_address(smtp_server).values()) == 8


@pytest.mark.gen_test(timeout=60)
async def test_a_live_lease_is_not_taken_and_an_interrupted_hand_off_is_sent_once(factory, services, db,
                                                                                    smtp_server):
    space, event = await public_event(db, factory)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    people = campaigns.from_csv(b"a@example.org,A\nb@example.org,B\n", event["locales"])
    mailing = await campaigns.create(db, staff, event, people, "csv")
    mailings = db[campaigns.MAILINGS]
    # Another runner holds it: nobody else may claim it until its lease runs out.
    await mailings.update_one({"_id": mailing["_id"]}, {"$set": {
        "status": campaigns.RUNNING, "runner": "alive", "lease_until": utcnow() + datetime.timedelta(minutes=1)}})
    assert await lease.claim(mailings, mailing["_id"], "me", waiting=(campaigns.PENDING, campaigns.RUNNING),
                             running=campaigns.RUNNING) is None
    # It died while handing a.example.org's invitation to the mailer, and no outbox entry shows.
    await db[campaigns.ITEMS].update_one({"mailing_id": mailing["_id"], "email": "a@example.org"}, {"$set": {
        "status": campaigns.SENDING, "runner": "alive", "handing_off_at": utcnow()}})
    await mailings.update_one({"_id": mailing["_id"]}, {"$set": {"lease_until": utcnow()}})
    assert await campaigns.run(services, mailing["_id"]) == 2
    # Not in the outbox: sent now, once.
    assert count_by_address(smtp_server) == {"a@example.org": 1, "b@example.org": 1}
    item = await db[campaigns.ITEMS].find_one({"email": "a@example.org"})
    assert item["status"] == campaigns.SENT
    # The dead runner's write landing late changes nothing: its key is taken, so no second mail.
    entry = await db.outbox.find_one({"to": "a@example.org"})
    late = await services.mailer.send(to="a@example.org", subject="late", text="late", key=entry["key"])
    assert late["_id"] == entry["_id"] and count_by_address(smtp_server) == {"a@example.org": 1, "b@example.org": 1}
