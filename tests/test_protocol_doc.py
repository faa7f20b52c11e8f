"""docs/protocol.md names every frame the server accepts and every error code it sends."""
import os

from realtime import protocol

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "protocol.md")


def test_every_client_frame_and_error_code_is_documented(services):
    with open(DOC) as f:
        doc = f.read()
    undocumented = [t for t in services.live.frames if f"`{t}`" not in doc]
    assert not undocumented, undocumented
    codes = [v for k, v in vars(protocol).items() if k.isupper() and isinstance(v, str) and k not in ("VERSION",)]
    assert codes
    missing = [c for c in codes if f"`{c}`" not in doc]
    assert not missing, missing
