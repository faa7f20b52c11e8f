"""The donations benchmark keeps working: a small run of `bench/donations.py` (two server processes, the shared
embedded store, localstripe sending signed notifications) confirms every gift by card and from wallets, shows
every open campaign page the final total, finds that total equal to the counter, the donations and the ledger,
and says so in the JSON it writes.  Behaviour, not speed; a run whose checks fail says FAILED instead."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES, RATE, SECONDS = 40, 5, 4


def test_donations_benchmark_counts_every_gift_once_and_every_page_shows_the_ledger(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "donations.py"),
                           "--pages", str(PAGES), "--rate", str(RATE), "--seconds", str(SECONDS), "--donors", "4",
                           "--workers", "1", "--sample", "5", "--drain", "20", "--max-seconds", "150",
                           "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=200)
    files = list(out.glob("donations-*.json"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(files[0].read_text())
    result = doc["result"]
    assert proc.returncode == 0 and "error" not in result, result.get("error", "") + proc.stderr[-3000:]
    assert result["pages"] == {"held": PAGES, "wanted": PAGES, "seconds": result["pages"]["seconds"]}
    gifts = RATE * SECONDS
    for path in ("card", "wallet"):
        phase = result["phases"][path]
        assert phase["confirmed"] == gifts and not phase["wrong"] and phase["settled"], phase
        # Every sample page (one in five, the screen first) saw every gift.
        assert phase["latency_ms"]["n"] == gifts * PAGES // 5 and phase["never_seen"] == 0
        assert phase["frames"] >= PAGES and phase["server_cpu_ms_per_gift"] > 0
    store = result["store"]
    assert store["confirmed"] == store["counter_gifts"] == 2 * gifts and (store["card"], store["wallet"]) == (gifts,
                                                                                                              gifts)
    assert store["sum"] == store["counter_raised"] == store["ledger"] > 0 and store["owed"] == 0
    assert doc["table"] in proc.stdout
