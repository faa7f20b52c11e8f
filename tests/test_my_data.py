"""'My data': the signed-in person's own data as one JSON download, and nobody else's.

The coverage test reads the collection names from the code itself (every
`db.<name>` and `db["<name>"]`, and every collection with indexes), so a new
collection that is neither exported nor named as holding nothing personal
fails here.
"""
import json
import pathlib
import re

import pytest

from accounts import erase, my_data
from mongo_indexes import INDEXES
from tests.test_account_erase import EMAIL, NAME, populate

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIPPED = {"tests", "storage", "bench", "tools", "static", "templates", "translations", "docs", "nginx"}
USED = re.compile(r"\bdb(?:\.|\[\")([a-z_]+)\b")
NOT_COLLECTIONS = {"find", "get", "command", "list_collection_names", "drop_collection", "client", "name",
                   "users_by"}


def collections_in_code() -> set[str]:
    found = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in SKIPPED:
            continue
        found |= set(USED.findall(path.read_text(encoding="utf-8")))
    return found - NOT_COLLECTIONS


def test_every_collection_is_exported_or_named_as_holding_nothing_personal():
    used = collections_in_code() | set(INDEXES)
    assert {"users", "messages", "memberships"} <= used   # the reading works
    covered = set(my_data.SECTIONS) | set(my_data.EXCLUDED)
    assert used <= covered, f"add to accounts.my_data.SECTIONS or EXCLUDED: {sorted(used - covered)}"
    assert used <= set(erase.STEPS) | set(erase.UNTOUCHED), sorted(used - set(erase.STEPS) - set(erase.UNTOUCHED))
    assert not set(my_data.SECTIONS) & set(my_data.EXCLUDED)


@pytest.mark.gen_test(timeout=90)
async def test_the_download_holds_the_persons_data_and_nobody_elses(factory, browser, base_url, db, services):
    event, space, person, b, other, public, mine = await populate(factory, browser, base_url, db, services)
    # Someone else, with data of their own in the same event.
    stranger = await factory.member("attendee", event=event, email="ulrike.stranger@example.org",
                                    name="Ulrike Stranger")
    sb = browser()
    await sb.sign_in(stranger["login"], factory.PASSWORD)
    assert (await sb.post("/password/forgot", {"email": stranger["email"]})).status_code in (200, 302)

    r = await b.get("/profile/data.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert "attachment" in r.headers["Content-Disposition"] and r.headers["Cache-Control"] == "no-store"
    data = json.loads(r.text)
    text = r.text

    assert data["account"]["email"] == EMAIL and data["account"]["name"] == NAME
    assert data["account"]["password_set"] is True and "password_hash" not in data["account"]
    assert "token_hash" not in text and "$argon2" not in text and "new_hash" not in text
    assert data["profile"] == {"company": "Quenby Works", "phone": "+371 2000 0000"}
    assert data["profile_visibility"] == {"name": "attendees", "company": "nobody", "phone": "nobody"}
    registration = [m for m in data["registrations_and_roles"] if m["role"] == "attendee"]
    assert registration[0]["scope_id"] == str(event["_id"]) and registration[0]["scope_title"]
    assert {m["text"] for m in data["chat_messages"]} == {f"Привет, я {NAME}", "Нужна помощь"}
    assert [q["text"] for q in data["questions"]["asked"]] == [mine["text"]]
    assert len(data["questions"]["voted_for"]) == 1 and "voters" not in text
    assert data["quiz_answers"][0]["answers"] and data["programmes"][0]["item_ids"] == ["s1"]
    assert len(data["devices"]) == 2 and all(d["user_agent"] is not None for d in data["devices"])
    assert {t["purpose"] for t in data["links"]} == {"reset", "signin"}
    assert data["chat_sanctions"][0]["kind"] == "mute" and "by" not in data["chat_sanctions"][0]
    assert data["sign_in_attempts"] and data["support_rooms"]
    # The reset mail, the sign-in mailing, the second event's registration, the data request, the receipt
    # of the order she placed, the ticket someone bought for her, the decision on her application and the
    # receipts of her two gifts.
    assert len(data["mails"]) == 9 and {"data_request", "order_receipt", "order_ticket", "application_rejected",
                                        "donation_receipt"} <= {m["kind"] for m in data["mails"]}
    # Her gifts and her wallet: two gifts, a top-up and two debits, what is left.
    assert sorted(d["amount"] for d in data["donations"]) == [400, 600] and "key" not in data["donations"][0]
    assert sorted(e["amount"] for e in data["wallet_entries"]) == [-600, -400, 1000]
    assert [(b["currency"], b["balance"]) for b in data["wallet_balances"]] == [("EUR", 0)]
    # Her order, whole; of the order a colleague placed for her, only her ticket.
    assert [o["buyer"]["email"] for o in data["orders_and_tickets"]["bought"]] == [EMAIL]
    assert data["orders_and_tickets"]["bought"][0]["tickets"][0]["holder"]["email"] == "friend@example.org"
    held = data["orders_and_tickets"]["tickets_held"]
    assert len(held) == 1 and held[0]["holder"]["email"] == EMAIL and held[0]["valid"]
    assert len(data["ticket_reservations"]) == 2   # the one ordered, and one still held
    assert all(m["to"] == EMAIL for m in data["mails"]) and "full" not in text
    assert data["mailing_deliveries"][0]["email"] == EMAIL
    assert {"attendee.register", "chat_mute"} <= {e["action"] for e in data["audit_entries"]}
    assert sorted(f["name"] for f in data["files"]) == [NAME + " 2.pdf", NAME + " 3.pdf", NAME + ".pdf"]
    # Her application, made before she signed in: found by her address, without who decided it.
    [application] = data["ticket_applications"]
    assert application["email"] == EMAIL and application["state"] == "rejected" and application["reason"]
    assert "decided_by" not in application and "idempotency_key" not in application
    assert all("owner_id" not in f for f in data["files"])
    # The answers to a data request are the registration's, with their field versions.
    answered = [m for m in registration if m.get("request_answers")]
    assert [answers["f_doc"]["v"] for m in answered for answers in m["request_answers"].values()] == [1]
    assert len(data["invitations"]) == 1 and data["invitations"][0]["used_at"] and "token_hash" not in text
    assert [w["event_id"] for w in data["watch_time"]] == [str(event["_id"])] and data["watch_time"][0]["minutes"]

    # Nobody else's data: not the stranger, not the staff around her.
    staff = [m async for m in db.memberships.find({"scope_id": event["_id"], "role": {"$ne": "attendee"}})]
    for other_person in [stranger, *staff]:
        assert other_person["email"] not in text and str(other_person["user_id" if "user_id" in other_person
                                                                         else "_id"]) not in text
    assert "Ulrike" not in text and "Will there be slides?" not in text

    # Own data only: signed out, there is nothing to download.
    r = await browser().get("/profile/data.json")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin")
