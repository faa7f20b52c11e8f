"""The event page an attendee watches, and the countdown in front of it.

Access (`access.rules.admission`, the same rule as the live socket's): a
membership in the event or its space, or platform admin.  Before the gate
opens, people without the "enter early" permission see the
countdown, which waits for the gate over the event's WebSocket and loads
the event page once it opens (static/js/gate.js); staff pass with a banner
saying attendees do not see the page yet.  What the page shows comes from
`events.view`; the open donation campaigns tied to the event show their
totals beside it, climbing live (`static/js/campaign.js`).

Asked with `Accept: application/json` (a client that is not a browser), the
event page answers what such a client needs to open the live socket, under
the same access rule: the event's id, languages and gate (docs/http.md).
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlparse

from access import roles as R
from access import rules
from community import pages as community_pages
from core import money
from donations import campaigns as donation_campaigns
from donations import totals as donation_totals
from events import branding, model, privacy, programme, sessions, view
from handlers.base import BaseHandler, PageError
from quizzes import authoring as quiz_authoring
from reactions import totals as reaction_totals
from registration import invitations, session_seats, watching
from registration.model import OFFERED, REGISTERED, WAITING

SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
# What a visitor refused by the event's privacy verdict is told on its public pages: why, and what to do.
REFUSALS = {
    rules.NEEDS_SIGN_IN: "sign_in",
    rules.NOT_ON_LIST: "not_on_list",
    rules.NEEDS_INVITATION: "invitation",
}


def seat_button(_, entry: dict[str, Any]) -> tuple[str, str]:
    """(action, label) of the one button a session with a capacity shows, given `session_seats.view_for`'s entry."""
    state = entry.get("state")
    if state == REGISTERED:
        return "give_up", _("You have a seat — give it up")
    if state == OFFERED:
        return "accept", _("A seat is offered — accept")
    if state == WAITING:
        return "give_up", _("You are on the waiting list — leave it")
    if entry.get("left"):
        return "take", _("Take a seat (%(count)s left)") % {"count": entry["left"]}
    return "take", _("Join the waiting list")


class EventViewer(BaseHandler):
    """The access rule of the event page, shared by the attendee pages around it."""

    async def open_event(self, space_slug, event_slug, summary: bool = False) -> tuple[dict, dict, dict] | None:
        """(space, event, can) when the viewer may see the event's pages now.

        None when the answer is already given: the sign-in page for a visitor
        whom signing in may admit, the event's public page (`/about`) for one
        whom privacy admits but who is not registered, the refusal page
        (why, and what to do) for one it does not, the countdown while the
        gate is closed to them (`summary`: the event as JSON instead, to a
        client that asks for JSON).  Watching needs a registration (or a
        staff role); privacy (`events.privacy.verdict`) decides who may see
        the public page and register.  Also sets `self.main_event` (a channel's main event, else the event) and
        `self.may_see_session`.
        """
        space, event = await model.get_event_by_slugs(self.db, space_slug, event_slug)
        if not event:
            raise PageError(404, self._("This event does not exist."))
        roles = await R.roles_in(self.db, self.current_user, **R.event_scopes(event))
        admission = rules.admission(roles, model.gate_open(event))
        if admission == rules.REFUSED:
            await self.privacy_refusal(space, event, roles)
            return None
        # A channel's sessions are its main event's, and so are their privacy and invitations.
        self.main_event = await sessions.main_of(self.db, event)
        privacy_admits = await privacy.session_filter(self.db, self.main_event, self.current_user, roles)
        # A ticket's sessions (`access.rules.may_enter_session`): one not granted is not entered.
        self.may_see_session = lambda item: privacy_admits(item) and rules.may_enter_session(roles, item.get("id"))
        self.may_watch_recording = lambda item_id: rules.may_watch_recording(roles, item_id)
        can = rules.page_access(roles)
        self._staff_hint = can["manage"]
        self.set_header("Cache-Control", "no-store")
        if admission == rules.WAIT:
            if summary and self.wants_json():
                self.write_summary(space, event)
            else:
                self.render_page("public/countdown.html", event=event, space=space,
                                 countdown=view.countdown(event, self.locale_code))
            return None
        return space, event, can

    async def privacy_refusal(self, space: dict, event: dict, roles) -> None:
        """Answer a visitor who may not watch: where to go, or why not and what to do.

        An invitation link (`?invite=`) carried here goes on to the public
        page; one that admits nobody is refused with its reason, nothing
        written.
        """
        token = self.get_query_argument("invite", "") or None
        self.set_header("Cache-Control", "no-store")
        if token:
            state = await invitations.token_state(self.db, event, self.current_user, token)
            if state != invitations.VALID:
                self.refuse(space, event, "invite_" + state,
                            self._(invitations.TOKEN_MESSAGES[state]), status=403)
                return
        verdict = await privacy.verdict(self.db, event, self.current_user, roles, token)
        about = view.path(space, event) + "/about" + (f"?invite={quote(token, safe='')}" if token else "")
        if self.wants_json():
            if not self.current_user:
                raise PageError(401, self._("Please sign in first."))
            raise PageError(403, self._("You are not registered for this event."))
        if verdict == rules.ADMITTED:
            self.redirect(about)
        elif verdict == rules.NEEDS_SIGN_IN and not token:
            self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
        else:
            self.refuse(space, event, verdict, None, status=403)

    def refuse(self, space: dict, event: dict, reason: str, message: str | None, status: int) -> None:
        """The refusal page: why this person may not see the event, and what they can do."""
        self.render_page("public/privacy_refused.html", status=status, space=space, event=event,
                         reason=reason, message=message,
                         title=view.text(event, event["title"], self.locale_code),
                         signin_url="/signin?next=" + quote(self.request.uri, safe=""))

    def write_summary(self, space: dict, event: dict) -> None:
        """The event as a client that is not a browser needs it to open `/ws?event=<id>`."""
        start = event["gate"].get("official_start")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({
            "id": str(event["_id"]), "space": space["slug"], "slug": event["slug"],
            "title": view.text(event, event["title"], self.locale_code),
            "locales": list(event["locales"]), "default_locale": event["default_locale"],
            "gate": {"open": model.gate_open(event),
                     "official_start": start.isoformat().replace("+00:00", "Z") if start else None},
            "socket": f"/ws?event={event['_id']}",
        }))


class EventPageHandler(EventViewer):
    async def get(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug, summary=True)
        if opened is None:
            return
        space, event, can = opened
        if self.wants_json():
            self.write_summary(space, event)
            return
        # Sessions, tracks and channels: a channel shows its main event's sessions that run in it.
        main = self.main_event
        # Watching a channel is watching its main event, where the registration is.
        await watching.note_watched(self.db, main["_id"], self.current_user["_id"])
        track = self.get_query_argument("track", "").strip()[:32] or None
        channels = [{"id": str(c["_id"]), "title": view.text(c, c["title"], self.locale_code),
                     "path": view.path(space, c)} for c in await sessions.channels_of(self.db, main)]
        look = branding.of(space)
        self.render_page("public/event.html", event=event, space=space, can=can,
                         look=look, logo_size=branding.logo_size(look["logo"]) if look["logo"] else None,
                         brand_version=branding.version(space) if branding.stylesheet(space) else None,
                         page=view.page(event, self.locale_code, self.may_see_session, main=main, track=track,
                                        recordings=self.may_watch_recording),
                         channels=channels, main_event=None if main is event else {
                             "title": view.text(main, main["title"], self.locale_code),
                             "path": view.path(space, main)},
                         staff_preview=not model.gate_open(event),
                         banner=view.banner(event),
                         programme_ids=await self.programme_ids(main),
                         seats=await self.seats(main),
                         has_community=await community_pages.has_published(self.db, event["_id"]),
                         has_quizzes=await quiz_authoring.has_open(self.db, event["_id"]),
                         reactions=reaction_totals.REACTIONS,
                         campaigns=await self.campaigns(main))

    async def campaigns(self, main: dict) -> list[dict]:
        """The event's open donation campaigns with their totals (climbing live: `static/js/campaign.js`)."""
        found = await donation_campaigns.of_event(self.db, main["_id"])
        sums = await donation_totals.of(self.db, [c["_id"] for c in found])
        return [{"campaign": c, "title": donation_campaigns.title(c, self.locale_code), **sums[c["_id"]],
                 "percent": donation_totals.percent(sums[c["_id"]]["raised"], c["goal"]),
                 "exponent": money.exponent(c["currency"])} for c in found]


    async def seats(self, main: dict) -> dict[str, dict[str, Any]]:
        """Each shown session with a capacity: its seats, the viewer's seat and the button it gives them."""
        shown = await session_seats.view_for(self.db, main, self.current_user["_id"],
                                             programme.visible_items(main, self.may_see_session).values())
        for entry in shown.values():
            entry["action"], entry["label"] = seat_button(self._, entry)
        return shown

    async def programme_ids(self, main: dict) -> set[str]:
        """The sessions of the viewer's programme (the main event's, on a channel's page too): saved ones,
        and those with a capacity where they have a seat."""
        saved = set(await programme.saved_ids(self.db, self.current_user["_id"], main["_id"]))
        seated = await session_seats.seated_ids(self.db, main["_id"], self.current_user["_id"])
        limited = {i["id"] for i in main["schedule"] if sessions.capacity_of(i) is not None}
        return (saved - limited) | seated


class ProgrammeToggleHandler(EventViewer):
    """Adds a session to the viewer's programme or takes it out (POST item, saved=1|0).

    A plain form post comes back to the schedule with a notice; the page's
    script posts the same form asking for JSON and stays where it is.
    """

    async def post(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, _ = opened
        item = self.form("item", max_length=programme.MAX_ITEM_ID)
        wanted = self.form("saved")
        if wanted not in ("0", "1"):
            raise PageError(400, self._("The request was not understood."))
        # A channel's sessions are its main event's, and so is the programme they are saved to.
        main = self.main_event
        try:
            ids = await programme.set_saved(self.db, self.current_user["_id"], main, item, wanted == "1",
                                            self.may_see_session, shown_in=event)
        except programme.ProgrammeError as exc:
            raise PageError(400, self.refusal(exc)) from None
        message = self._("Added to your programme.") if wanted == "1" else self._("Removed from your programme.")
        if self.wants_json():
            seated = await session_seats.seated_ids(self.db, main["_id"], self.current_user["_id"])
            shown = await programme.saved_items(self.db, self.current_user["_id"], main, self.may_see_session,
                                                seated=seated)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"item": item, "saved": item in ids, "message": message,
                                    "items": [i["id"] for i in shown]}))
            return
        self.flash(message)
        self.redirect(view.path(space, event) + "#programme")


class ProgrammeCalendarHandler(EventViewer):
    """The viewer's programme as an iCalendar file for their calendar app."""

    async def get(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, _ = opened
        # The person's programme of the whole event, from a channel's page too.
        event = self.main_event
        seated = await session_seats.seated_ids(self.db, event["_id"], self.current_user["_id"])
        items = await programme.saved_items(self.db, self.current_user["_id"], event, self.may_see_session,
                                            seated=seated)
        title = view.text(event, event["title"], self.locale_code)
        descriptions = {}
        for item in items:
            lines = [self._("Speaker: %(name)s") % {"name": item["speaker"]}] if item.get("speaker") else []
            lines.append(title)
            descriptions[item["id"]] = "\n".join(lines)
        public = self.services.settings.public_url.rstrip("/")
        body = programme.calendar(
            event, items, name=self._("My programme: %(event)s") % {"event": title},
            titles={i["id"]: view.text(event, i.get("title"), self.locale_code) for i in items},
            descriptions=descriptions, url=public + view.path(space, event),
            host=urlparse(public).hostname or "livehall")
        self.set_header("Content-Type", "text/calendar; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="programme-{event["slug"]}.ics"')
        self.finish(body)


class SpaceStylesheetHandler(BaseHandler):
    """GET /spaces/<slug>/brand.css: the space's colours for its event pages (`events.branding`).

    Served to anyone without a session: colours are no secret, and every
    viewer of every event page of the space loads it.  The page links it
    with `?v=` naming the colours, so it is cached for long.
    """

    async def prepare(self):
        self.locale_code = self.choose_locale()

    async def get(self, space_slug):
        space = await self.db.spaces.find_one({"slug": space_slug}, {"branding": 1})
        if space is None:
            raise PageError(404, self._("This page does not exist."))
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(branding.stylesheet(space))


ROUTES = [
    (rf"/spaces/(?P<space_slug>{SLUG})/brand\.css", SpaceStylesheetHandler),
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/programme", ProgrammeToggleHandler),
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/programme\.ics", ProgrammeCalendarHandler),
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})", EventPageHandler),
]
