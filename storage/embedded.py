"""The embedded store: mongomock behind the shape of pymongo's async API.

It exists so the platform runs, and its test suite passes, with no MongoDB
server.  Calls are synchronous underneath and happen on the event loop's
thread, so each one is atomic with respect to the others, like a single
document operation on a real server.  Only the methods the platform uses are
wrapped; anything else is an AttributeError rather than a silent difference.
Data lives in memory and is gone when the process stops.
"""
from __future__ import annotations

import datetime

import mongomock
from bson.codec_options import CodecOptions

_UTC = datetime.timezone.utc


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


class EmbeddedCollection:
    def __init__(self, coll):
        self._c = coll
        self.name = coll.name

    def find(self, *args, **kwargs) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.find(*args, **kwargs))

    async def aggregate(self, pipeline, **kwargs) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.aggregate(pipeline, **kwargs))

    async def find_one(self, *args, **kwargs):
        return _aware(self._c.find_one(*args, **kwargs))

    async def find_one_and_update(self, *args, **kwargs):
        return _aware(self._c.find_one_and_update(*args, **kwargs))

    async def find_one_and_delete(self, *args, **kwargs):
        return _aware(self._c.find_one_and_delete(*args, **kwargs))

    async def distinct(self, key, filter=None):
        return self._c.distinct(key, filter)


def _passthrough(name):
    async def method(self, *args, **kwargs):
        return getattr(self._c, name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ("insert_one", "insert_many", "update_one", "update_many",
              "replace_one", "delete_one", "delete_many", "count_documents",
              "estimated_document_count", "create_index", "drop_index",
              "index_information", "bulk_write", "drop"):
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
        self._client = mongomock.MongoClient(tz_aware=True)
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
