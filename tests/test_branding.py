"""A space's logo and colours: set on the space's page, checked, shown on its event pages."""
import re

import pytest

from access import roles as R
from events import branding, view
from media import image_store
from tests.support import error_text, translated
from tests.test_admin_events import last_audit, person, snapshot
from tests.test_slides import png


def test_contrast_is_the_wcag_ratio():
    assert round(branding.contrast("#000000", "#ffffff"), 2) == 21.0
    assert round(branding.contrast("#1f5fbf", "#ffffff"), 2) == 6.09
    assert branding.contrast("#777777", "#ffffff") < 4.5 < branding.contrast("#767676", "#ffffff")


@pytest.mark.gen_test(timeout=60)
async def test_space_admin_sets_logo_and_colours_shown_on_event_pages(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await person(browser, factory, R.SPACE_ADMIN, space=space)
    logo = png(size=(200, 100))
    r = await b.post(f"/admin/spaces/{space['_id']}/branding", {"accent": "#0B5D3B ", "accent_text": "#ffffff"},
                     files={"logo": ("logo.png", logo, "image/png")})
    assert r.status_code == 302, error_text(r.text)
    saved = (await db.spaces.find_one({"_id": space["_id"]}))["branding"]
    media_id = (await image_store.inspect(logo, 10**6))["_id"]
    assert saved == {"accent": "#0b5d3b", "accent_text": "#ffffff",
                     "logo": {"media_id": media_id, "width": 200, "height": 100}}
    entry = await last_audit(db, "space_branding")
    assert entry["after"] == {"accent": "#0b5d3b", "accent_text": "#ffffff", "logo": media_id}

    attendee = await factory.member(R.ATTENDEE, event=event)
    viewer = browser()
    await viewer.sign_in(attendee["login"], factory.PASSWORD)
    page = (await viewer.get(view.path(space, event))).text
    assert f'<img class="space-logo" src="/media/{media_id}" width="96" height="48"' in page
    href = re.search(r'<link rel="stylesheet" href="(/spaces/[^"]+/brand\.css\?v=\w+)">', page).group(1)
    assert '<div id="event" class="branded"' in page
    css = await browser().get(href)          # no session needed
    assert css.headers["content-type"].startswith("text/css")
    # Dark enough to read on white: the page's accent follows the brand too.
    assert css.text == ("#event.branded { --brand: #0b5d3b; --brand-fg: #ffffff; }\n"
                        "#event.branded { --accent: #0b5d3b; --accent-fg: #ffffff; }\n")

    # A light accent with dark text: the band only; links and tabs keep the standard accent.
    r = await b.post(f"/admin/spaces/{space['_id']}/branding", {"accent": "#ffd400", "accent_text": "#1b1f2a"})
    assert r.status_code == 302
    css = await browser().get(f"/spaces/{space['slug']}/brand.css")
    assert css.text == "#event.branded { --brand: #ffd400; --brand-fg: #1b1f2a; }\n"
    assert (await db.spaces.find_one({"_id": space["_id"]}))["branding"]["logo"]["media_id"] == media_id

    # Both cleared, the logo removed: the standard look, no stylesheet linked.
    r = await b.post(f"/admin/spaces/{space['_id']}/branding", {"accent": "", "accent_text": "", "remove_logo": "1"})
    assert r.status_code == 302
    page = (await viewer.get(view.path(space, event))).text
    assert "brand.css" not in page and "space-logo" not in page and 'class="branded"' not in page


@pytest.mark.parametrize("form, message, params", [
    ({"accent": "#ffd400", "accent_text": "#ffffff"}, branding.LOW_CONTRAST, {"ratio": "1.43", "min": 4.5}),
    ({"accent": "#777777", "accent_text": "#ffffff"}, branding.LOW_CONTRAST, {"ratio": "4.47", "min": 4.5}),
    ({"accent": "1f5fbf", "accent_text": "#ffffff"}, branding.BAD_COLOUR, {}),
    ({"accent": "#1f5fbf", "accent_text": "white"}, branding.BAD_COLOUR, {}),
    ({"accent": "#1f5fbf", "accent_text": ""}, branding.BOTH_OR_NEITHER, {}),
])
@pytest.mark.gen_test(timeout=60)
async def test_unreadable_or_malformed_colours_are_refused_in_the_readers_language(
        form, message, params, browser, factory, db, services):
    space = await factory.space()
    _, b = await person(browser, factory, R.SPACE_ADMIN, space=space, locale="de")
    before = await snapshot(db)
    # A good logo alongside is not stored either: the form is saved whole or not at all.
    r = await b.post(f"/admin/spaces/{space['_id']}/branding", form, files={"logo": ("logo.png", png(), "image/png")})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "de", message, **params)
    assert translated(services, "de", message) != message
    assert await snapshot(db) == before
    assert await db.media.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_logo_that_is_not_an_image_is_refused(browser, factory, db, services):
    space = await factory.space()
    _, b = await person(browser, factory, R.SPACE_ADMIN, space=space, locale="he")
    before = await snapshot(db)
    r = await b.post(f"/admin/spaces/{space['_id']}/branding", {"accent": "#1f5fbf", "accent_text": "#ffffff"},
                     files={"logo": ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "he", image_store.NOT_AN_IMAGE)
    assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=30)
async def test_an_unknown_space_has_no_stylesheet(browser):
    r = await browser().get("/spaces/no-such-space/brand.css")
    assert r.status_code == 404
