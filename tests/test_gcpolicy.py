"""The collector policy freezes live objects every N connections, thaws after M closes, and times pauses."""
import gc
import types

import pytest
from prometheus_client import CollectorRegistry

from gcpolicy import CollectorPolicy
from metrics import Metrics


@pytest.mark.gen_test
async def test_freezes_after_opens_thaws_after_closes_and_times_collections():
    metrics = Metrics(CollectorRegistry())
    live = types.SimpleNamespace(on_open=[], on_close=[])
    policy = CollectorPolicy(metrics, freeze_every=3, thaw_after=2)
    policy.install(live)
    gc.unfreeze()
    try:
        for _ in range(2):
            await live.on_open[0](None)
        assert gc.get_freeze_count() == 0
        await live.on_open[0](None)
        assert gc.get_freeze_count() > 0
        await live.on_close[0](None)
        assert gc.get_freeze_count() > 0
        await live.on_close[0](None)
        assert gc.get_freeze_count() == 0
        gc.collect()
        count = metrics.registry.get_sample_value("livehall_gc_pause_seconds_count", {"generation": "2"})
        assert count and count >= 1
    finally:
        policy.uninstall(live)
        gc.unfreeze()
    assert live.on_open == [] and live.on_close == []
