"""How the MongoDB client is opened: the guarantees are set by the server, whatever the URI says.

None of these contact a server: pymongo's client connects on first use, so
its options can be read from a client pointed at nothing.
"""
import pytest
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import Primary, SecondaryPreferred

from core import config
from storage import CATALOGUE_MAX_STALENESS, client_options, open_database

NOWHERE = "mongodb://127.0.0.1:9,127.0.0.1:10/?replicaSet=rs0"


async def _opened(uri: str, **settings):
    return await open_database(config.from_env({}, mongodb_uri=uri, **settings))


@pytest.mark.gen_test
async def test_writes_are_majority_and_retryable_and_reads_go_to_the_primary():
    storage = await _opened(NOWHERE)
    try:
        client = storage.client
        assert client.write_concern.document == {"w": "majority", "wtimeout": 10_000}
        assert client.options.retry_writes and client.options.retry_reads
        assert storage.db.read_preference == Primary()
        assert storage.db.read_concern == ReadConcern("local")
        # An election takes up to about 12 s: requests wait for the new primary instead of failing.
        assert client.options.server_selection_timeout == 15
        assert storage.catalogue_db is storage.db
    finally:
        await storage.close()


@pytest.mark.gen_test
async def test_the_connection_string_cannot_weaken_the_guarantees_but_tunes_the_timeouts():
    uri = NOWHERE + "&w=1&retryWrites=false&readPreference=secondary&readConcernLevel=majority" \
                    "&wtimeoutMS=2500&serverSelectionTimeoutMS=30000"
    storage = await _opened(uri)
    try:
        client = storage.client
        assert client.write_concern.document == {"w": "majority", "wtimeout": 2500}
        assert client.options.retry_writes
        assert storage.db.read_preference == Primary()
        assert storage.db.read_concern == ReadConcern("local")
        assert client.options.server_selection_timeout == 30
    finally:
        await storage.close()


def test_options_say_which_tunings_the_uri_made_case_blind():
    options = client_options("mongodb+srv://cluster.example.org/?WTIMEOUTMS=1")
    assert "wTimeoutMS" not in options and options["serverSelectionTimeoutMS"] == 15_000
    assert options["w"] == "majority" and options["readPreference"] == "primary"


@pytest.mark.gen_test
async def test_the_catalogue_alone_may_read_from_a_secondary():
    storage = await _opened(NOWHERE, mongodb_catalogue_reads="secondary")
    try:
        assert storage.catalogue_db.read_preference == SecondaryPreferred(max_staleness=CATALOGUE_MAX_STALENESS)
        assert storage.catalogue_db.spaces.read_preference == storage.catalogue_db.read_preference
        assert storage.db.read_preference == Primary()
        # Writes through it would still be majority writes, but nothing writes through it.
        assert storage.catalogue_db.write_concern.document["w"] == "majority"
    finally:
        await storage.close()


@pytest.mark.gen_test
async def test_an_unknown_catalogue_choice_is_refused_at_start_on_every_backend():
    for uri in (NOWHERE, ""):
        with pytest.raises(ValueError, match="MONGODB_CATALOGUE_READS"):
            await _opened(uri, mongodb_catalogue_reads="secondaries")


@pytest.mark.gen_test
async def test_the_embedded_store_has_one_copy_so_the_catalogue_reads_it():
    storage = await _opened("", mongodb_catalogue_reads="secondary")
    try:
        assert storage.kind == "embedded" and storage.catalogue_db is storage.db
    finally:
        await storage.close()
