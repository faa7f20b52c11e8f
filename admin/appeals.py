"""A space's donor segments and the appeals sent to them, for its staff (permission `space.donations`).

- `/admin/spaces/<space>/segments`: the segments, the latest appeals, and
  a form for a new segment whose size is previewed as the criteria change.
- `/admin/spaces/<space>/segments/preview?<criteria>`: `{"count": n, "text": …}`,
  the number of donors the criteria name now (`donations.segments.count`).
- `/admin/spaces/<space>/segments/<segment>`: its form (saving changes it),
  its size, and the form that sends an appeal to it by push or mail
  (`POST …/appeals`, once per form key), which leads to
- `/admin/spaces/<space>/appeals/<appeal>`: the appeal's progress, refreshed
  every two seconds while it runs.

A segment or appeal of another space is "not found", as if it did not exist.
"""
from __future__ import annotations

import json

from access.permissions import SPACE_DONATIONS
from admin import forms
from admin.staff_base import StaffHandler
from core import money
from core.i18n import LOCALES
from donations import appeals, campaigns, segments
from handlers.base import PageError
from handlers.donations import new_key

FIELDS = tuple(segments.blank_form())


class SegmentPage(StaffHandler):
    permission = SPACE_DONATIONS

    def base(self) -> str:
        return f"/admin/spaces/{self.space['_id']}/segments"

    def values(self) -> dict[str, str]:
        return {name: forms.field(self, name) for name in FIELDS}

    async def segment(self, segment_id: str) -> dict:
        found = await segments.get(self.db, segment_id, self.space["_id"])
        if found is None:
            raise PageError(404, self._(segments.NOT_FOUND))
        return found

    def choices(self) -> dict:
        return {"categories": campaigns.CATEGORIES, "currencies": sorted(money.CURRENCIES), "locales": LOCALES,
                "kinds": segments.KINDS, "histories": segments.HISTORIES, "base": self.base()}


class SegmentsHandler(SegmentPage):
    async def get(self, space_id):
        await self.show(segments.blank_form())

    async def show(self, form: dict, status: int = 200, error: str | None = None) -> None:
        self.render_page("admin/segments.html", status=status, active="space", form=form, error=error,
                         segments=await segments.listing(self.db, self.space["_id"]),
                         appeals=await appeals.of_space(self.db, self.space["_id"]), channels=appeals.CHANNELS,
                         **self.choices())

    async def post(self, space_id):
        form = self.values()
        try:
            segment = await segments.create(self.db, self.current_user, self.space, segments.clean(form))
        except segments.SegmentError as exc:
            await self.show(form, 400, self.refusal(exc))
            return
        self.flash(self._("The segment has been saved."))
        self.redirect(f"{self.base()}/{segment['_id']}")


class PreviewHandler(SegmentPage):
    async def get(self, space_id):
        # A criterion not given is the blank form's (any donor, totals in euros).
        raw = {name: self.get_query_argument(name, default)[:100] for name, default in segments.blank_form().items()}
        self.set_header("Content-Type", "application/json")
        try:
            criteria = segments.clean(raw, need_name=False)["criteria"]
        except segments.SegmentError as exc:
            self.set_status(400)
            self.finish(json.dumps({"error": 400, "message": self.refusal(exc)}))
            return
        n = await segments.count(self.db, self.space["_id"], criteria)
        self.finish(json.dumps({"count": n, "text": self.ngettext("%(num)s donor", "%(num)s donors", n) % {"num": n}}))


class SegmentHandler(SegmentPage):
    async def show(self, segment: dict, form: dict, status: int = 200, error: str | None = None,
                   send_error: str | None = None) -> None:
        open_campaigns = await campaigns.listing(self.db, self.space["_id"], states=(campaigns.OPEN,))
        self.render_page("admin/segment.html", status=status, active="space", segment=segment, form=form,
                         error=error, send_error=send_error,
                         size=await segments.count(self.db, self.space["_id"], segment["criteria"]),
                         campaigns=[(c["_id"], campaigns.title(c, self.locale_code)) for c in open_campaigns],
                         channels=appeals.CHANNELS, key=new_key(), max_message=appeals.MAX_MESSAGE,
                         **self.choices())

    async def get(self, space_id, segment_id):
        segment = await self.segment(segment_id)
        await self.show(segment, segments.form_of(segment))

    async def post(self, space_id, segment_id):
        segment = await self.segment(segment_id)
        form = self.values()
        try:
            segment = await segments.update(self.db, self.current_user, segment, segments.clean(form))
        except segments.SegmentError as exc:
            await self.show(segment, form, 400, self.refusal(exc))
            return
        self.flash(self._("The segment has been saved."))
        self.redirect(f"{self.base()}/{segment['_id']}")


class SendHandler(SegmentHandler):
    async def post(self, space_id, segment_id):
        segment = await self.segment(segment_id)
        try:
            appeal = await appeals.create(
                self.services, self.current_user, self.space, segment_id=str(segment["_id"]),
                campaign_id=self.form("campaign_id", max_length=40), channel=self.form("channel", max_length=10),
                message=self.form("message", max_length=2000), key=self.form("key", max_length=100))
        except appeals.AppealError as exc:
            await self.show(segment, segments.form_of(segment), 400, send_error=self.refusal(exc))
            return
        if appeal["status"] == appeals.QUEUED and appeal.get("runner") is None:
            appeals.start(self.services, appeal["_id"])
        self.redirect(f"/admin/spaces/{self.space['_id']}/appeals/{appeal['_id']}")


class AppealHandler(SegmentPage):
    async def get(self, space_id, appeal_id):
        appeal = await appeals.get(self.db, appeal_id, self.space["_id"])
        if appeal is None:
            raise PageError(404, self._(appeals.NOT_FOUND))
        campaign = await campaigns.get(self.db, appeal["campaign_id"])
        self.render_page("admin/appeal.html", active="space", appeal=appeal, progress=appeals.progress(appeal),
                         campaign_title=campaigns.title(campaign, self.locale_code) if campaign else "",
                         channels=appeals.CHANNELS, base=self.base())


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"

ROUTES = [
    (_SPACE + r"/segments", SegmentsHandler),
    (_SPACE + r"/segments/preview", PreviewHandler),
    (_SPACE + r"/segments/(?P<segment_id>[0-9a-f]{24})", SegmentHandler),
    (_SPACE + r"/segments/(?P<segment_id>[0-9a-f]{24})/appeals", SendHandler),
    (_SPACE + r"/appeals/(?P<appeal_id>[0-9a-f]{24})", AppealHandler),
]
