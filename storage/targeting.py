"""What a sharded cluster's router asks of single-document writes, checked on the embedded store in tests.

On a sharded collection (`mongo_indexes.sharding.SHARD_KEYS`) a mongos sends
a write to the one shard its filter names:

- a find-and-modify (`find_one_and_update`, `find_one_and_delete`) names the
  whole shard key by equality;
- `update_one`, `replace_one` and `delete_one` name the whole shard key, or
  `_id`, by equality;
- an upsert names the whole shard key by equality (the document it makes
  is made on that shard).

MongoDB 7.0 and later run some of these without the key by asking every
shard first; the code does not rely on that.  `check` raises what a mongos
would (OperationFailure, code 61 ShardKeyNotFound).  The test suite turns
the check on for the embedded store (`storage.embedded.SHARD_KEYS`, set in
`tests/conftest.py`), so a change that would fail on a sharded cluster
fails its tests without one.  Multi-document writes and reads go to every
shard when they must, and are not checked.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.errors import OperationFailure

SHARD_KEY_NOT_FOUND = 61
FIND_AND_MODIFY = frozenset({"find_one_and_update", "find_one_and_delete", "find_one_and_replace"})
BY_KEY_OR_ID = frozenset({"update_one", "replace_one", "delete_one"})


def _equality(filter: Mapping[str, Any], field: str) -> bool:
    if field not in filter:
        return False
    value = filter[field]
    if isinstance(value, Mapping):
        return set(value) == {"$eq"}
    return True


def check(shard_keys: Mapping[str, Mapping[str, Any]], collection: str, op: str, filter: Any,
          upsert: bool = False) -> None:
    """Raise as a mongos would when a single-document write to a sharded collection names no shard."""
    key = shard_keys.get(collection)
    if key is None or (op not in FIND_AND_MODIFY and op not in BY_KEY_OR_ID):
        return
    filter = filter if isinstance(filter, Mapping) else {}
    if all(_equality(filter, field) for field in key):
        return
    if op in BY_KEY_OR_ID and not upsert and _equality(filter, "_id"):
        return
    raise OperationFailure(
        f"{op} on the sharded collection {collection!r} must name its shard key {list(key)} by equality"
        + ("" if op in FIND_AND_MODIFY or upsert else " or its _id") + f"; the filter was {dict(filter)}",
        SHARD_KEY_NOT_FOUND)
