"""Stored images: validation by content, content-addressed storage, GET /media/<id>."""
import hashlib
import html
import io

import pytest
from PIL import Image

from media import image_store

MB = 1024 * 1024


def image_bytes(fmt: str = "PNG", size=(64, 36), mode: str = "RGB", colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else 0).save(out, fmt)
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' \
      b'<script>alert(1)</script><rect width="10" height="10"/></svg>'


@pytest.mark.gen_test
@pytest.mark.parametrize("fmt,content_type", [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
])
async def test_accepted_formats_are_stored_by_content_hash(db, fmt, content_type):
    data = image_bytes(fmt)
    doc = await image_store.store_image(db, data, f"slide.{fmt.lower()}", max_bytes=MB)
    assert doc["_id"] == hashlib.sha256(data).hexdigest()
    assert doc["content_type"] == content_type
    assert (doc["width"], doc["height"], doc["size"]) == (64, 36, len(data))
    assert "data" not in doc
    stored = await image_store.get(db, doc["_id"])
    assert bytes(stored["data"]) == data and stored["content_type"] == content_type


@pytest.mark.gen_test
async def test_same_bytes_are_stored_once(db):
    data = image_bytes()
    first = await image_store.store_image(db, data, "a.png", max_bytes=MB)
    second = await image_store.store_image(db, data, "b.png", max_bytes=MB)
    assert first["_id"] == second["_id"]
    assert "data" not in second
    assert await db.media.count_documents({}) == 1


@pytest.mark.gen_test
@pytest.mark.parametrize("data", [
    b"", b"hello, this is text", SVG, image_bytes("BMP"), image_bytes("PNG")[:60],
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
], ids=["empty", "text", "svg", "bmp", "truncated-png", "png-magic-only"])
async def test_non_images_and_other_formats_are_refused(db, data):
    with pytest.raises(image_store.MediaError) as err:
        await image_store.store_image(db, data, "x.png", max_bytes=MB)
    assert str(err.value) in (image_store.NOT_AN_IMAGE, image_store.EMPTY)
    assert await db.media.count_documents({}) == 0


@pytest.mark.gen_test
async def test_oversize_file_is_refused_with_the_limit(db):
    data = image_bytes(size=(300, 300))
    with pytest.raises(image_store.MediaError) as err:
        await image_store.store_image(db, data, "big.png", max_bytes=len(data) - 1)
    assert str(err.value) == image_store.TOO_LARGE and "mb" in err.value.params
    with pytest.raises(image_store.MediaError) as err:
        await image_store.store_image(db, b"x" * (2 * MB), "big.png", max_bytes=MB)
    assert err.value.params == {"mb": 1.0}
    assert await db.media.count_documents({}) == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("size", [(image_store.MAX_SIDE + 1, 1), (7000, 7000)], ids=["too-wide", "too-many-pixels"])
async def test_absurd_dimensions_are_refused(db, size):
    # Tiny files that would decode into huge bitmaps.
    data = image_bytes("PNG", size=size, mode="1")
    assert len(data) < MB
    with pytest.raises(image_store.MediaError) as err:
        await image_store.store_image(db, data, "bomb.png", max_bytes=MB)
    assert str(err.value) == image_store.TOO_MANY_PIXELS
    assert await db.media.count_documents({}) == 0


@pytest.mark.gen_test
async def test_get_ignores_malformed_ids(db):
    assert await image_store.get(db, "../etc/passwd") is None
    assert await image_store.get(db, "0" * 64) is None


# --- GET /media/<id> ---------------------------------------------------------

@pytest.mark.gen_test
async def test_media_is_served_immutable_without_a_session(browser, db):
    data = image_bytes("JPEG")
    doc = await image_store.store_image(db, data, "a.jpg", max_bytes=MB)
    b = browser()
    r = await b.get(f"/media/{doc['_id']}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["etag"] == f'"{doc["_id"]}"'
    again = await b.get(f"/media/{doc['_id']}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.gen_test
async def test_unknown_media_is_a_translated_404(browser, services):
    r = await browser(locale="de").get("/media/" + "a" * 64)
    assert r.status_code == 404
    assert 'lang="de"' in r.text
    assert services.i18n.gettext("de")("This image does not exist.") in html.unescape(r.text)
    assert "immutable" not in r.headers.get("cache-control", "")
    r = await browser().get("/media/not-a-hash")
    assert r.status_code == 404
