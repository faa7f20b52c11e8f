"""Images kept in the database: validation, content-addressed storage, lookup.

Slides (and later other pictures) are uploaded by staff and shown to every
attendee, so only raster formats a browser renders safely are accepted: PNG,
JPEG, WebP and GIF, recognised by Pillow from the bytes themselves, never
from the file name or the declared content type.  SVG is refused on purpose:
it can carry scripts.  Sizes are bounded twice, in bytes (the caller's limit,
and below MongoDB's 16 MB document limit) and in pixels, so a small file that
decodes into a huge bitmap is refused before it is decoded.

A stored image's id is the SHA-256 of its bytes: the same file uploaded twice
is stored once, and an id can be cached forever because its content never
changes.  Decoding runs in a worker thread so a large upload does not stall
the event loop that serves live connections.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import re

from bson import Binary
from PIL import Image
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
# A document holds at most 16 MB including its other fields.
HARD_MAX_BYTES = 15 * 1024 * 1024
MAX_SIDE = 16384
MAX_PIXELS = 40_000_000
ID_RE = re.compile(r"^[0-9a-f]{64}$")

NOT_AN_IMAGE = N_("This file is not an image (PNG, JPEG, WebP or GIF).")
TOO_LARGE = N_("The image is larger than %(mb)s MB.")
TOO_MANY_PIXELS = N_("The image is too large in pixels (at most %(side)s pixels on a side "
                     "and %(megapixels)s megapixels).")
EMPTY = N_("This file is empty.")


class MediaError(Refusal):
    """A refused image.  `str(exc)` is the message marked for translation;
    `params` fill its placeholders after it is translated."""


def _limit(max_bytes: int) -> int:
    return max(1, min(max_bytes, HARD_MAX_BYTES))


def _inspect(data: bytes, max_bytes: int) -> dict:
    limit = _limit(max_bytes)
    if not data:
        raise MediaError(EMPTY)
    if len(data) > limit:
        raise MediaError(TOO_LARGE, mb=round(limit / (1024 * 1024), 2))
    too_big = MediaError(TOO_MANY_PIXELS, side=MAX_SIDE, megapixels=MAX_PIXELS // 1_000_000)
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if fmt not in CONTENT_TYPES:
                raise MediaError(NOT_AN_IMAGE)
            # Checked from the header, before anything is decoded.
            if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE \
                    or width * height > MAX_PIXELS:
                raise too_big
            img.verify()
        # verify() leaves the image unusable and checks little for JPEG;
        # decoding the first frame catches truncated and corrupt files.
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise too_big from None
    except Exception:
        # Pillow raises many types for garbage input (UnidentifiedImageError,
        # OSError, SyntaxError, ValueError...); all mean "not an image we take".
        raise MediaError(NOT_AN_IMAGE) from None
    return {
        "_id": hashlib.sha256(data).hexdigest(),
        "content_type": CONTENT_TYPES[fmt],
        "width": width, "height": height, "size": len(data),
    }


async def inspect(data: bytes, max_bytes: int) -> dict:
    """Validate an image without storing it: its future document without data."""
    return await asyncio.to_thread(_inspect, data, max_bytes)


async def save(db, data: bytes, info: dict) -> dict:
    """Store bytes already validated by `inspect`; returns the document without data."""
    doc = {**info, "data": Binary(data), "created_at": utcnow()}
    try:
        await db.media.insert_one(doc)
    except DuplicateKeyError:
        existing = await db.media.find_one({"_id": info["_id"]}, {"data": 0})
        if existing:
            return existing
        raise
    return {k: v for k, v in doc.items() if k != "data"}


async def store_image(db, data: bytes, filename: str, max_bytes: int) -> dict:
    """Validate and store one image; returns {_id, content_type, width, height,
    size, created_at}.  `filename` only names the file in messages and logs:
    the format is read from the bytes."""
    info = await inspect(data, max_bytes)
    return await save(db, data, info)


def valid_id(media_id) -> bool:
    return isinstance(media_id, str) and bool(ID_RE.match(media_id))


async def get(db, media_id) -> dict | None:
    """The stored image with its bytes in `data`, or None."""
    if not valid_id(media_id):
        return None
    return await db.media.find_one({"_id": media_id})


async def describe(db, media_ids) -> dict[str, dict]:
    """id -> document without data, for the ids that exist."""
    ids = [m for m in set(media_ids) if valid_id(m)]
    if not ids:
        return {}
    docs = await db.media.find({"_id": {"$in": ids}}, {"data": 0}).to_list(None)
    return {d["_id"]: d for d in docs}
