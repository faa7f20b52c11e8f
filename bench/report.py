"""Figures and the one table `make bench` prints: a row per figure, a column per target, ratios.

A ratio column is Livehall's figure divided by that peer's: below 1 is
better for latency, memory and CPU rows, above 1 for rates and frames per
CPU-second.
"""
from __future__ import annotations

import math

PEER_SHORT = {"socketio-node": "sio-node", "python-socketio": "py-sio", "plain-tornado": "plain", "floor": "floor"}
ORDER = ["livehall", "socketio-node", "python-socketio", "plain-tornado", "floor"]


def percentiles(values, scale: float = 1.0) -> dict:
    """p50/p95/p99/max (nearest rank) of `values` times `scale`, and the count."""
    data = sorted(values)
    if not data:
        return {"n": 0}

    def rank(p):
        return data[min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))] * scale

    return {"n": len(data), "p50": round(rank(50), 2), "p95": round(rank(95), 2),
            "p99": round(rank(99), 2), "max": round(data[-1] * scale, 2)}


def merge_counts(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _get(result: dict, *path):
    value = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _per_cpu_second(result, phase):
    us = _get(result, "phases", phase, "server_cpu_us_per_frame")
    return round(1e6 / us) if us else None


def _net(result, phase, counter):
    """A counter's growth over a phase less what the idle audience does in as long (refreshes, presence)."""
    total, seconds = _get(result, "phases", phase, "cpu", counter), _get(result, "phases", phase, "cpu", "t")
    idle = _get(result, "phases", "connect", "idle_rates", counter) or 0
    return None if total is None or seconds is None else max(0.0, total - idle * seconds)


def _per_flip(result, counter):
    total, flips = _net(result, "flips", counter), _get(result, "phases", "flips", "flips")
    return round(total / flips, 1) if total is not None and flips else None


def _per_sent(result, counter):
    total, sent = _net(result, "chat", counter), _get(result, "phases", "chat", "sent")
    return round(total / sent, 2) if total is not None and sent else None


def _idle_rate(result, counter):
    return _get(result, "phases", "connect", "idle_rates", counter)


def _mib(kib):
    return round(kib / 1024, 1) if kib is not None else None


ROWS = [
    ("connections held", lambda r: _get(r, "phases", "connect", "held")),
    ("connect all, s", lambda r: _get(r, "phases", "connect", "seconds")),
    ("sign-ins by link per minute", lambda r: _get(r, "phases", "signin", "per_minute")),
    ("server RSS per connection, KiB", lambda r: _get(r, "phases", "connect", "rss_per_connection_kib")),
    ("server RSS all connected, MiB", lambda r: _mib(_get(r, "phases", "connect", "rss_after_kib"))),
    ("flip latency p50, ms", lambda r: _get(r, "phases", "flips", "latency_ms", "p50")),
    ("flip latency p95, ms", lambda r: _get(r, "phases", "flips", "latency_ms", "p95")),
    ("flip latency p99, ms", lambda r: _get(r, "phases", "flips", "latency_ms", "p99")),
    ("flip latency max, ms", lambda r: _get(r, "phases", "flips", "latency_ms", "max")),
    ("flips never arrived", lambda r: _get(r, "phases", "flips", "never_arrived")),
    ("flip: server CPU us/frame", lambda r: _get(r, "phases", "flips", "server_cpu_us_per_frame")),
    ("flip: frames per server CPU-s", lambda r: _per_cpu_second(r, "flips")),
    ("idle audience: store operations per s", lambda r: _idle_rate(r, "store_operations")),
    ("flip: Redis publishes per flip", lambda r: _per_flip(r, "redis_publishes")),
    ("flip: store operations per flip (net)", lambda r: _per_flip(r, "store_operations")),
    ("chat: room viewers", lambda r: _get(r, "phases", "chat", "room_viewers")),
    ("chat: sent per second", lambda r: _get(r, "phases", "chat", "send_rate")),
    ("chat: sends not acked in time", lambda r: _get(r, "phases", "chat", "unanswered")),
    ("chat: messages delivered", lambda r: _get(r, "phases", "chat", "delivered")),
    ("chat: missing (all clients)", lambda r: _get(r, "phases", "chat", "missing_all")),
    ("chat: lost (sample clients)", lambda r: _get(r, "phases", "chat", "sample_lost")),
    ("chat: duplicated (sample)", lambda r: _get(r, "phases", "chat", "sample_dups")),
    ("chat latency p50, ms", lambda r: _get(r, "phases", "chat", "latency_ms", "p50")),
    ("chat latency p95, ms", lambda r: _get(r, "phases", "chat", "latency_ms", "p95")),
    ("chat latency p99, ms", lambda r: _get(r, "phases", "chat", "latency_ms", "p99")),
    ("chat latency max, ms", lambda r: _get(r, "phases", "chat", "latency_ms", "max")),
    ("chat: server CPU us/message", lambda r: _get(r, "phases", "chat", "server_cpu_us_per_frame")),
    ("chat: messages per server CPU-s", lambda r: _per_cpu_second(r, "chat")),
    ("chat: Redis CPU s", lambda r: _get(r, "phases", "chat", "cpu", "redis")),
    ("chat: store CPU s", lambda r: _get(r, "phases", "chat", "cpu", "store")),
    ("chat: Redis publishes per message", lambda r: _per_sent(r, "redis_publishes")),
    ("chat: store operations per message (net)", lambda r: _per_sent(r, "store_operations")),
    ("chat: generator cores busy", lambda r: _get(r, "phases", "chat", "generator_busy")),
    ("storm: all back within, s", lambda r: _get(r, "phases", "storm", "all_back_seconds")),
    ("storm: last back after the last reconnect, s",
     lambda r: _get(r, "phases", "storm", "back_after_last_reconnect_seconds")),
    ("storm: resume wait p50, ms", lambda r: _get(r, "phases", "storm", "resume_wait_ms", "p50")),
    ("storm: resume wait p99, ms", lambda r: _get(r, "phases", "storm", "resume_wait_ms", "p99")),
    ("storm: resumed (recovered)", lambda r: _get(r, "phases", "storm", "recovered")),
    ("storm: gaps", lambda r: _get(r, "phases", "storm", "gaps")),
    ("storm: duplicates", lambda r: _get(r, "phases", "storm", "dups")),
    ("storm: DB history reads per room", lambda r: _get(r, "phases", "storm", "history_reads_per_room")),
    ("Redis RSS, MiB", lambda r: _mib(_get(r, "phases", "connect", "helpers_rss_kib", "redis"))),
    ("store RSS, MiB", lambda r: _mib(_get(r, "phases", "connect", "helpers_rss_kib", "store"))),
    ("generator CPU s (whole run)", lambda r: _get(r, "generator_cpu_seconds")),
]


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        a = abs(value)
        return f"{value:.0f}" if a >= 100 else f"{value:.1f}" if a >= 10 else f"{value:.2f}" if a >= 0.1 \
            else f"{value:.3f}"
    return str(value)


def table(doc: dict) -> str:
    results = doc["results"]
    names = [n for n in ORDER if n in results]
    peers = [n for n in names if n != "livehall"] if "livehall" in names else []
    header = ["figure"] + names + [f"lh/{PEER_SHORT[p]}" for p in peers]
    rows = []
    for label, get in ROWS:
        values = [get(results[n]) for n in names]
        if all(v is None for v in values):
            continue
        cells = [label] + [fmt(v) for v in values]
        lh = values[0] if "livehall" in names else None
        for p in peers:
            pv = values[names.index(p)]
            ok = isinstance(lh, (int, float)) and isinstance(pv, (int, float)) and pv
            cells.append(f"{lh / pv:.2f}" if ok else "-")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = [f"Livehall benchmark {doc['date']} on {doc['machine']['cores']} cores "
             f"({doc['machine']['cpu'] or 'unknown CPU'}), {doc['options']['connections']} viewers per target"]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    lines += [line, "-" * len(line)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    for n in names:
        if "error" in results[n]:
            lines.append(f"{n}: FAILED: {results[n]['error']}")
    return "\n".join(lines)
