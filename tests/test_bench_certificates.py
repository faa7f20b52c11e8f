"""The certificate benchmark keeps working: a small run of `bench/certificates.py` (one server
process resuming the issuing job, its PDF workers, the shared store) issues one certificate with a
PDF and one mail to each attendee who watched long enough and none to those who did not, and says
so in the JSON it writes.  Behaviour, not speed; a run whose checks fail says FAILED instead."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEOPLE = 120


def test_certificate_benchmark_issues_one_certificate_to_each_qualifying_attendee(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "certificates.py"), "--people", str(PEOPLE),
                           "--max-seconds", "240", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    files = list(out.glob("certificates-*.json"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(files[0].read_text())
    result = doc["result"]
    assert proc.returncode == 0 and "error" not in result, result.get("error", "") + proc.stderr[-3000:]
    checks = result["checks"]
    assert checks["certificates"] == checks["distinct_holders"] == checks["with_pdf"] == PEOPLE
    assert checks["mails"] == checks["distinct_mails"] == checks["job_issued"] == PEOPLE
    assert checks["missing"] == 0 and checks["unqualified"] == 0 and checks["job_status"] == "done"
    assert checks["sample_named"] == checks["sample_size"] > 0
    assert result["workers"] >= 1 and result["seconds"] > 0
    assert doc["table"] in proc.stdout
