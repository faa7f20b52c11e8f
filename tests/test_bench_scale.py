"""The scaling run keeps working: two small audiences, Livehall against the floor peer, drawn as an SVG.

Behaviour, not speed: every viewer is held and gets every flip at each size,
the floor pads its frames to Livehall's size, each figure the README's curve
shows is there, and the picture names its date and machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_scale_run_measures_each_size_against_the_floor_and_draws_it(tmp_path):
    picture, out = tmp_path / "scale.svg", tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "scale.py"), "--viewers", "60,150",
         "--targets", "livehall,floor", "--frames", "600", "--flips", "3", "--flip-interval", "0.4",
         "--idle-seconds", "1.5", "--settle", "0.5", "--picture", str(picture), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    doc = json.loads(next(out.glob("scale-*.json")).read_text())
    for name in ("livehall", "floor"):
        for n in (60, 150):
            p = doc["points"][name][str(n)]
            assert p["held"] == n and p["never_arrived"] == 0 and p["delivered"] == p["flips"] * n, (name, n, p)
            assert p["cpu_us_per_frame"] is not None and p["flip_p99_ms"] is not None and p["connect_seconds"] is not None
    lh, floor = doc["points"]["livehall"]["150"], doc["points"]["floor"]["150"]
    assert floor["frame_bytes"] == lh["frame_bytes"] > 100
    assert lh["rss_per_viewer_kib"] is not None and lh["store_operations_per_flip"] is not None
    assert "| 150 | livehall |" in proc.stdout and "× floor" in proc.stdout
    svg = picture.read_text()
    assert svg.startswith("<?xml") and "viewers" in svg and doc["date"][:10] in svg
