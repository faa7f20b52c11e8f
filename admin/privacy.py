"""Staff pages for an event's privacy: its level, its closed list, per-session privacy, invitations.

The work is done in `events.privacy` and `registration.invitations`; these
handlers parse forms, translate refusals and render.  A move to a stricter
level is shown back for confirmation before it is saved.  An invitation's
link is shown once, when it is made (only its hash is stored): on the page,
or as a CSV file when staff ask for one; "a new link" replaces a lost one.
"""
from __future__ import annotations

import csv
import io

from access import rules
from access.permissions import EVENT_EDIT
from admin.staff_base import StaffHandler
from core.i18n import N_
from core.pagination import Page, parse_page
from events import editing, model, privacy
from handlers.base import PageError
from registration import invitations

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
PER_PAGE = 50


class PrivacyBase(StaffHandler):
    permission = EVENT_EDIT

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/privacy"

    def addresses(self, field: str = "emails") -> list[str] | None:
        """The addresses of an uploaded file if one came, else of the typed field; None if neither."""
        uploads = self.request.files.get("file") or []
        if uploads and uploads[0]["body"]:
            return privacy.parse_upload(uploads[0]["body"])
        typed = self.get_body_argument(field, None)
        if typed is None:
            return None
        return privacy.parse_text(typed)

    def link(self, raw: str) -> str:
        space = self.space or {}
        return self.services.settings.public_url.rstrip("/") + invitations.path(
            space.get("slug", ""), self.event["slug"], raw)


class PrivacyHandler(PrivacyBase):
    async def get(self, event_id):
        await self.show()

    async def show(self, status: int = 200, errors: dict | None = None, confirm: dict | None = None,
                   typed: str | None = None):
        current = model.privacy_of(self.event)
        number = parse_page(self.get_query_argument("page", "1"))
        rows, total = await invitations.listing(self.db, self.event["_id"], (number - 1) * PER_PAGE, PER_PAGE)
        self.render_page("admin/privacy.html", status=status, active="privacy", current=current,
                         stored=bool(self.event.get("privacy")),
                         shown=privacy.fingerprint(current if self.event.get("privacy") else None),
                         levels=rules.PRIVACY_LEVELS, labels=privacy.LEVEL_LABELS, help=privacy.LEVEL_HELP,
                         errors=errors or {}, confirm=confirm, typed=typed,
                         sessions=[(day, [(i, privacy.session_privacy(i)) for i in items])
                                   for day, items in editing.schedule_by_day(self.event) if items],
                         invitations=rows, page=Page(number, PER_PAGE, total), page_url=self.base,
                         max_addresses=privacy.MAX_ADDRESSES, max_kb=privacy.MAX_UPLOAD_KB)

    async def post(self, event_id):
        action = self.form("action", max_length=20)
        shown = self.form("shown", max_length=64)
        current = model.privacy_of(self.event)
        try:
            if action == "level":
                level = self.form("level", max_length=20)
                if level in rules.PRIVACY_LEVELS and privacy.stricter(current["level"], level) \
                        and self.form("confirm", max_length=1) != "1":
                    await self.show(confirm={"level": level, "shown": shown})
                    return
                await privacy.set_privacy(self.db, self.current_user, self.event, level=level, emails=None,
                                          shown=shown)
                self.flash(self._("The privacy level is saved: %(level)s.")
                           % {"level": self._(privacy.LEVEL_LABELS[level])})
            elif action == "list":
                emails = self.addresses()
                if emails is None:
                    raise PageError(400, self._("Type the addresses or choose a file."))
                if self.form("add", max_length=1) == "1":
                    emails = list(dict.fromkeys(current["emails"] + emails))
                    if len(emails) > privacy.MAX_ADDRESSES:
                        raise privacy.PrivacyError(
                            N_("A list holds at most %(count)s addresses. Nothing was changed."),
                            count=privacy.MAX_ADDRESSES)
                await privacy.set_privacy(self.db, self.current_user, self.event, level=current["level"],
                                          emails=emails, shown=shown)
                self.flash(self.ngettext("The closed list holds %(count)s address.",
                                         "The closed list holds %(count)s addresses.", len(emails))
                           % {"count": len(emails)})
            else:
                raise PageError(400, self._("The request was not understood."))
        except privacy.PrivacyError as exc:
            self.event = await model.get_event(self.db, self.event["_id"]) or self.event
            typed = self.get_body_argument("emails", None) if action == "list" else None
            await self.show(409 if isinstance(exc, privacy.PrivacyConflict) else 400,
                            {action if action in ("level", "list") else "level": self.refusal(exc)},
                            typed=typed)
            return
        self.redirect(self.base + ("#closed-list" if action == "list" else ""))


class SessionPrivacyHandler(PrivacyBase):
    """One session's own privacy; the session is named in the query string of the page and its form."""

    def show(self, item: dict, status: int = 200, error: str | None = None, typed: str | None = None):
        own = privacy.session_privacy(item)
        self.render_page("admin/privacy_session.html", status=status, active="privacy", item=item, own=own,
                         event_level=model.privacy_of(self.event)["level"], error=error, typed=typed,
                         levels=rules.PRIVACY_LEVELS, labels=privacy.LEVEL_LABELS, help=privacy.LEVEL_HELP,
                         inherit=privacy.INHERIT, max_addresses=privacy.MAX_ADDRESSES)

    def get(self, event_id):
        self.show(self.item())

    async def post(self, event_id):
        item = self.item()
        level = self.form("level", max_length=20)
        try:
            emails = self.addresses() if level == rules.CLOSED_LIST else None
            await privacy.set_session_privacy(self.db, self.current_user, self.event, item["id"],
                                              level=level, emails=emails)
        except privacy.PrivacyError as exc:
            self.show(item, 400, self.refusal(exc), self.get_body_argument("emails", None))
            return
        self.flash(self._("The session's privacy is saved."))
        self.redirect(self.base + "#sessions")


class InvitationsHandler(PrivacyBase):
    """Invite addresses (typed or uploaded): the new links on a page, or as a CSV file."""

    async def post(self, event_id):
        try:
            emails = self.addresses()
            if not emails:
                raise invitations.InvitationError(N_("Enter at least one email address."))
            made, skipped = await invitations.invite(self.db, self.current_user, self.event, emails)
        except (privacy.PrivacyError, invitations.InvitationError) as exc:
            raise PageError(400, self.refusal(exc)) from None
        links = [(doc["email"], self.link(raw)) for doc, raw in made]
        if self.form("format", max_length=10) == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["email", "link"])
            writer.writerows(links)
            self.set_header("Content-Type", "text/csv; charset=UTF-8")
            self.set_header("Content-Disposition",
                            f'attachment; filename="invitations-{self.event["slug"]}.csv"')
            self.set_header("Cache-Control", "no-store")
            self.finish(out.getvalue().encode("utf-8"))
            return
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/privacy_links.html", active="privacy", links=links, skipped=skipped)


class InvitationTarget(PrivacyBase):
    async def target(self) -> dict:
        doc = await invitations.get(self.db, self.event["_id"], self.form("invitation", max_length=32))
        if doc is None:
            raise PageError(404, self._("This invitation does not exist or was withdrawn."))
        return doc


class InvitationLinkHandler(InvitationTarget):
    """A new link for one invitation: the old one stops working."""

    async def post(self, event_id):
        doc = await self.target()
        try:
            doc, raw = await invitations.new_link(self.db, self.current_user, self.event, doc["_id"])
        except invitations.InvitationError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/privacy_links.html", active="privacy", links=[(doc["email"], self.link(raw))],
                         skipped=[])


class InvitationRevokeHandler(InvitationTarget):
    async def post(self, event_id):
        doc = await self.target()
        try:
            await invitations.revoke(self.db, self.current_user, self.event, doc["_id"])
        except invitations.InvitationError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.flash(self._("The invitation for %(email)s is withdrawn.") % {"email": doc["email"]})
        self.redirect(self.base + "#invitations")


ROUTES = [
    (EVENT + r"/privacy", PrivacyHandler),
    (EVENT + r"/privacy/session", SessionPrivacyHandler),
    (EVENT + r"/privacy/invitations", InvitationsHandler),
    (EVENT + r"/privacy/invitations/link", InvitationLinkHandler),
    (EVENT + r"/privacy/invitations/revoke", InvitationRevokeHandler),
]
