"""A client written from docs/http.md and docs/protocol.md alone works with the server.

`DocClient` uses only what the documents say: every path, field, cookie and
header is a constant below, with the section it comes from; the test also
checks that each of them is written in the document it names.  The set-up
(an event, its slides, an attendee's mailed sign-in link, an admin's
password) stands for what an organiser gives the client's user.
"""
import datetime
import json
import os

import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from access import roles as R
from accounts import tokens
from tests.test_realtime import seeded

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")

# docs/http.md, "Forms and the XSRF token"
XSRF_COOKIE = "_xsrf"
XSRF_FIELD = "_xsrf"
XSRF_HEADER = "X-Xsrftoken"
XSRF_PAGE = "/signin"
# docs/http.md, "Getting a session"
SESSION_COOKIE = "lh_session"
SIGNIN_PATH = "/signin"                       # "With a login or email and a password"
IDENTIFIER_FIELD, PASSWORD_FIELD = "identifier", "password"
LINK_PATH = "/signin/link/{token}"            # "With a sign-in link"
# docs/http.md, "The event id"
JSON = {"Accept": "application/json"}
# docs/http.md, "Staff control actions"
CONTROL_ACTION = "/admin/events/{event_id}/control/{action}"
SLIDE_GOTO, SLIDE_NUMBER_FIELD = "slide_goto", "number"
# docs/protocol.md, "Connecting" and "Client frames"
JOIN, SEND = "join", "send"

HTTP_DOC_TERMS = [XSRF_COOKIE, XSRF_HEADER, SESSION_COOKIE, SIGNIN_PATH, IDENTIFIER_FIELD, PASSWORD_FIELD,
                  "/signin/link/<token>", "Accept: application/json", "/admin/events/<event id>/control/<action>",
                  SLIDE_GOTO, SLIDE_NUMBER_FIELD, '"socket"', '"id"']
PROTOCOL_DOC_TERMS = ["/ws?event=", "welcome", "rooms", JOIN, SEND, "client_id", "ack", "state_version"]


class DocClient:
    """One device: a cookie jar, and the socket it opens."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30)
        self.ws = None

    async def xsrf(self) -> str:
        if XSRF_COOKIE not in self.http.cookies:
            await self.http.get(XSRF_PAGE)
        return self.http.cookies[XSRF_COOKIE]

    async def post(self, path: str, fields: dict, headers: dict | None = None) -> httpx.Response:
        return await self.http.post(path, data={**fields, XSRF_FIELD: await self.xsrf()}, headers=headers)

    async def sign_in(self, identifier: str, password: str) -> str:
        r = await self.post(SIGNIN_PATH, {IDENTIFIER_FIELD: identifier, PASSWORD_FIELD: password})
        assert r.status_code == 302 and SESSION_COOKIE in r.cookies, r.status_code
        return r.headers["Location"]

    async def sign_in_by_link(self, token: str) -> str:
        path = LINK_PATH.format(token=token)
        assert (await self.http.get(path)).status_code == 200      # shows the page, uses nothing up
        r = await self.post(path, {})
        assert r.status_code == 302, r.status_code
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith(SESSION_COOKIE + "=")
        for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "expires="):
            assert attribute.lower() in cookie.lower(), (attribute, cookie)
        return r.headers["Location"]

    async def event(self, page: str) -> dict:
        r = await self.http.get(page, headers=JSON)
        assert r.status_code == 200, r.status_code
        return r.json()

    async def open_socket(self, socket_path: str) -> None:
        url = self.base_url.replace("http", "ws", 1) + socket_path
        cookie = f"{SESSION_COOKIE}={self.http.cookies[SESSION_COOKIE]}"
        self.ws = await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie}))

    async def frame(self, type_: str, **fields) -> dict:
        """The next frame of this type (and these values); `messages` frames are read item by item."""
        while True:
            raw = await self.ws.read_message()
            assert raw is not None, f"closed while waiting for {type_}: {self.ws.close_code}"
            frame = json.loads(raw)
            for item in frame["items"] if frame["type"] == "messages" else [frame]:
                if item["type"] == type_ and all(item.get(k) == v for k, v in fields.items()):
                    return item

    async def send(self, frame: dict) -> None:
        await self.ws.write_message(json.dumps(frame))

    async def control(self, event_id: str, action: str, fields: dict) -> tuple[int, dict]:
        r = await self.post(CONTROL_ACTION.format(event_id=event_id, action=action), fields, headers=JSON)
        return r.status_code, r.json()


def test_the_documents_say_what_the_client_uses():
    with open(os.path.join(DOCS, "http.md")) as f:
        http_doc = f.read()
    with open(os.path.join(DOCS, "protocol.md")) as f:
        protocol_doc = f.read()
    assert [t for t in HTTP_DOC_TERMS if t not in http_doc] == []
    assert [t for t in PROTOCOL_DOC_TERMS if t not in protocol_doc] == []
    assert "http.md" in protocol_doc


@pytest.mark.gen_test(timeout=30)
async def test_a_client_from_the_documents_signs_in_chats_and_flips_a_slide(factory, base_url, http_server, db):
    event = await seeded(factory)
    attendee = await factory.member(R.ATTENDEE, event=event, locale="de")
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    link = await tokens.issue(db, attendee["_id"], tokens.SIGNIN, datetime.timedelta(days=1), event["_id"])

    viewer = DocClient(base_url)
    page = await viewer.sign_in_by_link(link)           # the link leads to its event's page
    found = await viewer.event(page)
    assert found["id"] == str(event["_id"]) and found["gate"]["open"] is True
    await viewer.open_socket(found["socket"])
    welcome = await viewer.frame("welcome")
    first = await viewer.frame("state")
    room = welcome["rooms"][0]
    await viewer.send({"type": JOIN, "room": room, "ref": "j"})
    await viewer.frame("joined", room=room, ref="j")
    await viewer.send({"type": SEND, "room": room, "text": "Hallo", "client_id": "m-1", "ref": "s"})
    ack = await viewer.frame("ack", ref="s")
    echoed = await viewer.frame("message", room=room, offset=ack["offset"])
    assert echoed["text"] == "Hallo" and echoed["user"]["id"] == welcome["user"]["id"]

    staff = DocClient(base_url)
    await staff.sign_in(admin["email"], factory.PASSWORD)
    status, answer = await staff.control(found["id"], SLIDE_GOTO, {SLIDE_NUMBER_FIELD: "2"})
    assert status == 200 and answer["ok"] is True
    assert answer["state"]["slides"]["locales"]["de"]["number"] == 2
    flipped = await viewer.frame("state")
    assert flipped["state_version"] > first["state_version"] and flipped["state"]["slides"]["number"] == 2

    # Refusals come as the document says: 400 with the stored state, 404 for an unknown action.
    status, answer = await staff.control(found["id"], SLIDE_GOTO, {SLIDE_NUMBER_FIELD: "99"})
    assert status == 400 and answer["error"] == 400 and answer["state"]["slides"]["index"] == 1
    status, answer = await staff.control(found["id"], "slide_sideways", {})
    assert status == 404 and answer["error"] == 404
    r = await staff.http.post(CONTROL_ACTION.format(event_id=found["id"], action="slide_next"), headers=JSON)
    assert r.status_code == 403 and r.json()["error"] == 403   # no XSRF token
    viewer.ws.close()
    for c in (viewer, staff):
        await c.http.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_the_event_page_answers_json_under_its_access_rule(factory, base_url, http_server, db):
    event = await seeded(factory)
    space = await db.spaces.find_one({"_id": event["space_id"]})
    page = f"/e/{space['slug']}/{event['slug']}"
    stranger = DocClient(base_url)
    r = await stranger.http.get(page, headers=JSON)
    assert r.status_code == 401 and r.json()["error"] == 401
    outsider = await factory.user()
    await stranger.sign_in(outsider["email"], factory.PASSWORD)
    r = await stranger.http.get(page, headers=JSON)
    assert r.status_code == 403 and r.json()["error"] == 403

    await db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.mode": "closed"}})
    attendee = await factory.member(R.ATTENDEE, event=event)
    viewer = DocClient(base_url)
    await viewer.sign_in(attendee["email"], factory.PASSWORD)
    found = await viewer.event(page)
    assert found["id"] == str(event["_id"]) and found["gate"]["open"] is False
    assert found["socket"] == f"/ws?event={event['_id']}" and found["locales"] == event["locales"]
    assert (await viewer.http.get(page)).headers["Content-Type"].startswith("text/html")
    for c in (stranger, viewer):
        await c.http.aclose()
