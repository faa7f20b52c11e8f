"""The embedded store shared by several local processes, for running without MongoDB.

One process (`python server.py store-server`, or the supervisor itself when
PROCESSES > 1 and MONGODB_URI is unset) holds the embedded store and answers
requests on a loopback TCP port; the server processes use `SharedClient`,
which has the same async API as the embedded client.  Every request is one
length-prefixed BSON document and is executed whole on the store's thread,
so each operation stays atomic, as on a real server.

This is a stand-in for trying the platform out and for testing several
processes behind nginx on a machine with no MongoDB.  It keeps nothing
across restarts, has no authentication and listens on loopback only:
production uses MongoDB.
"""
from __future__ import annotations

import asyncio
import collections
import datetime
import itertools
import logging
import struct
from collections.abc import Iterator
from typing import Any

import bson
from bson.codec_options import CodecOptions
from pymongo import errors

from storage.embedded import EmbeddedClient

log = logging.getLogger(__name__)
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=datetime.UTC)
HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 * 1024 * 1024

COLLECTION_OPS = frozenset({
    "find", "aggregate", "find_one", "find_one_and_update", "find_one_and_delete", "distinct",
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "count_documents", "estimated_document_count", "create_index", "drop_index",
    "index_information", "drop",
})
DATABASE_OPS = frozenset({"command", "list_collection_names", "drop_collection"})
CLIENT_OPS = frozenset({"drop_database"})


def _pairs(value):
    """Sort and index keys arrive as lists of lists; pymongo's API wants pairs."""
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 for v in value):
        return [tuple(v) for v in value]
    return value


def _result(value):
    """Turn pymongo result objects into plain documents that BSON can carry."""
    names = ("inserted_id", "inserted_ids", "matched_count", "modified_count", "deleted_count",
             "upserted_id", "acknowledged")
    if any(hasattr(value, n) for n in names[:5]):
        out = {}
        for n in names:
            try:
                out[n] = getattr(value, n)
            except (AttributeError, errors.InvalidOperation):
                pass
        return {"__result__": out}
    return value


async def _read(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    try:
        head = await reader.readexactly(HEADER.size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ValueError("message too large")
    return bson.decode(await reader.readexactly(size), CODEC)


def _frame(doc: dict) -> bytes:
    body = bson.encode(doc)
    return HEADER.pack(len(body)) + body


class _Batched:
    """A stream writer whose writes within one turn of the event loop leave as one send.

    A busy process asks the store for dozens of things in one turn, and the
    store answers a pipelined batch in one turn: one system call each way
    instead of one per message (a loopback send costs far more than joining
    the bytes).
    """

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self.parts:
            asyncio.get_running_loop().call_soon(self.flush)
        self.parts.append(data)

    def flush(self) -> None:
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            self.writer.write(data)


class StoreServer:
    def __init__(self):
        self.client = EmbeddedClient()
        self.server: asyncio.base_events.Server | None = None
        # Operations served, by kind: what MongoDB's serverStatus().opcounters tells of a
        # server, for the benchmarks' database load per flip and per chat message.
        self.opcounters: collections.Counter[str] = collections.Counter()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        out = _Batched(writer)
        try:
            while True:
                request = await _read(reader)
                if request is None:
                    break
                out.write(_frame(await self._execute(request)))
                await writer.drain()
        except Exception:
            log.exception("store connection failed")
        finally:
            out.flush()
            writer.close()

    async def _execute(self, request: dict) -> dict:
        rid, op = request.get("id"), request.get("op")
        if op == "opcounters":
            return {"id": rid, "ok": True, "value": dict(self.opcounters)}
        self.opcounters[str(op)] += 1
        args = [_pairs(a) for a in request.get("args", [])]
        kwargs = {k: _pairs(v) for k, v in request.get("kwargs", {}).items()}
        target: Any  # the client, a database or a collection: the operation is looked up by name
        try:
            if op in CLIENT_OPS:
                target = self.client
            elif op in DATABASE_OPS:
                target = self.client[request["db"]]
            elif op in COLLECTION_OPS:
                target = self.client[request["db"]][request["coll"]]
            else:
                raise errors.OperationFailure(f"unsupported operation {op!r}")
            if op in ("find", "aggregate"):
                cursor = target.find(*args, **kwargs) if op == "find" else await target.aggregate(*args, **kwargs)
                for name, value in request.get("cursor", []):
                    getattr(cursor, name)(*(_pairs(v) for v in value))
                value = await cursor.to_list(None)
            else:
                value = await getattr(target, op)(*args, **kwargs)
            return {"id": rid, "ok": True, "value": _result(value)}
        except errors.BulkWriteError as exc:
            # Which documents of an unordered insert were refused is the caller's answer.
            return {"id": rid, "ok": False, "error": "BulkWriteError", "message": str(exc),
                    "code": exc.code, "details": exc.details}
        except errors.PyMongoError as exc:
            return {"id": rid, "ok": False, "error": type(exc).__name__, "message": str(exc),
                    "code": getattr(exc, "code", None)}
        except Exception as exc:  # a bad query must not bring the store down
            return {"id": rid, "ok": False, "error": "OperationFailure", "message": repr(exc), "code": None}


class _Result:
    def __init__(self, fields: dict):
        self.__dict__.update(fields)


def _unwrap(value):
    if isinstance(value, dict) and "__result__" in value:
        return _Result(value["__result__"])
    return value


class SharedClient:
    """The async client API of the embedded store, over a socket to a StoreServer."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._out: _Batched | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._reading: asyncio.Future[None] | None = None

    def __getitem__(self, name) -> SharedDatabase:
        return SharedDatabase(self, name)

    async def _connect(self) -> _Batched:
        if self._out is not None:
            # Connected: every call passes here, so it does not queue on the lock.
            return self._out
        async with self._lock:
            if self._out is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                self._out = _Batched(self._writer)
                self._reading = asyncio.ensure_future(self._read_replies(self._reader, self._writer))
            return self._out

    async def _read_replies(self, reader, writer) -> None:
        """Match replies to waiting calls by id; many calls share the connection at once."""
        failure: Exception = ConnectionError("store closed the connection")
        try:
            while True:
                reply = await _read(reader)
                if reply is None:
                    break
                future = self._pending.pop(reply.get("id", 0), None)  # ids start at 1
                if future is not None and not future.done():
                    future.set_result(reply)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            failure = ConnectionError(str(exc))
        finally:
            if self._writer is writer:
                self._writer, self._out = None, None
            writer.close()
            pending, self._pending = self._pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(failure)

    async def call(self, op: str, db=None, coll=None, args=(), kwargs=None, cursor=None):
        request = {"id": next(self._ids), "op": op, "db": db, "coll": coll,
                   "args": list(args), "kwargs": kwargs or {}}
        if cursor:
            request["cursor"] = cursor
        # Requests are pipelined: the store answers each connection's requests
        # in order, and replies carry the request's id.  Waiting for each reply
        # before the next request would cap a process at one round trip per call.
        for attempt in (1, 2):
            try:
                writer = await self._connect()
                future = asyncio.get_running_loop().create_future()
                self._pending[request["id"]] = future
                writer.write(_frame(request))
                reply = await future
                break
            except (ConnectionError, OSError) as exc:
                self._pending.pop(request["id"], None)
                if attempt == 2:
                    raise errors.AutoReconnect(f"embedded store unreachable: {exc}") from None
        if reply["ok"]:
            return _unwrap(reply["value"])
        cls = getattr(errors, reply["error"], errors.OperationFailure)
        if cls is errors.BulkWriteError:
            raise errors.BulkWriteError(reply.get("details") or {})
        if issubclass(cls, errors.OperationFailure):
            raise cls(reply["message"], reply.get("code"))
        raise cls(reply["message"])

    async def drop_database(self, name):
        await self.call("drop_database", args=[name])

    async def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer, self._out = None, None
        if self._reading is not None:
            reading, self._reading = self._reading, None
            reading.cancel()
            try:
                await reading
            except (asyncio.CancelledError, Exception):
                pass


class SharedDatabase:
    def __init__(self, client: SharedClient, name: str):
        self.client = client
        self.name = name

    def __getitem__(self, name) -> SharedCollection:
        return SharedCollection(self, name)

    def __getattr__(self, name) -> SharedCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    async def command(self, *args, **kwargs):
        return await self.client.call("command", self.name, args=args, kwargs=kwargs)

    async def list_collection_names(self):
        return await self.client.call("list_collection_names", self.name)

    async def drop_collection(self, name):
        return await self.client.call("drop_collection", self.name, args=[name])


class SharedCursor:
    def __init__(self, coll: SharedCollection, op: str, args, kwargs):
        self._coll, self._op, self._args, self._kwargs = coll, op, args, kwargs
        self._modifiers: list = []
        self._items: Iterator[Any] | None = None

    def sort(self, *args):
        self._modifiers.append(["sort", list(args)])
        return self

    def skip(self, n):
        self._modifiers.append(["skip", [n]])
        return self

    def limit(self, n):
        self._modifiers.append(["limit", [n]])
        return self

    async def to_list(self, length=None):
        items = await self._coll._call(self._op, self._args, self._kwargs, cursor=self._modifiers)
        return items if length is None else items[:length]

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._items is None:
            self._items = iter(await self.to_list(None))
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self):
        pass


class SharedCollection:
    def __init__(self, db: SharedDatabase, name: str):
        self.db = db
        self.name = name

    async def _call(self, op, args=(), kwargs=None, cursor=None):
        return await self.db.client.call(op, self.db.name, self.name, args, kwargs, cursor)

    def find(self, *args, **kwargs) -> SharedCursor:
        return SharedCursor(self, "find", args, kwargs)

    async def aggregate(self, pipeline, **kwargs) -> SharedCursor:
        return SharedCursor(self, "aggregate", [pipeline], kwargs)

    # pymongo gives an inserted document without `_id` its new id in place,
    # and callers rely on that; the document crosses a socket here, so the id
    # is made on this side first.
    async def insert_one(self, document, *args, **kwargs):
        document.setdefault("_id", bson.ObjectId())
        return await self._call("insert_one", (document,) + args, kwargs)

    async def insert_many(self, documents, *args, **kwargs):
        documents = list(documents)
        for document in documents:
            document.setdefault("_id", bson.ObjectId())
        return await self._call("insert_many", (documents,) + args, kwargs)


def _remote(name):
    async def method(self, *args, **kwargs):
        return await self._call(name, args, kwargs)
    method.__name__ = name
    return method


for _op in COLLECTION_OPS - {"find", "aggregate", "insert_one", "insert_many"}:
    setattr(SharedCollection, _op, _remote(_op))


async def run_store_server(host: str, port: int) -> None:
    """Serve the shared embedded store until cancelled."""
    store = StoreServer()
    bound = await store.start(host, port)
    print(f"Embedded store serving on {host}:{bound} (data is not kept across restarts)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await store.close()
