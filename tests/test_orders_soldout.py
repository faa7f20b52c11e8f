"""Sold out, told at once: buyers refused at the same moment share one read of the event's types and
quotas and write nothing, which a wrapped store client counts (the count fails if it grows back); the
refusal still names the type in the buyer's language and leads back to the tickets page; a shared read
never answers older news than the buyer's own would, so a ticket given back is sold to the next buyer; a
rush in one process writes only the reservations that can hold, and a buyer who waited for an attempt
that failed still gets the ticket."""
import asyncio

import pytest

from orders import actions, availability, checkout, quotas, states
from storage import Storage
from tests.orders_support import buyers, drain, quota, ticket_type, ticketed_event
from tests.support import error_text, translated

LOCALE = "ru"
# What a refusal costs the store besides the shared read: the session and its account, the space and
# the event, the buyer's roles and registration, and the buyer's own reservations (none to give back).
PER_REFUSAL = 7
READ = ("ticket_types.find", "quotas.find")   # the read of the event's types and quotas
LATENCY = 0.005                               # seconds each call waits, as a store across the loopback does


class Counting:
    """A store client that counts every operation sent through it, each answered after `LATENCY`."""

    def __init__(self, db):
        self._db = db
        self.calls: list[str] = []

    def __getitem__(self, name):
        return _Collection(self, self._db[name], name)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _Collection(self, getattr(self._db, name), name)


class _Collection:
    def __init__(self, counter: Counting, coll, name: str):
        self._counter, self._coll, self._name = counter, coll, name

    def __getattr__(self, op):
        target = getattr(self._coll, op)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            self._counter.calls.append(f"{self._name}.{op}")
            result = target(*args, **kwargs)
            if not asyncio.iscoroutine(result):
                return _Later(result)   # a cursor: counted when made

            async def later():
                await asyncio.sleep(LATENCY)
                return await result

            return later()

        return call


class Gated:
    """A store whose reads of many documents answer only once `gate` opens (read as they were when sent)."""

    def __init__(self, db):
        self._db = db
        self.gate = asyncio.Event()

    def __getitem__(self, name):
        return _GatedCollection(self, self._db[name])


class _GatedCollection:
    def __init__(self, store: Gated, coll):
        self._store, self._coll = store, coll

    def find(self, *args, **kwargs):
        return _GatedCursor(self._store, self._coll.find(*args, **kwargs))


class _GatedCursor:
    def __init__(self, store: Gated, cursor):
        self._store, self._cursor = store, cursor

    def sort(self, *args):
        self._cursor = self._cursor.sort(*args)
        return self

    async def to_list(self, length=None):
        found = await self._cursor.to_list(length)
        await self._store.gate.wait()
        return found


class _Later:
    """A cursor whose answer comes after `LATENCY`."""

    def __init__(self, cursor):
        self._cursor = cursor

    def sort(self, *args):
        self._cursor = self._cursor.sort(*args)
        return self

    def limit(self, n):
        self._cursor = self._cursor.limit(n)
        return self

    async def to_list(self, length=None):
        await asyncio.sleep(LATENCY)
        return await self._cursor.to_list(length)

    def __aiter__(self):
        return self._each()

    async def _each(self):
        for doc in await self.to_list(None):
            yield doc


def writes(calls: list[str]) -> list[str]:
    return [c for c in calls if c.split(".")[-1] not in ("find", "find_one", "count_documents", "aggregate")]


async def sold_out_shop(services, factory, size=2):
    """An event whose one quota of `size` is all held; (event, its type, its path, the orders that hold it)."""
    event, admin = await ticketed_event(services, factory, locales=("ru", "en"))
    standard = await ticket_type(services, event, admin, name="Standard")
    await quota(services, event, admin, size, standard)
    event = await services.db.events.find_one({"_id": event["_id"]})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    orders = []
    for i, buyer in enumerate(await buyers(services.db, size)):
        r = await checkout.reserve(services, event, buyer, {str(standard["_id"]): "1"}, currency="EUR")
        orders.append((buyer, await checkout.place(services, event, buyer, r["_id"], buyer_name="", method="invoice",
                                                   holders=[], idempotency_key=f"k{i}", locale="en")))
    return event, standard, f"/e/{space['slug']}/{event['slug']}", orders


async def people(factory, browser, n):
    out = []
    for _ in range(n):
        person = await factory.user(locale=LOCALE)
        b = browser(locale=LOCALE)
        await b.sign_in(person["login"], factory.PASSWORD)
        out.append(b)
    return out


@pytest.mark.gen_test(timeout=90)
async def test_refusals_at_once_share_one_read_and_write_nothing(services, factory, browser, db):
    event, standard, path, _ = await sold_out_shop(services, factory)
    crowd = await people(factory, browser, 10)
    form = {f"qty.{standard['_id']}": "1", "currency": "EUR"}
    counting = Counting(services.storage.db)
    real = services.storage
    services.storage = Storage(real.client, counting, real.kind, real.catalogue_db)
    try:
        answers = await asyncio.gather(*(b.post(path + "/tickets", form) for b in crowd))
    finally:
        services.storage = real
    calls = counting.calls
    assert not writes(calls), writes(calls)
    reads = [c for c in calls if c in READ]
    # Ten buyers at once: the read under way, and the next one for everyone who asked meanwhile.
    assert len(reads) <= 2 * len(READ), calls
    assert (len(calls) - len(reads)) / len(answers) <= PER_REFUSAL, calls
    refusal = checkout.SoldOut("Standard")
    for r in answers:
        # Told clearly, in the buyer's language, with the way back to the tickets page.
        assert r.status_code == 409
        assert error_text(r.text) == translated(services, LOCALE, refusal.message, **refusal.params)
        assert f'href="{path}/tickets"' in r.text and 'name="qty.' not in r.text
    assert await db.reservations.count_documents({"event_id": event["_id"]}) == 2
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_a_read_under_way_is_not_joined_by_who_asks_after_it_began(services, factory, db):
    """A ticket given back while a shared read is under way goes to the next buyer: that buyer waits for
    a read begun after it asked, not the one begun before the ticket came back."""
    event, standard, path, orders = await sold_out_shop(services, factory, size=1)
    view = services.availability
    slow = Gated(db)
    before = asyncio.ensure_future(view.read(slow, event["_id"]))
    for _ in range(5):
        await asyncio.sleep(0)   # under way: read while the quota is full, its answer held back
    payer, order = orders[0]
    await actions.cancel(services, event, order, by=states.PAYER, actor=payer)
    late = asyncio.ensure_future(view.read(slow, event["_id"]))
    slow.gate.set()
    assert (await before).left([standard["_id"]]) == {standard["_id"]: 0}
    assert (await late).left([standard["_id"]]) == {standard["_id"]: 1}
    # Over the checkout too: the next buyer gets the ticket given back.
    buyer, = await buyers(db, 1)
    held = await checkout.reserve(services, event, buyer, {str(standard["_id"]): "1"}, currency="EUR")
    assert held["state"] == checkout.HELD
    # Asked at once, one read serves everyone who asked while another was under way.
    slow.gate.clear()
    reads = view.reads
    first = asyncio.ensure_future(view.read(slow, event["_id"]))
    await asyncio.sleep(0)
    rest = asyncio.gather(*(view.read(slow, event["_id"]) for _ in range(20)))
    await asyncio.sleep(0)
    slow.gate.set()
    found = await rest
    await first
    assert view.reads - reads == 2 and all(f is found[0] for f in found)
    await drain(services)


def test_a_snapshot_answers_as_the_quotas_do():
    a, b, free = "a", "b", "free"
    seen = availability.Snapshot(
        types=[{"_id": a}, {"_id": b}, {"_id": free}],
        quotas=[{"_id": "q1", "ticket_type_ids": [a, b], "left": 3}, {"_id": "q2", "ticket_type_ids": [b], "left": 1}])
    assert seen.left([a, b, free]) == {a: 3, b: 1, free: None}
    assert [q["_id"] for q in seen.by_type([b])[b]] == ["q1", "q2"]


@pytest.mark.gen_test(timeout=90)
async def test_a_rush_in_one_process_writes_only_the_reservations_that_can_hold(services, factory, db):
    """Thirty buyers at once for three tickets, over a store that takes its time: the process tries the
    take for as many as the quota has room for, the others wait for those to end and are then refused
    by a read, so three reservations are written, all held, and nothing is written for the rest."""
    event, admin = await ticketed_event(services, factory)
    standard = await ticket_type(services, event, admin)
    await quota(services, event, admin, 3, standard)
    rush = await buyers(db, 30)
    counting = Counting(db)
    real = services.storage
    services.storage = Storage(real.client, counting, real.kind, real.catalogue_db)

    async def one(buyer):
        try:
            return (await checkout.reserve(services, event, buyer, {str(standard["_id"]): "1"}, currency="EUR"))["state"]
        except checkout.SoldOut:
            return "sold out"

    try:
        outcome = await asyncio.gather(*(one(b) for b in rush))
    finally:
        services.storage = real
    assert outcome.count(checkout.HELD) == 3 and outcome.count("sold out") == 27
    assert await db.reservations.count_documents({"event_id": event["_id"]}) == 3
    assert counting.calls.count("reservations.insert_one") == 3
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_a_buyer_waiting_for_an_attempt_that_fails_gets_the_ticket(services, factory, db):
    """The last ticket, five buyers at once: the first buyer's attempt dies before it takes anything, so
    the room is still there, and one of the buyers who waited for that attempt gets it."""
    event, admin = await ticketed_event(services, factory)
    standard = await ticket_type(services, event, admin)
    await quota(services, event, admin, 1, standard)
    rush = await buyers(db, 5)
    real_take_all = quotas.take_all
    calls = []

    async def first_dies(*args, **kwargs):
        calls.append(1)
        await asyncio.sleep(0.05)
        if len(calls) == 1:
            raise RuntimeError("the process stalled here")
        return await real_take_all(*args, **kwargs)

    async def one(buyer):
        try:
            return (await checkout.reserve(services, event, buyer, {str(standard["_id"]): "1"}, currency="EUR"))["state"]
        except checkout.SoldOut:
            return "sold out"
        except RuntimeError:
            return "died"

    quotas.take_all = first_dies
    try:
        outcome = await asyncio.gather(*(one(b) for b in rush))
    finally:
        quotas.take_all = real_take_all
    assert sorted(outcome) == sorted(["died", checkout.HELD, "sold out", "sold out", "sold out"])
    # Only the attempts that could hold were made: the one that died and the one that held.
    assert len(calls) == 2
    await drain(services)
