"""The outbox in the admin: every message the platform wrote, per event and installation-wide.

Without SMTP settings the outbox is where mail ends up, so the demo works
with no mail server; with them it is the delivery record (sent / failed and
the server's answer).

Security decisions made here:
- an event's staff read only their own event's entries, and only the staff
  copy of a message: its sign-in link, login and password are replaced by
  a placeholder (`mailings.mailer`), so reading the outbox never yields a
  credential for an account they do not govern;
- the full message is shown only on the platform pages (PLATFORM_OUTBOX),
  and only where no mail server delivered it; those pages are neither
  cached nor sent with a Referer;
- the text body is shown as escaped text; the HTML body is only served on
  its own URL with `Content-Security-Policy: sandbox` (no scripts, no
  same-origin access to our cookies or pages) and `default-src 'none'`
  (no remote images or tracking pixels load while staff look at it).
"""
from __future__ import annotations

from access.permissions import EVENT_MAILINGS, PLATFORM_OUTBOX
from admin.staff_base import StaffHandler
from core.pagination import parse_page
from handlers.base import PageError
from mailings import outbox

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
ENTRY = r"(?P<entry_id>[0-9a-f]{24})"
HTML_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class OutboxBase(StaffHandler):
    """Shared by the event and the platform pages; `platform` picks the scope."""

    platform = False

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")

    @property
    def base(self) -> str:
        return "/admin/outbox" if self.platform else f"/admin/events/{self.event['_id']}/outbox"

    @property
    def active(self) -> str:
        return "platform_outbox" if self.platform else "outbox"

    async def entry(self, entry_id) -> dict:
        if self.platform:
            found = await outbox.platform_entry(self.db, entry_id)
        else:
            found = await outbox.event_entry(self.db, entry_id, self.event["_id"])
        if not found:
            raise PageError(404, self._("This message is not in the outbox."))
        return found


class OutboxListMixin:
    async def get(self, event_id=None):
        items, page = await outbox.page(self.db, None if self.platform else self.event["_id"],
                                         parse_page(self.get_query_argument("page", "1")))
        events = {}
        if self.platform:
            ids = list({i["event_id"] for i in items if i.get("event_id")})
            events = {e["_id"]: e async for e in self.db.events.find({"_id": {"$in": ids}}, {"title": 1})}
        self.render_page("admin/outbox.html", active=self.active, items=items, page=page, base=self.base,
                         platform=self.platform, events=events, smtp=bool(self.services.settings.smtp_host))


class OutboxEntryMixin:
    async def get(self, event_id=None, entry_id=None):
        entry = await self.entry(entry_id)
        self.render_page("admin/outbox_entry.html", active=self.active, entry=entry, base=self.base,
                         platform=self.platform)


class OutboxHtmlMixin:
    async def get(self, event_id=None, entry_id=None):
        entry = await self.entry(entry_id)
        if not entry.get("html"):
            raise PageError(404, self._("This message has no HTML version."))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", HTML_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(entry["html"])


class EventOutboxHandler(OutboxListMixin, OutboxBase):
    permission = EVENT_MAILINGS


class EventOutboxEntryHandler(OutboxEntryMixin, OutboxBase):
    permission = EVENT_MAILINGS


class EventOutboxHtmlHandler(OutboxHtmlMixin, OutboxBase):
    permission = EVENT_MAILINGS


class PlatformOutboxHandler(OutboxListMixin, OutboxBase):
    permission = PLATFORM_OUTBOX
    platform = True


class PlatformOutboxEntryHandler(OutboxEntryMixin, OutboxBase):
    permission = PLATFORM_OUTBOX
    platform = True


class PlatformOutboxHtmlHandler(OutboxHtmlMixin, OutboxBase):
    permission = PLATFORM_OUTBOX
    platform = True


ROUTES = [
    (EVENT + r"/outbox", EventOutboxHandler),
    (EVENT + r"/outbox/" + ENTRY, EventOutboxEntryHandler),
    (EVENT + r"/outbox/" + ENTRY + r"/html", EventOutboxHtmlHandler),
    (r"/admin/outbox", PlatformOutboxHandler),
    (r"/admin/outbox/" + ENTRY, PlatformOutboxEntryHandler),
    (r"/admin/outbox/" + ENTRY + r"/html", PlatformOutboxHtmlHandler),
]
