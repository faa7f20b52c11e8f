"""A space's donation campaigns for its staff: the list with totals, a new campaign, editing one.

- `/admin/spaces/<space>/campaigns`: every campaign of the space (drafts
  too) with what it raised, from how many donors, against its goal.
- `/admin/spaces/<space>/campaigns/new`: a new campaign (`donations.campaigns.clean`).
- `/admin/spaces/<space>/campaigns/<campaign>`: its form; saving changes it.
  Below it, the campaign's gifts (newest first, every state); a gift's
  public message can be hidden (`.../gifts/<donation>/hide`, with `show=1`
  to show it again): the gift still counts.  Then its monthly pledges
  (`donations.pledges`), every state, with when each is charged next.  Also there: the widget's
  snippets and who may frame it, QR code downloads, and the gifts counted
  per source (`admin.donation_tools`).

A campaign of another space is "not found", as if it did not exist.
"""
from __future__ import annotations

from access.permissions import SPACE_DONATIONS
from admin import forms
from admin.staff_base import StaffHandler
from core import money
from core.i18n import LOCALES
from donations import campaigns, embedding, giving, pledges, qr, sources, totals
from handlers.base import PageError

FIELDS = ("category", "state", "goal", "currency", "deadline", "event_id")


class CampaignPage(StaffHandler):
    permission = SPACE_DONATIONS

    def base(self) -> str:
        return f"/admin/spaces/{self.space['_id']}/campaigns"

    async def campaign(self, campaign_id: str) -> dict:
        found = await campaigns.get(self.db, campaign_id, self.space["_id"])
        if found is None:
            raise PageError(404, self._(campaigns.NOT_FOUND))
        return found

    def values(self) -> dict:
        out: dict = {name: forms.field(self, name) for name in FIELDS}
        out["title"] = forms.locale_texts(self, "title")
        out["story"] = forms.locale_texts(self, "story")
        return out

    async def show(self, form: dict, campaign: dict | None = None, status: int = 200, error: str | None = None,
                   **extra):
        gifts = await giving.of_campaign(self.db, campaign["_id"]) if campaign else []
        if campaign:
            setting = embedding.setting(campaign)
            extra.setdefault("embed_form", {"mode": setting["mode"], "origins": "\n".join(setting["origins"])})
            extra.setdefault("embed_error", None)
            extra.update(widget_url=f"{self.services.settings.public_url}/campaigns/{campaign['_id']}/widget",
                         embed_modes=embedding.MODES, embed_labels=embedding.MODE_LABELS,
                         qr_targets=qr.TARGETS, qr_sizes=qr.SIZES, qr_max_tag=qr.MAX_TAG,
                         by_source=await sources.counts(self.db, campaign["_id"]),
                         campaign_title=campaigns.title(campaign, self.locale_code))
        found = await pledges.of_campaign(self.db, campaign["_id"]) if campaign else []
        emails = {u["_id"]: u.get("email", "") for u in await self.db.users.find(
            {"_id": {"$in": list({p["user_id"] for p in found})}}, {"email": 1}).to_list(None)} if found else {}
        events = await self.db.events.find({"space_id": self.space["_id"], "parent_id": None},
                                           {"title": 1, "default_locale": 1}).to_list(200)
        self.render_page("admin/campaign.html", status=status, active="space", form=form, campaign=campaign,
                         error=error, base=self.base(), categories=campaigns.CATEGORIES,
                         states=campaigns.STATES, state_labels=campaigns.STATE_LABELS, locales=LOCALES,
                         currencies=sorted(money.CURRENCIES), events=events, gifts=gifts,
                         pledges=[{**p, "donor_email": emails.get(p["user_id"], "")} for p in found],
                         pledge_labels=pledges.STATE_LABELS, **extra)


class CampaignsHandler(CampaignPage):
    async def get(self, space_id):
        found = await campaigns.listing(self.db, self.space["_id"])
        sums = await totals.of(self.db, [c["_id"] for c in found])
        rows = [{"campaign": c, "title": campaigns.title(c, self.locale_code), **sums[c["_id"]],
                 "percent": totals.percent(sums[c["_id"]]["raised"], c["goal"])} for c in found]
        self.render_page("admin/campaigns.html", active="space", rows=rows, base=self.base(),
                         state_labels=campaigns.STATE_LABELS, categories=campaigns.CATEGORIES)


class NewCampaignHandler(CampaignPage):
    async def get(self, space_id):
        await self.show(campaigns.blank_form())

    async def post(self, space_id):
        form = self.values()
        try:
            values = await campaigns.clean(self.db, self.space, form)
            campaign = await campaigns.create(self.db, self.current_user, self.space, values)
        except (campaigns.CampaignError, money.MoneyError) as exc:
            await self.show(form, status=400, error=self.refusal(exc))
            return
        self.flash(self._("The campaign has been saved."))
        self.redirect(f"{self.base()}/{campaign['_id']}")


class CampaignHandler(CampaignPage):
    async def get(self, space_id, campaign_id):
        campaign = await self.campaign(campaign_id)
        await self.show(campaigns.form_of(campaign), campaign)

    async def post(self, space_id, campaign_id):
        campaign = await self.campaign(campaign_id)
        form = self.values()
        try:
            values = await campaigns.clean(self.db, self.space, form)
            await campaigns.update(self.db, self.current_user, campaign, values)
        except (campaigns.CampaignError, money.MoneyError) as exc:
            await self.show(form, campaign, status=400, error=self.refusal(exc))
            return
        self.flash(self._("The campaign has been saved."))
        self.redirect(f"{self.base()}/{campaign['_id']}")


class HideMessageHandler(CampaignPage):
    async def post(self, space_id, campaign_id, donation_id):
        campaign = await self.campaign(campaign_id)
        try:
            await giving.hide_message(self.db, self.current_user, campaign, donation_id,
                                      hidden=self.form("show", max_length=2) != "1")
        except giving.GiftError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.flash(self._("The gift's message has been changed."))
        self.redirect(f"{self.base()}/{campaign['_id']}#gifts")


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"

ROUTES = [
    (_SPACE + r"/campaigns", CampaignsHandler),
    (_SPACE + r"/campaigns/new", NewCampaignHandler),
    (_SPACE + r"/campaigns/(?P<campaign_id>[0-9a-f]{24})", CampaignHandler),
    (_SPACE + r"/campaigns/(?P<campaign_id>[0-9a-f]{24})/gifts/(?P<donation_id>[0-9a-f]{24})/hide",
     HideMessageHandler),
]
