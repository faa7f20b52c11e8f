"""A tiny live HLS stream for browser tests, made without ffmpeg.

Each segment is a real MPEG-TS file (PAT, PMT, PES packets with timestamps)
carrying two seconds of silent AAC-LC audio in ADTS frames, which browsers
and hls.js demux and decode like any broadcast's audio. The playlist is a
live sliding window, as a broadcast's is: a new segment every two seconds.
"""
from __future__ import annotations

import time

SAMPLE_RATE = 44100
FRAME_SAMPLES = 1024
FRAMES_PER_SEGMENT = 86                       # ~2 s
SEGMENT_SECONDS = FRAMES_PER_SEGMENT * FRAME_SAMPLES / SAMPLE_RATE
FRAMES_PER_PES = 8
WINDOW = 6                                    # segments listed in the live playlist

PMT_PID, AUDIO_PID = 0x1000, 0x0100
# A silent stereo AAC-LC raw frame (what encoders emit for digital silence).
SILENT_FRAME = bytes([0x21, 0x00, 0x49, 0x90, 0x02, 0x19, 0x00, 0x23, 0x80])


def _crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _adts_frame() -> bytes:
    length = 7 + len(SILENT_FRAME)
    sampling_index, channels, profile = 4, 2, 1   # 44.1 kHz, stereo, AAC-LC
    header = bytes([
        0xFF, 0xF1,
        (profile << 6) | (sampling_index << 2) | (channels >> 2),
        ((channels & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC,
    ])
    return header + SILENT_FRAME


def _section(table_id: int, body: bytes) -> bytes:
    length = len(body) + 4  # + CRC
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF])
    crc = _crc32_mpeg2(head + body)
    return head + body + crc.to_bytes(4, "big")


def _packet(pid: int, cc: int, payload: bytes, start: bool, pcr: int | None = None) -> bytes:
    """One 188-byte TS packet; an adaptation field carries the PCR and any stuffing."""
    header = bytes([0x47, (0x40 if start else 0) | (pid >> 8), pid & 0xFF])
    if pcr is None and len(payload) == 184:
        return header + bytes([0x10 | cc]) + payload
    field = b""
    if pcr is not None:
        base = pcr & ((1 << 33) - 1)
        field = bytes([0x10]) + ((base << 15) | (0x3F << 9)).to_bytes(6, "big")
    size = 184 - 1 - len(payload)           # adaptation field bytes after its length byte
    assert size >= len(field), "payload too long for the packet"
    if size and not field:
        field = b"\x00"                      # no flags: stuffing only
    field += b"\xff" * (size - len(field))
    return header + bytes([0x30 | cc, size]) + field + payload


def _psi(pid: int, section: bytes) -> bytes:
    payload = b"\x00" + section
    return _packet(pid, 0, payload + b"\xff" * (184 - len(payload)), True)


def _pts_bytes(pts: int) -> bytes:
    return bytes([
        0x21 | ((pts >> 29) & 0x0E),
        (pts >> 22) & 0xFF, 0x01 | ((pts >> 14) & 0xFE),
        (pts >> 7) & 0xFF, 0x01 | ((pts << 1) & 0xFE),
    ])


def segment(index: int) -> bytes:
    """Segment `index` of the stream: its timestamps follow the previous segment's."""
    pat = _section(0x00, bytes([0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xE0 | (PMT_PID >> 8), PMT_PID & 0xFF]))
    pmt = _section(0x02, bytes([0x00, 0x01, 0xC1, 0x00, 0x00, 0xE0 | (AUDIO_PID >> 8), AUDIO_PID & 0xFF, 0xF0, 0x00,
                                0x0F, 0xE0 | (AUDIO_PID >> 8), AUDIO_PID & 0xFF, 0xF0, 0x00]))
    out = [_psi(0, pat), _psi(PMT_PID, pmt)]
    cc = 0
    frame = _adts_frame()
    first = index * FRAMES_PER_SEGMENT
    for n in range(first, first + FRAMES_PER_SEGMENT, FRAMES_PER_PES):
        count = min(FRAMES_PER_PES, first + FRAMES_PER_SEGMENT - n)
        pts = 90000 + n * FRAME_SAMPLES * 90000 // SAMPLE_RATE
        data = frame * count
        pes = b"\x00\x00\x01\xC0" + (3 + 5 + len(data)).to_bytes(2, "big") + b"\x80\x80\x05" + _pts_bytes(pts) + data
        start = True
        while pes:
            room = 184 - (8 if start else 0)
            chunk, pes = pes[:room], pes[room:]
            out.append(_packet(AUDIO_PID, cc, chunk, start, pcr=pts if start else None))
            cc = (cc + 1) & 0x0F
            start = False
    data = b"".join(out)
    assert all(data[i] == 0x47 for i in range(0, len(data), 188)) and len(data) % 188 == 0
    return data


class LiveStream:
    """A live window over the endless stream, which started `head_start` seconds ago."""

    def __init__(self, head_start: float = 30.0):
        self.t0 = time.monotonic() - head_start

    def newest(self) -> int:
        return int((time.monotonic() - self.t0) // SEGMENT_SECONDS)

    def playlist(self, segment_url=lambda i: f"seg{i}.ts") -> str:
        last = self.newest()
        first = max(0, last - WINDOW + 1)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for i in range(first, last + 1):
            lines += [f"#EXTINF:{SEGMENT_SECONDS:.5f},", segment_url(i)]
        return "\n".join(lines) + "\n"
