"""The benchmark harness keeps working: a small run of `bench/run.py` against Livehall and the plain Tornado peer.

This checks behaviour, not speed: every connection is held, every slide flip
reaches every viewer, chat arrives complete and without duplicates, the
reconnect storm resumes every viewer without gaps and reads chat history from
the database a bounded number of times, and the JSON result is written.
The Socket.IO peers need Node and are left to `make bench`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIEWERS, SENDERS, FLIPS = 200, 10, 3


def test_bench_harness_smoke(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    pytest.importorskip("picows")
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--connections", str(VIEWERS),
         "--targets", "livehall,plain-tornado", "--workers", "2", "--senders", str(SENDERS),
         "--chat-rate", "30", "--chat-seconds", "1.5", "--flips", str(FLIPS), "--flip-interval", "0.1",
         "--storm-window", "1.5", "--storm-rate", "10", "--sample-every", "10", "--idle-seconds", "0.5",
         "--settle", "0.5", "--quiet", "1", "--drain", "15", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    files = list(out.glob("*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert "livehall" in doc["table"] and doc["table"] in proc.stdout

    for name in ("livehall", "plain-tornado"):
        result = doc["results"][name]
        assert "error" not in result, result.get("traceback")
        phases = result["phases"]
        assert phases["connect"]["held"] == phases["connect"]["wanted"] == VIEWERS + SENDERS
        assert phases["flips"]["never_arrived"] == 0
        assert phases["flips"]["delivered"] == FLIPS * VIEWERS
        chat = phases["chat"]
        assert chat["sent"] >= 20, chat
        assert chat["room_viewers"] > 0 and chat["sample_clients"] > 0
        assert chat["delivered"] == chat["expected"] > 0, chat
        assert chat["missing_all"] == chat["sample_lost"] == chat["sample_dups"] == 0, chat
        assert chat["latency_ms"]["n"] > 0

    lh = doc["results"]["livehall"]["phases"]
    assert lh["signin"]["ok"] == VIEWERS + SENDERS + 1 and not lh["signin"]["failed"]
    assert lh["chat"]["stored"] == lh["chat"]["sent"] and lh["chat"]["unanswered"] == 0
    assert lh["chat"]["dups_all"] == lh["chat"]["gaps_all"] == 0
    storm = lh["storm"]
    assert storm["rejoined"] == storm["recovered"] == VIEWERS, storm
    assert storm["gaps"] == storm["dups"] == storm["viewers_behind"] == 0, storm
    assert storm["chat_delivered"] == storm["chat_expected"] > 0, storm
    # Bounded per room and process, not per client: 200 clients resumed.
    assert storm["history_reads"] <= storm["rooms"] * storm["processes"] * 2, storm
