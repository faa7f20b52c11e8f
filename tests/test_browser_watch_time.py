"""In Chromium: the event page's HLS player sends heartbeats over the live connection while the
video plays, and only then; the server credits them as minutes watched.  The heartbeat period is
the setting WATCH_HEARTBEAT_SECONDS, one second here."""
import asyncio
import dataclasses
import time

import pytest

from access import roles as R
from registration import watch_time
from tests.browser import chromium
from tests.test_browser_hls import VIDEO, app, broadcaster, hls_event, open_event, play, playing_past, vendored  # noqa: F401


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, watch_heartbeat_seconds=1)


async def stored(db, event, user) -> float:
    return watch_time.seconds_of(await db.watch_time.find_one({"event_id": event["_id"], "user_id": user["_id"]}))


@pytest.mark.gen_test(timeout=120)
async def test_playing_the_broadcast_sends_heartbeats_that_credit_minutes_watched(
        factory, base_url, services, http_server, broadcaster, vendored):
    event, path = await hls_event(factory, services, base_url)
    user = await factory.member(R.ATTENDEE, event=event, locale="en")
    feature = services.live.watching
    async with chromium() as chrome:
        page, _ = await open_event(chrome, base_url, factory, path, user, native=False)
        assert await page.evaluate("() => document.querySelector('#player-dock .player').dataset.heartbeat") == "1"
        # Loaded, not playing: no heartbeat.
        await page.wait_for_timeout(2500)
        assert feature.ledger.pending() == 0
        assert await stored(services.db, event, user) == 0
        started = time.time()
        await play(page)
        await playing_past(page, 1)
        # Heartbeats while it plays (the process writes them every few seconds; here at once).
        for _ in range(100):
            await feature.flush()
            if await stored(services.db, event, user) >= 3:
                break
            await asyncio.sleep(0.1)
        await page.evaluate(f"() => document.querySelector('{VIDEO}').pause()")
        await page.wait_for_timeout(1500)   # the seconds played since the last heartbeat go with the next
        await feature.flush()
        played = await stored(services.db, event, user)
        assert 3 <= played <= time.time() - started

        # Paused: no more heartbeats, nothing more credited.
        await page.wait_for_timeout(2500)
        await feature.flush()
        assert await stored(services.db, event, user) == played
