"""A space's public catalogue (/s/<space>) and an event's public page (/e/<space>/<event>/about).

Both are open to visitors without an account.  The catalogue lists only
what `events.catalogue` lets it list (public events; signed-in-only ones to
people signed in).  The public page is shown to whoever
`events.privacy.verdict` admits (a link-only event to anyone with the link;
an invitation's `?invite=` token is checked there and passed on to the
register link), with the sessions `events.privacy.session_filter` lets them
see; anyone else gets a 403 page that says why and what to do, and nothing
of the event but that it exists.  Neither page writes anything.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

from access import roles as R
from access import rules
from core.clock import utcnow
from core.pagination import Page, parse_page
from events import about, catalogue, model, privacy, view
from handlers.base import BaseHandler, PageError
from handlers.event import REFUSALS, SLUG
from orders import shop
from registration import cabinet, recommend
from registration import model as reg

PER_PAGE = 20
MAX_TOKEN = 200


class CatalogueHandler(BaseHandler):
    async def get(self, space_slug):
        # The listing may come from a secondary (`MONGODB_CATALOGUE_READS`): it shows what anyone
        # may see, and a second's lag harms nobody.  The person's recommendations read their own
        # registrations, so they come from the primary.
        listing = self.services.storage.catalogue_db
        space = await listing.spaces.find_one({"slug": space_slug})
        if not space:
            raise PageError(404, self._("This page does not exist."))
        filters = catalogue.parse_filters(self.get_query_argument("when", ""), self.get_query_argument("tag", ""),
                                          self.get_query_argument("lang", ""), self.get_query_argument("q", ""))
        number = parse_page(self.get_query_argument("page", "1"))
        signed_in = self.current_user is not None
        now = utcnow()
        events, total = await catalogue.page(listing, space["_id"], filters, signed_in=signed_in,
                                             skip=(number - 1) * PER_PAGE, limit=PER_PAGE, now=now)
        recommended = []
        if signed_in and number == 1:
            found = await recommend.for_person(self.db, self.current_user, space_ids=[space["_id"]], now=now)
            recommended = recommendation_cards(self, found, {space["_id"]: space})
        params = {k: v for k, v in (("when", filters.when), ("tag", filters.tag), ("lang", filters.language),
                                    ("q", filters.query)) if v}
        self.render_page("public/catalogue.html", space=space, filters=filters,
                         cards=[about.card(space, e, self.locale_code, now) for e in events],
                         page=Page(number, PER_PAGE, total), base_url=f"/s/{space['slug']}?" + urlencode(params),
                         when_urls={w: f"/s/{space['slug']}?" + urlencode({**params, "when": w})
                                    for w in catalogue.WHENS},
                         tags=await catalogue.tags_in_use(listing, space["_id"], signed_in=signed_in),
                         recommended=recommended)


def recommendation_cards(handler: BaseHandler, found: list[recommend.Recommendation], spaces: dict) -> list[dict]:
    """Recommendations as the catalogue and the cabinet show them, with their reason translated."""
    out = []
    for rec in found:
        event = rec.candidate.event
        space = spaces.get(event["space_id"])
        if space is None:
            continue
        source = rec.because.item or rec.because.event
        source_title = view.text(rec.because.event, source.get("title"), handler.locale_code)
        item = rec.candidate.item
        out.append({
            "title": view.text(event, (item or event).get("title"), handler.locale_code),
            "event_title": view.text(event, event["title"], handler.locale_code),
            "session": item is not None,
            # A session is saved on the event page; an event is registered for on its public page.
            "url": view.path(space, event) + ("#programme" if item else "/about"),
            "starts_at": item["starts_at"] if item else catalogue.start_of(event),
            "timezone": event["timezone"],
            "reason": handler._(recommend.REASONS[rec.because.kind]) % {"title": source_title},
            "shared": list(rec.shared),
        })
    return out


class AboutHandler(BaseHandler):
    async def get(self, space_slug, event_slug):
        space, event = await model.get_event_by_slugs(self.db, space_slug, event_slug)
        if not event or not space:
            raise PageError(404, self._("This event does not exist."))
        if event.get("parent_id"):
            await self.redirect_to_main(event, "/about")
            return
        user = self.current_user
        token = self.get_query_argument("invite", "").strip()[:MAX_TOKEN] or None
        roles = await R.roles_in(self.db, user, **R.event_scopes(event))
        verdict = await privacy.verdict(self.db, event, user, roles, token)
        self.set_header("Cache-Control", "no-store")
        if verdict != rules.ADMITTED:
            self.render_page("public/event_refused.html", status=403, reason=REFUSALS.get(verdict, "invitation"),
                             signin_url="/signin?next=" + quote(self.request.uri, safe=""))
            return
        session_shown = await privacy.session_filter(self.db, event, user, roles, token)
        now = utcnow()
        registration = await cabinet.registration_of(self.db, user["_id"], event["_id"]) if user else None
        settings = reg.settings_of(event)
        state = reg.state_of(registration) if registration else None
        path = view.path(space, event)
        public = self.services.settings.public_url.rstrip("/")
        # An event that sells tickets shows them, live (`realtime.ticket_frames`), where others show Register.
        tickets = await shop.offer(self.db, event, code=None, locale=self.locale_code, now=now) \
            if event.get("ticketed") else None
        self.render_page(
            "public/about.html", space=space, about=about.page(space, event, self.locale_code, now, session_shown),
            tickets=tickets, tickets_url=path + "/tickets" + ("?" + urlencode({"invite": token}) if token else ""),
            event_id=str(event["_id"]),
            access=rules.page_access(roles), state=state,
            state_label=reg.STATE_LABELS.get(state or "", ""),
            registration_open=settings["open"], event_path=path,
            register_url=path + "/register" + ("?" + urlencode({"invite": token}) if token else ""),
            can_register_again=state in (reg.CANCELLED, reg.EXPIRED),
            og={"title": view.text(event, event["title"], self.locale_code),
                "description": about.excerpt(view.text(event, event.get("description"), self.locale_code), 200),
                "url": public + path + "/about", "listed": model.privacy_of(event)["level"] == rules.PUBLIC})


ROUTES = [
    (rf"/s/(?P<space_slug>{SLUG})", CatalogueHandler),
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/about", AboutHandler),
]
