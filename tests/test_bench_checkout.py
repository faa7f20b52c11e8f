"""The checkout benchmark keeps working: a small run of `bench/checkout.py` (two server processes, the
shared embedded store) sells exactly the last tickets of a quota to a rush of buyers, tells the others
"sold out", completes every sustained checkout, and says so in the JSON it writes.
Behaviour, not speed; a run whose checks fail says FAILED instead of giving figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTENDERS, LAST, SUSTAINED = 60, 5, 30


def test_checkout_benchmark_sells_exactly_the_last_tickets_and_reports_the_rate(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "checkout.py"),
                           "--contenders", str(CONTENDERS), "--last", str(LAST), "--quota-size", "40",
                           "--sustained", str(SUSTAINED), "--sustained-seconds", "60", "--concurrency", "6",
                           "--phase-timeout", "60",
                           "--max-seconds", "150", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=200)
    files = list(out.glob("checkout-*.json"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(files[0].read_text())
    result = doc["result"]
    assert proc.returncode == 0 and "error" not in result, result.get("error", "") + proc.stderr[-3000:]
    rush = result["phases"]["rush"]
    assert rush["outcomes"] == {"ordered": LAST, "sold_out": CONTENDERS - LAST}
    assert rush["sold_out_ms"]["n"] == CONTENDERS - LAST
    store = result["store"]
    assert store["rush"]["orders"] == LAST and store["rush"]["sold"] == LAST and store["rush"]["left"] == 0
    assert store["steady"]["orders"] == SUSTAINED
    steady = result["phases"]["sustained"]
    assert steady["ok"] == SUSTAINED and not steady["wrong"] and steady["per_second"] > 0
    assert steady["latency_ms"]["n"] == SUSTAINED and steady["latency_ms"]["p99"] >= steady["latency_ms"]["p50"]
    # The same rush against the checkout floor (bench/peers/bare-shop): every buyer refused, pages as large.
    floor = result["phases"]["floor"]
    assert floor["outcomes"] == {"sold_out": CONTENDERS} and floor["server_cpu_ms_each"] > 0
    assert floor["page_bytes"] > 500
    assert doc["table"] in proc.stdout and "checkout floor" in doc["table"]
