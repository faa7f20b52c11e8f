"""Sold out, live: the pages that sell an event's tickets hear within a second when a type sells out and when
it comes back, over a narrow socket that needs no account and carries nothing else."""
import datetime

import pytest
from tornado.httpclient import HTTPClientError

from orders import actions, checkout
from realtime import protocol
from tests.live_client import LiveClient
from tests.orders_support import buyers, drain, quota, ticket_type, ticketed_event


async def follow(base_url, browser, event) -> LiveClient:
    # `view=tickets` rides after the event id in the query string.
    return await LiveClient.connect(base_url, browser, f"{event['_id']}&view=tickets")


@pytest.mark.gen_test(timeout=60)
async def test_sold_out_is_pushed_to_open_ticket_pages(services, factory, browser, base_url, db):
    event, admin = await ticketed_event(services, factory)
    day = await ticket_type(services, event, admin, name="Day", max_per_order="2")
    other = await ticket_type(services, event, admin, name="Other")
    press = await ticket_type(services, event, admin, name="Press", visibility="hidden", code="PRESS")
    await quota(services, event, admin, 2, day)
    visitor = browser()   # no account: the public page's ticket block follows the sale too
    client = await follow(base_url, visitor, event)
    first = await client.expect("tickets", timeout=5)
    assert first["types"] == {str(day["_id"]): "on_sale", str(other["_id"]): "on_sale"}
    assert str(press["_id"]) not in first["types"]   # a hidden type is nobody's business
    # It follows the sale only.
    await client.send({"type": "join", "room": f"ev:{{{event['_id']}}}:pub:en", "ref": "j"})
    assert (await client.expect("error", ref="j"))["code"] == protocol.TICKETS_ONLY

    buyer, = await buyers(db, 1)
    r = await checkout.reserve(services, event, buyer, {str(day["_id"]): "2"}, currency="EUR")
    sold = await client.expect("tickets", timeout=1.5, types={str(day["_id"]): "sold_out",
                                                               str(other["_id"]): "on_sale"})
    assert sold["event"] == str(event["_id"])
    # The reservation runs out: back on sale, live.
    await actions.sweep(services, now=r["expires_at"] + datetime.timedelta(seconds=1))
    await client.expect("tickets", timeout=1.5, types={str(day["_id"]): "on_sale", str(other["_id"]): "on_sale"})
    client.close()
    await drain(services)


@pytest.mark.gen_test(timeout=30)
async def test_the_ticket_socket_follows_the_events_privacy(services, factory, browser, base_url, db):
    event, admin = await ticketed_event(services, factory, privacy="invitation")
    await ticket_type(services, event, admin)
    with pytest.raises(HTTPClientError) as no:
        await follow(base_url, browser(), event)
    assert no.value.code == 403
    # Its staff are admitted by the same rule as on the page.
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    client = await follow(base_url, b, event)
    await client.expect("tickets")
    client.close()
