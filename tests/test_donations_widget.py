"""The widget's framing setting, QR codes and gift sources, through the staff's and the donors' pages.

QR codes are read back by a real decoder: the PNG by zxing-cpp, the SVG as
Chromium draws it (a screenshot read by zxing-cpp), so the image is what a
phone's camera would see, not our own idea of it.
"""
from __future__ import annotations

import base64
import html
import io
import re
from urllib.parse import urlencode

import pytest
import zxingcpp
from bson import ObjectId
from PIL import Image

from access import roles as R
from donations import embedding, giving, qr, sources
from tests.browser import chromium
from tests.donations_support import Totals, campaign, key_of
from tests.support import error_text


def refusal(r) -> str:
    return html.unescape(error_text(r.text))


def decode_png(data: bytes) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)).convert("L"))]


async def staff(factory, browser, space):
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    return b


@pytest.mark.gen_test(timeout=120)
async def test_qr_codes_decode_back_to_the_campaigns_address_with_their_source(services, factory, browser, db):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    b = await staff(factory, browser, space)
    base = f"/admin/spaces/{space['_id']}/campaigns/{found['_id']}"
    public = services.settings.public_url
    assert 'action="' + base + '/qr"' in (await b.get(base)).text
    svgs = {}
    for target, path in ((qr.PAGE, ""), (qr.SCREEN, "/screen"), (qr.WIDGET, "/widget")):
        for tag, src in (("", "qr"), ("hall-2", "qr-hall-2")):
            wanted = f"{public}/campaigns/{found['_id']}{path}?src={src}"
            for size, side in (("screen", 512), ("a6", 945), ("a5", 1417), ("a4", 2126)):
                r = await b.get(f"{base}/qr?" + urlencode({"target": target, "size": size, "format": "png",
                                                           "tag": tag}))
                assert r.status_code == 200 and r.headers["content-type"] == "image/png"
                assert r.headers["content-disposition"] == \
                    f'attachment; filename="campaign-{found["_id"]}-{target}{"-" + tag if tag else ""}-{size}.png"'
                image = Image.open(io.BytesIO(r.content))
                # The nearest whole number of pixels a module, never above the side asked for, and 300 dpi.
                assert side * 0.85 <= image.size[0] <= side and image.size[0] == image.size[1], (size, image.size)
                assert round(image.info["dpi"][0]) == 300
                assert decode_png(r.content) == [wanted], (target, tag, size)
                r = await b.get(f"{base}/qr?" + urlencode({"target": target, "size": size, "format": "svg",
                                                           "tag": tag}))
                assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
                width = re.search(rb'<svg[^>]* width="([^"]+)"', r.content).group(1).decode()
                # In millimetres for print; on a screen, the PNG's pixels.
                assert width == (f"{image.size[0]}" if size == "screen" else
                                 f"{qr.SIZES[size][1]:.1f}mm"), (size, width)
                if size in ("screen", "a6"):
                    svgs[(target, tag, size)] = (r.content, wanted)
    # The SVGs as a browser draws them (an A6 code is 8 cm: about 300 CSS pixels).
    async with chromium() as browser_:
        page = await (await browser_.new_context(viewport={"width": 800, "height": 800})).new_page()
        for key, (svg, wanted) in svgs.items():
            await page.set_content(f'<img id="qr" alt="" src="data:image/svg+xml;base64,{base64.b64encode(svg).decode()}">')
            shot = await page.locator("#qr").screenshot()
            assert decode_png(shot) == [wanted], key


@pytest.mark.gen_test(timeout=60)
async def test_bad_qr_options_are_refused_with_the_reason(services, factory, browser, db):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    b = await staff(factory, browser, space)
    base = f"/admin/spaces/{space['_id']}/campaigns/{found['_id']}/qr"
    tag_rule = "A source tag is 1 to 24 lower-case Latin letters, digits and hyphens (for example “hall-poster”)."
    for query, message in (({"tag": "Hall"}, tag_rule), ({"tag": "hall poster"}, tag_rule),
                           ({"tag": "a" * 25}, tag_rule), ({"tag": "зал"}, tag_rule), ({"tag": "x&src=push"}, tag_rule),
                           ({"size": "a0"}, "Choose a size."), ({"format": "gif"}, "Choose SVG or PNG."),
                           ({"target": "admin"}, "Choose where the code leads.")):
        r = await b.get(f"{base}?{urlencode(query)}")
        assert r.status_code == 400 and refusal(r) == message, (query, refusal(r))
        assert r.headers["content-type"].startswith("text/html")
    # The defaults: an A4 SVG of the campaign's page.
    r = await b.get(base)
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml" and b'180.0mm' in r.content
    # Another space's staff: not theirs.
    outsider = await staff(factory, browser, await factory.space())
    assert (await outsider.get(base)).status_code == 403


@pytest.mark.gen_test(timeout=90)
async def test_gifts_are_counted_under_the_source_of_the_address_they_came_from(services, factory, browser, db):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    donor = await factory.user(name="Quinn")
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 10000, "currency": "EUR"})
    b = browser(locale="en")
    await b.sign_in(donor["login"], factory.PASSWORD)
    page = f"/campaigns/{found['_id']}"
    # (the address the donor came by, the source it records, the amount)
    for query, source, amount in (("?src=qr-hall-2", "qr-hall-2", "5"), ("?src=qr-hall-2", "qr-hall-2", "7"),
                                  ("?src=qr", "qr", "3"), ("?src=widget", "widget", "2"), ("", "direct", "1"),
                                  ("?src=Bad%20Src%3Cb%3E", "direct", "4"), ("?src=push", "push", "6")):
        page_text = (await b.get(page + query)).text
        assert f'name="source" value="{source}"' in page_text, query
        r = await b.post(page + "/give", {"key": key_of(page_text), "currency": "EUR", "amount": amount,
                                          "method": "wallet", "source": source})
        assert r.status_code == 302, refusal(r)
    # A forged form (a source no address gives) is refused and stores nothing.
    page_text = (await b.get(page)).text
    r = await b.post(page + "/give", {"key": key_of(page_text), "currency": "EUR", "amount": "1", "method": "wallet",
                                      "source": "<script>"})
    assert r.status_code == 400 and refusal(r) == \
        "This form was changed: please open the campaign's page again."
    assert await db.donations.count_documents({}) == 7
    assert await sources.counts(db, found["_id"]) == [
        {"source": "qr-hall-2", "donations": 2, "raised": 1200}, {"source": "push", "donations": 1, "raised": 600},
        {"source": "direct", "donations": 2, "raised": 500}, {"source": "qr", "donations": 1, "raised": 300},
        {"source": "widget", "donations": 1, "raised": 200}]
    # A gift made before sources were recorded counts as direct.
    await db.donations.update_one({"amount": 100}, {"$unset": {"source": ""}})
    assert (await sources.counts(db, found["_id"]))[2] == {"source": "direct", "donations": 2, "raised": 500}
    admin = await staff(factory, browser, space)
    page_text = (await admin.get(f"/admin/spaces/{space['_id']}/campaigns/{found['_id']}")).text
    row = re.search(r'<tr data-source="qr-hall-2">(.*?)</tr>', page_text).group(1)
    assert "<code>qr-hall-2</code>" in row and ">2<" in row and "12.00" in row


@pytest.mark.gen_test(timeout=60)
async def test_staff_choose_who_may_frame_the_widget_and_a_bad_site_changes_nothing(services, factory, browser, db):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    b = await staff(factory, browser, space)
    base = f"/admin/spaces/{space['_id']}/campaigns/{found['_id']}"
    page_text = (await b.get(base)).text
    # The snippets point at the widget at the site's public address, in three sizes.
    for size in ("compact", "bar", "full"):
        assert f"&lt;iframe src=&#34;{services.settings.public_url}/campaigns/{found['_id']}/widget?size={size}" \
            in page_text or f'&lt;iframe src="{services.settings.public_url}/campaigns/{found["_id"]}/widget?size={size}' \
            in page_text, size
    for mode, origins, message in (
            ("listed", "http://stream.example.org", "“http://stream.example.org” is not a site's address: write it "
                                                    "as https://example.org (https, no path)."),
            ("listed", "https://ok.example\nhttps://stream.example.org/embed", "“https://stream.example.org/embed” is "
                                                                              "not a site's address: write it as "
                                                                              "https://example.org (https, no path)."),
            ("listed", "https://a.example:99999", "“https://a.example:99999” is not a site's address: write it as "
                                                  "https://example.org (https, no path)."),
            ("listed", "", "List at least one site, or choose another option."),
            ("listed", "\n".join(f"https://s{i}.example" for i in range(21)), "At most 20 sites may be listed."),
            ("everyone", "", "Choose who may show the widget.")):
        r = await b.post(base + "/embedding", {"mode": mode, "origins": origins})
        assert r.status_code == 400 and refusal(r) == message, (origins, refusal(r))
        assert "embed" not in await db.donation_campaigns.find_one({"_id": found["_id"]})
    r = await b.post(base + "/embedding", {"mode": "listed", "origins": "https://Stream.Example.org/\n\n"
                                                                          "https://*.partner.example:8443\n"
                                                                          "https://stream.example.org"})
    assert r.status_code == 302
    stored = await db.donation_campaigns.find_one({"_id": found["_id"]})
    assert stored["embed"] == {"mode": "listed", "origins": ["https://stream.example.org",
                                                             "https://*.partner.example:8443"]}
    assert embedding.frame_ancestors(stored) == "https://stream.example.org https://*.partner.example:8443"
    assert await db.audit.find_one({"action": "donations.campaign_embed"})
    widget = await browser().get(f"/campaigns/{found['_id']}/widget")
    assert "frame-ancestors https://stream.example.org https://*.partner.example:8443" in \
        widget.headers["content-security-policy"] and "x-frame-options" not in widget.headers
    # A member without the donations permission cannot change it.
    moderator = browser(locale="en")
    member = await factory.member(R.EVENT_MANAGER, event=await factory.event(space))
    await moderator.sign_in(member["login"], factory.PASSWORD)
    r = await moderator.post(base + "/embedding", {"mode": "any", "origins": ""})
    assert r.status_code == 403 and (await db.donation_campaigns.find_one({"_id": found["_id"]}))["embed"] == \
        stored["embed"]


@pytest.mark.gen_test(timeout=60)
async def test_the_widgets_give_link_carries_its_source(services, factory, browser):
    found = await campaign(services, factory)
    b = browser(locale="en")
    for query, source in (("", "widget"), ("?src=qr-stage", "qr-stage"), ("?src=Not%20valid", "widget"),
                          ("?size=bar&src=partner-site", None)):
        page = (await b.get(f"/campaigns/{found['_id']}/widget{query}")).text
        links = re.findall(r'<a href="([^"]+)" target="_blank" rel="noopener">', page)
        assert links == ([f"/campaigns/{found['_id']}?src={source}"] if source else []), (query, links)


@pytest.mark.gen_test(timeout=60)
async def test_the_live_frame_names_the_latest_donor_unless_anonymous(services, factory, base_url, http_server, db):
    found = await campaign(services, factory)
    donor = await factory.user(name="Ada")
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 5000, "currency": "EUR"})
    live = await Totals.follow(base_url, found["_id"])
    assert (await live.next())["latest"] is None
    await giving.give(services, found, amount="5", currency="EUR", key="latest-gift-1", method="wallet", user=donor)
    frame = await live.until(lambda f: f.get("raised") == 500)
    assert frame["latest"] == {"amount": 500, "name": "Ada"}
    await giving.give(services, found, amount="7", currency="EUR", key="latest-gift-2", method="wallet", user=donor,
                      anonymous=True)
    frame = await live.until(lambda f: f.get("raised") == 1200)
    assert frame["latest"] == {"amount": 700, "name": ""}
    live.close()
    page = (await (await Totals.follow(base_url, found["_id"])).next())
    assert page["latest"] == {"amount": 700, "name": ""}
