"""The reminder benchmark keeps working: a small run of `bench/reminders.py` (two server processes,
an SMTP sink) delivers one reminder to each registrant and says so in the JSON it writes.
Behaviour, not speed; a run whose checks fail says FAILED instead of giving figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEOPLE = 200


def test_reminder_benchmark_delivers_each_reminder_once_and_reports_the_delay(tmp_path):
    pytest.importorskip("aiosmtpd")
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "reminders.py"), "--people", str(PEOPLE),
                           "--lead-seconds", "8", "--max-seconds", "90", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    files = list(out.glob("reminders-*.json"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(files[0].read_text())
    result = doc["result"]
    assert proc.returncode == 0 and "error" not in result, result.get("error", "") + proc.stderr[-3000:]
    assert result["checks"] == {"received": PEOPLE, "distinct": PEOPLE, "duplicates": 0, "missing": 0,
                                "unexpected": 0, "early": 0}
    assert 0 <= result["delay_seconds"]["first"] <= result["delay_seconds"]["last"]
    assert doc["table"] in proc.stdout
