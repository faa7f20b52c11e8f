"""Two server instances and a real Redis: the gate opening, a name change and a support
conversation reach connections on the other instance."""
import pytest

from access import roles as R
from chat import room_names
from events import control
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_gate import closed_event
from tests.test_moderation import joined
from tests.test_realtime import person, seeded


async def on(instance_url, b, event):
    client = await LiveClient.connect(instance_url, b, event["_id"], origin=instance_url)
    welcome = await client.expect("welcome")
    await client.expect("state")
    return client, welcome


@pytest.mark.gen_test(timeout=40)
async def test_gate_name_and_support_cross_instances(factory, browser, base_url, other, services):
    event = await closed_event(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, wb = await person(factory, browser, event, locale="ru")
    waiting, welcome = await on(other.url, wb, event)
    assert welcome["waiting"] is True
    await control.apply(services.db, services.notifier, event["_id"], admin, "gate_open")
    opened = await waiting.expect("state", timeout=3)
    assert opened["state"]["gate"]["open"] is True and "slides" not in opened["state"]

    open_event = await seeded(factory)
    user, ub = await person(factory, browser, open_event, locale="ru")
    _, cb = await person(factory, browser, open_event, role=R.COMMENTATOR, locales=["ru"])
    mine, _ = await on(other.url, ub, open_event)
    commentator, _ = await on(base_url, cb, open_event)
    r = await ub.post("/profile", {"form": "details", "name": "Renamed", "locale": "ru"})
    assert r.status_code == 302
    assert (await mine.expect("profile", timeout=3))["user"]["name"] == "Renamed"

    support = room_names.support_room(open_event["_id"], "ru", user["_id"])
    await joined(mine, support)
    await mine.send({"type": "send", "room": support, "text": "help", "client_id": "h1", "ref": "h1"})
    await mine.expect("ack", ref="h1")
    frame = await commentator.expect("support", timeout=3)
    assert frame["room"] == support and frame["user"] == {"id": str(user["_id"]), "name": "Renamed"}
