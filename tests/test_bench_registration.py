"""The registration benchmark keeps working: its preparation and a tiny measured run of
`bench/registration.py` (a few dozen registrations, some to the waiting list, one clicks, visitors
with mail over SMTP), checked from the JSON it writes.  Behaviour, not speed; and a run whose
checks fail says FAILED instead of giving figures."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEOPLE, PLACES, CLICKS, VISITORS = 40, 30, 20, 10


def run(tmp_path, *extra) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "registration.py"), "--people", str(PEOPLE),
         "--capacity", str(PLACES), "--one-click", str(CLICKS), "--visitors", str(VISITORS),
         "--concurrency", "8", "--one-click-concurrency", "4", "--phase-timeout", "60", "--max-seconds", "200",
         "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    files = list(out.glob("registration-*.json"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(files[0].read_text())


def test_registration_benchmark_prepares_measures_and_checks(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    pytest.importorskip("aiosmtpd")
    proc, doc = run(tmp_path)
    result = doc["result"]
    assert proc.returncode == 0 and "error" not in result, result.get("error", "") + proc.stderr[-3000:]
    assert doc["table"] in proc.stdout and "| form registrations per second" in doc["table"]

    phases = result["phases"]
    assert (phases["form"]["ok"], phases["form"]["wrong"]) == (PEOPLE, {})
    assert phases["form"]["per_second"] > 0 and phases["form"]["latency_ms"]["n"] == PEOPLE
    assert (phases["one_click"]["ok"], phases["one_click"]["wrong"]) == (CLICKS, {})
    assert phases["one_click"]["latency_ms"]["p95"] > 0
    assert (phases["visitors"]["ok"], phases["visitors"]["wrong"]) == (VISITORS, {})

    store = result["store"]
    assert store["form"]["states"] == {"registered": PLACES, "waiting": PEOPLE - PLACES}
    assert store["form"]["counter"]["taken"] == PLACES and store["form"]["duplicates"] == 0
    assert store["one_click"]["states"] == {"registered": CLICKS} and store["one_click"]["sources"] == ["one_click"]
    assert store["visitors"]["states"] == {"unconfirmed": VISITORS} and store["visitors"]["accounts"] == VISITORS
    assert store["visitors"]["outbox"] == {"sent": VISITORS}
    assert store["mail"]["smtp_received"] == store["mail"]["outbox"]["sent"] >= VISITORS


def test_a_run_that_cannot_register_everyone_says_failed_and_gives_no_figures(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    # Phases with no time to finish: what was not answered is counted, and the run fails.
    proc, doc = run(tmp_path, "--no-smtp", "--phase-timeout", "0.01")
    assert proc.returncode == 1
    assert "not sent or not answered within the phase's time" in doc["result"]["error"]
    assert "FAILED" in doc["table"] and "| form registrations per second" not in doc["table"]
