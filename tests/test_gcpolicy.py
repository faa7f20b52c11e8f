"""The collector policy freezes live objects every N connections, thaws after M closes when calm, and times pauses."""
import asyncio
import gc
import types

import pytest
from prometheus_client import CollectorRegistry

from core.gcpolicy import CollectorPolicy
from core.metrics import Metrics


@pytest.mark.gen_test
async def test_freezes_after_opens_thaws_after_closes_and_times_collections():
    metrics = Metrics(CollectorRegistry())
    live = types.SimpleNamespace(on_open=[], on_close=[])
    policy = CollectorPolicy(metrics, freeze_every=3, thaw_after=2, quiet=0)
    threshold = gc.get_threshold()
    policy.install(live)
    assert gc.get_threshold()[0] == policy.young
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
    assert live.on_open == [] and live.on_close == [] and gc.get_threshold() == threshold


@pytest.mark.gen_test
async def test_the_thaw_waits_while_connections_keep_arriving_but_not_forever():
    live = types.SimpleNamespace(on_open=[], on_close=[])
    now = [100.0]
    policy = CollectorPolicy(None, freeze_every=1, thaw_after=1, quiet=0.2, longest_wait=0.6,
                             clock=lambda: now[0])
    policy.install(live)
    gc.unfreeze()
    try:
        await live.on_open[0](None)                 # frozen
        await live.on_close[0](None)                # thaw due, but connections just came and went
        assert gc.get_freeze_count() > 0
        now[0] += 0.25                              # quiet for longer than `quiet`
        await asyncio.sleep(0.3)
        assert gc.get_freeze_count() == 0
        # A storm: opens keep coming; the thaw still happens after `longest_wait`.
        policy.freeze_every = 1000
        gc.freeze()
        await live.on_open[0](None)
        await live.on_close[0](None)
        waited = 0
        while gc.get_freeze_count() > 0 and waited < 20:
            now[0] += 0.1
            waited += 1
            await live.on_open[0](None)
            await asyncio.sleep(0.1)
        assert 6 <= waited <= 8
    finally:
        policy.uninstall(live)
        gc.unfreeze()
