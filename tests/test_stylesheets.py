"""The render-blocking stylesheet every page loads holds only what every page uses.

Styles of the staff pages (static/css/staff.css) and of the event page's live
parts (static/css/live.css) come only with the pages that show them, and every
page still gets app.css first.  The meta description and the favicon are on
every page too.
"""
import os
import re

import pytest

from access import roles as R
from events import view
from tests.cluster import ROOT

# app.css blocks the first paint of every page (it was 40 KB, most of it unused on any one page).
COMMON_LIMIT = 24 * 1024


def stylesheets(html: str) -> list[str]:
    return [re.sub(r"\?v=\w+$", "", href) for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)]


def test_the_stylesheet_every_page_loads_is_small():
    sizes = {name: os.path.getsize(os.path.join(ROOT, "static", "css", name)) for name in
             ("app.css", "staff.css", "live.css")}
    assert sizes["app.css"] <= COMMON_LIMIT, sizes


@pytest.mark.gen_test
async def test_each_page_loads_the_styles_it_shows(browser, factory, services):
    event = await factory.event()
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    visitor = browser()
    r = await visitor.get("/signin")
    assert stylesheets(r.text) == ["/static/css/app.css"]
    staff = browser()
    await staff.sign_in(admin["login"], factory.PASSWORD)
    expected = {view.path(space, event): ["/static/css/app.css", "/static/css/live.css"],
                view.path(space, event) + "/support": ["/static/css/app.css", "/static/css/live.css"],
                "/": ["/static/css/app.css"],
                f"/admin/events/{event['_id']}": ["/static/css/app.css", "/static/css/staff.css"],
                f"/admin/events/{event['_id']}/console": ["/static/css/app.css", "/static/css/staff.css"],
                f"/admin/events/{event['_id']}/checkin": ["/static/css/app.css", "/static/css/staff.css"],
                f"/admin/events/{event['_id']}/orders/revenue": ["/static/css/app.css", "/static/css/staff.css",
                                                         "/static/vendor/uPlot.min.css"]}
    for path, sheets in expected.items():
        r = await staff.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert stylesheets(r.text) == sheets, path
        assert re.search(r'<meta name="description" content="[^"]{20,}">', r.text), path
        assert '<link rel="icon" href="/static/favicon.svg?v=' in r.text, path
    for sheet in ("app.css", "staff.css", "live.css"):
        r = await staff.get(f"/static/css/{sheet}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
