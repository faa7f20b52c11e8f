"""The embedded store: mongomock behind the shape of pymongo's async API.

It exists so the platform runs, and its test suite passes, with no MongoDB
server.  Calls are synchronous underneath and happen on the event loop's
thread, so each one is atomic with respect to the others, like a single
document operation on a real server.  Only the methods the platform uses are
wrapped; anything else is an AttributeError rather than a silent difference.
Data lives in memory and is gone when the process stops.

mongomock finds documents by scanning every one of them, which makes a
lookup cost milliseconds once a collection holds ten thousand sessions or
users.  `EqualityIndex` gives the fields that `mongo_indexes` declares what a
MongoDB index gives equality lookups: the candidates for `{field: value}`
come from a dictionary, and mongomock's own filter still decides on each
candidate, so a stale entry can only cost a check, never a wrong answer.

With `SHARD_KEYS` set (the test suite sets it), a single-document write to
a sharded collection that a sharded cluster's router could not send to one
shard is refused as the router would refuse it (`storage.targeting`).
"""
from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import mongomock
import mongomock.store
from bson import ObjectId
from mongomock.filtering import filter_applies

from storage import targeting

_UTC = datetime.UTC


def _aware(doc):
    """Give naive datetimes back their UTC zone, as a tz_aware client does."""
    if isinstance(doc, dict):
        return {k: _aware(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_aware(v) for v in doc]
    if isinstance(doc, datetime.datetime) and doc.tzinfo is None:
        return doc.replace(tzinfo=_UTC)
    return doc


class EmbeddedCursor:
    def __init__(self, cursor):
        self._cursor = cursor

    def sort(self, *args, **kwargs):
        self._cursor.sort(*args, **kwargs)
        return self

    def skip(self, n):
        self._cursor.skip(n)
        return self

    def limit(self, n):
        self._cursor.limit(n)
        return self

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return _aware(next(self._cursor))
        except StopIteration:
            raise StopAsyncIteration from None

    async def to_list(self, length=None):
        out = []
        for doc in self._cursor:
            out.append(_aware(doc))
            if length is not None and len(out) >= length:
                break
        return out

    async def close(self):
        self._cursor.close()


# Shard keys whose single-document writes are checked as a mongos would (`storage.targeting`);
# None, the default, checks nothing.  The test suite sets it to `mongo_indexes.sharding.SHARD_KEYS`.
SHARD_KEYS: Mapping[str, Mapping[str, Any]] | None = None

_KEY_TYPES = (str, ObjectId, int)
TTL_SWEEP = 1.0  # seconds between sweeps of a collection's TTL-expired documents


def _indexable(value) -> bool:
    return isinstance(value, _KEY_TYPES) and not isinstance(value, bool)


def _one_of(value: object) -> list[Any] | None:
    """The values of an `{"$in": [...]}` condition on indexable values, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$in"), (list, tuple)):
        values = value["$in"]
        if all(_indexable(v) for v in values):
            return list(values)
    return None


def _values_at(doc, field: str) -> list[Any]:
    """The values a filter on `field` compares with: a top-level field's value (each element of a list),
    or for a dotted path (`tickets.holder.email`) every value reached through subdocuments and the
    elements of lists on the way, as MongoDB's multikey indexes enter them."""
    found: list[Any] = [doc]
    for part in field.split("."):
        reached: list[Any] = []
        for value in found:
            if isinstance(value, dict):
                value = value.get(part)
                if isinstance(value, list):
                    reached.extend(value)
                else:
                    reached.append(value)
            elif isinstance(value, list):
                reached.extend(v.get(part) for v in value if isinstance(v, dict))
        found = reached
    return found


class EqualityIndex:
    """Field -> value -> document ids in insertion order, for one collection.

    A field is a top-level one or a dotted path into subdocuments and the
    documents of arrays (`tickets.holder.email`: every ticket's holder's
    address), each value entered as MongoDB's multikey indexes enter it.

    Kept current on inserts and deletes (the store reports every document
    it stores or drops) and on updates whose documents the index itself
    found: those are re-entered after the update (`reindex`).  An update
    it cannot narrow that may change an indexed field makes the collection
    scan while it runs and rebuild the index afterwards.
    """

    def __init__(self, store, fields, compounds=()):
        self.store = store
        self.fields = frozenset(fields)
        # What an update path must start with to change an indexed value (`tickets` for `tickets.holder.email`).
        self.roots = frozenset(f.split(".")[0] for f in self.fields)
        # Compound indexes, used when a filter gives every one of their fields
        # (the unique checks on insert do): one lookup instead of every entry
        # sharing the first field's value (all messages of a room).
        self.compounds = tuple(compounds)
        self.by_field: dict[str, dict] = {}
        self.by_compound: dict[tuple, dict] = {}
        # document id -> the (table, key) entries naming it, so a document is taken out in O(entries)
        self.entries: dict[Any, list[tuple[dict, Any]]] = {}
        self.dirty = True
        self.scanning = 0

    def rebuild(self) -> None:
        self.by_field = {f: {} for f in self.fields}
        self.by_compound = {c: {} for c in self.compounds}
        self.entries = {}
        self.dirty = False
        for doc in list(self.store._documents.values()):
            self.added(doc)

    def added(self, doc) -> None:
        """Enter a document stored (again: its old entries go first)."""
        if self.dirty:
            return
        _id = doc["_id"]
        entries = []
        for field, table in self.by_field.items():
            if "." in field:
                values = _values_at(doc, field)
            else:
                value = doc.get(field)
                values = value if isinstance(value, list) else [value]
            for v in dict.fromkeys(v for v in values if _indexable(v)):
                entries.append((table, v))
        for fields, table in self.by_compound.items():
            key = tuple(doc.get(f) for f in fields)
            if all(_indexable(v) for v in key):
                entries.append((table, key))
        old = self.entries.get(_id)
        if old is not None and len(old) == len(entries) and all(
                a is c and b == d for (a, b), (c, d) in zip(old, entries, strict=True)):
            return  # its indexed values did not change: it keeps its place in each list
        self.forget(_id)
        for table, key in entries:
            # An ordered set (a dict's keys): removal is O(1), order is insertion order.
            table.setdefault(key, {})[_id] = None
        if entries:
            self.entries[_id] = entries

    def forget(self, _id) -> None:
        """Take a document's entries out (it was deleted, or is about to be entered anew)."""
        for table, key in self.entries.pop(_id, ()):
            ids = table.get(key)
            if ids is not None:
                ids.pop(_id, None)
                if not ids:
                    del table[key]

    def reindex(self, docs) -> None:
        """Enter again documents an update may have changed in place (those the index gave it)."""
        stored = self.store._documents
        for doc in docs:
            # The stored document, not the one found: a refused update puts a copy of the old one back.
            current = stored.get(doc.get("_id"))
            if current is not None:
                self.added(current)

    def candidates(self, filter):
        """Documents that may match, or None when this filter needs a scan."""
        if self.scanning or not isinstance(filter, dict):
            return None
        docs = self.store._documents
        wanted = filter.get("_id")
        if _indexable(wanted):
            doc = docs.get(wanted)
            return [doc] if doc is not None else []
        listed = _one_of(wanted)
        if listed is not None:
            return [docs[v] for v in dict.fromkeys(listed) if v in docs]
        # Every usable entry is weighed by its size first and only the smallest
        # is listed: a unique check names both a room (thousands of entries)
        # and a key (one), and listing the room's would cost as much as a scan.
        best = None   # (size, the id tables to read)
        for fields in self.compounds:
            key = tuple(filter.get(f) for f in fields)
            if all(_indexable(v) for v in key):
                if self.dirty:
                    self.rebuild()
                tables = (self.by_compound[fields].get(key, {}),)
                if best is None or len(tables[0]) < best[0]:
                    best = (len(tables[0]), tables)
        for field in self.fields:
            value = filter.get(field)
            values = (value,) if _indexable(value) else _one_of(value)
            if values is not None:
                if self.dirty:
                    self.rebuild()
                table = self.by_field[field]
                tables = tuple(table.get(v, {}) for v in values)
                size = sum(map(len, tables))
                if best is None or size < best[0]:
                    best = (size, tables)
        if best is None:
            return None
        ids = [i for ids_of in best[1] for i in list(ids_of)]
        seen, out = set(), []
        for _id in ids:
            doc = docs.get(_id)
            if doc is not None and _id not in seen:
                seen.add(_id)
                out.append(doc)
        return out

    def touches(self, update) -> bool:
        """Whether an update document may change an indexed field (or is a replacement)."""
        if not isinstance(update, dict):
            return True
        for op, spec in update.items():
            if not op.startswith("$") or not isinstance(spec, dict):
                return True
            for path in spec:
                root = path.split(".")[0]
                if root in self.roots or root == "_id" or any(root in c for c in self.compounds):
                    return True
        return False


class IndexedCollectionStore(mongomock.store.CollectionStore):
    """mongomock's store for one collection, telling its index about each document stored."""

    def _remove_expired_documents(self):
        # mongomock applies TTL indexes by scanning the whole collection on
        # every access, including each insert: with 10,000 sessions a sign-in
        # cost milliseconds of that scan.  MongoDB's own TTL monitor removes
        # expired documents once a minute, so code never relies on removal
        # being immediate (sessions and tokens check their expiry on read);
        # sweeping at most once per TTL_SWEEP keeps the behaviour and drops
        # the cost.
        now = time.monotonic()
        if now < getattr(self, "lh_next_sweep", 0.0):
            return
        self.lh_next_sweep = now + TTL_SWEEP
        super()._remove_expired_documents()

    def __setitem__(self, key, val):
        super().__setitem__(key, val)
        index = getattr(self, "lh_index", None)
        if index is not None:
            index.added(val)

    def __delitem__(self, key):
        super().__delitem__(key)
        index = getattr(self, "lh_index", None)
        if index is not None and not index.dirty:
            index.forget(key)


def _indexed_fields(name: str) -> tuple[set[str], list[tuple[str, ...]]]:
    """The first field of each declared index (a dotted path too), and the compound indexes' full keys."""
    from mongo_indexes import INDEXES
    fields, compounds = set(), []
    for keys, _options in INDEXES.get(name, ()):
        names = tuple(k for k, _ in keys)
        fields.add(names[0])
        if len(names) > 1 and not any("." in n for n in names):
            compounds.append(names)
    return fields, compounds


class EmbeddedCollection:
    def __init__(self, coll):
        self._c = coll
        self.name = coll.name
        store = coll._store
        if not isinstance(store, IndexedCollectionStore):
            store.__class__ = IndexedCollectionStore
        index = getattr(store, "lh_index", None)
        if index is None:
            index = store.lh_index = EqualityIndex(store, *_indexed_fields(coll.name))
        self._index = index
        scan = coll._iter_documents

        def iter_documents(filter):
            found = index.candidates(filter)
            if found is None:
                return scan(filter)
            return (doc for doc in found if filter_applies(filter, doc))
        coll._iter_documents = iter_documents
        ensure_uniques = coll._ensure_uniques

        def ensure_uniques_indexed(new_data):
            # Mongomock checks unique keys after changing a document in place: the index must
            # know the new values first, or the check would not see the clash.
            index.reindex([new_data])
            return ensure_uniques(new_data)
        coll._ensure_uniques = ensure_uniques_indexed

    def _writing(self, filter, update, call, *args, **kwargs):
        """Run an update keeping the index current.

        Mongomock changes documents in place.  When the index can name every
        document the filter may match, those are entered again afterwards
        (an upserted one is entered as it is stored); otherwise an update that
        may change an indexed field scans, and the index is rebuilt when next
        asked.
        """
        index = self._index
        if not index.touches(update):
            return call(*args, **kwargs)
        # By `_id` the index answers even before it is built (and then has nothing to re-enter:
        # it is built from the documents as they are when first asked).
        found = index.candidates(filter) if filter is not None else None
        if found is not None:
            try:
                return call(*args, **kwargs)
            finally:
                index.reindex(found)
        index.scanning += 1
        try:
            return call(*args, **kwargs)
        finally:
            index.scanning -= 1
            index.dirty = True

    def _targeted(self, op: str, filter, kwargs) -> None:
        if SHARD_KEYS is not None:
            targeting.check(SHARD_KEYS, self.name, op, filter, bool(kwargs.get("upsert")))

    def find(self, *args, **kwargs) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.find(*args, **kwargs))

    async def aggregate(self, pipeline, **kwargs) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.aggregate(pipeline, **kwargs))

    async def find_one(self, *args, **kwargs):
        return _aware(self._c.find_one(*args, **kwargs))

    async def find_one_and_update(self, filter, update, *args, **kwargs):
        self._targeted("find_one_and_update", filter, kwargs)
        return _aware(self._writing(filter, update, self._c.find_one_and_update, filter, update, *args, **kwargs))

    async def update_one(self, filter, update, *args, **kwargs):
        self._targeted("update_one", filter, kwargs)
        return self._writing(filter, update, self._c.update_one, filter, update, *args, **kwargs)

    async def update_many(self, filter, update, *args, **kwargs):
        return self._writing(filter, update, self._c.update_many, filter, update, *args, **kwargs)

    async def replace_one(self, filter, replacement, *args, **kwargs):
        self._targeted("replace_one", filter, kwargs)
        return self._writing(filter, None, self._c.replace_one, filter, replacement, *args, **kwargs)

    async def bulk_write(self, requests, *args, **kwargs):
        return self._writing(None, None, self._c.bulk_write, requests, *args, **kwargs)

    async def find_one_and_delete(self, filter, *args, **kwargs):
        self._targeted("find_one_and_delete", filter, kwargs)
        return _aware(self._c.find_one_and_delete(filter, *args, **kwargs))

    async def delete_one(self, filter, *args, **kwargs):
        self._targeted("delete_one", filter, kwargs)
        return self._c.delete_one(filter, *args, **kwargs)

    async def distinct(self, key, filter=None):
        return self._c.distinct(key, filter)


def _passthrough(name):
    async def method(self, *args, **kwargs):
        return getattr(self._c, name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ("insert_one", "insert_many", "delete_many", "count_documents",
              "estimated_document_count", "create_index", "drop_index",
              "index_information", "drop"):
    setattr(EmbeddedCollection, _name, _passthrough(_name))


class EmbeddedDatabase:
    def __init__(self, db):
        self._db = db
        self.name = db.name
        self._collections: dict[str, EmbeddedCollection] = {}

    def __getitem__(self, name) -> EmbeddedCollection:
        if name not in self._collections:
            self._collections[name] = EmbeddedCollection(self._db[name])
        return self._collections[name]

    def __getattr__(self, name) -> EmbeddedCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    async def command(self, name, *args, **kwargs):
        return self._db.command(name, *args, **kwargs)

    async def list_collection_names(self):
        return self._db.list_collection_names()

    async def drop_collection(self, name):
        self._db.drop_collection(name)
        self._collections.pop(name, None)


class EmbeddedClient:
    def __init__(self):
        self._client: mongomock.MongoClient[dict[str, Any]] = mongomock.MongoClient(tz_aware=True)
        self._dbs: dict[str, EmbeddedDatabase] = {}

    def __getitem__(self, name) -> EmbeddedDatabase:
        if name not in self._dbs:
            self._dbs[name] = EmbeddedDatabase(self._client[name])
        return self._dbs[name]

    async def drop_database(self, name):
        self._client.drop_database(name)
        self._dbs.pop(name, None)

    async def close(self):
        self._client.close()
