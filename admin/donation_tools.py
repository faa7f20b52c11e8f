"""A campaign's widget, QR codes and sources, for its staff (shown on the campaign's staff page).

- `POST /admin/spaces/<space>/campaigns/<campaign>/embedding`: who may
  frame the widget (`donations.embedding`: off, the listed https sites, or
  any site); a bad origin is refused, naming it, and nothing changes.
- `GET /admin/spaces/<space>/campaigns/<campaign>/qr?target=&size=&format=&tag=`:
  a QR code download (`donations.qr`): the campaign's page, fundraising
  screen or widget; screen, A6, A5 or A4 size; SVG or PNG; with the
  optional source tag its address carries (`?src=qr-<tag>`).  Bad options
  answer 400 with the reason.

The campaign page (`admin.donations`) shows the iframe snippets, the
widget's address for a streaming program, these forms and the gifts
counted per source.
"""
from __future__ import annotations

from admin import forms
from admin.donations import CampaignPage
from core.errors import Refusal
from donations import campaigns, embedding, qr
from handlers.base import PageError


class EmbeddingHandler(CampaignPage):
    async def get(self, space_id, campaign_id):
        campaign = await self.campaign(campaign_id)
        self.redirect(f"{self.base()}/{campaign['_id']}#widget")

    async def post(self, space_id, campaign_id):
        campaign = await self.campaign(campaign_id)
        mode, origins = forms.field(self, "mode"), forms.field(self, "origins")
        try:
            value = embedding.clean(mode, origins)
        except embedding.EmbedError as exc:
            await self.show(campaigns.form_of(campaign), campaign, status=400,
                            embed_error=self.refusal(exc), embed_form={"mode": mode, "origins": origins})
            return
        await embedding.save(self.db, self.current_user, campaign, value)
        self.flash(self._("Who may show the widget has been saved."))
        self.redirect(f"{self.base()}/{campaign['_id']}#widget")


class QrHandler(CampaignPage):
    async def get(self, space_id, campaign_id):
        campaign = await self.campaign(campaign_id)
        target = self.get_query_argument("target", qr.PAGE)
        size = self.get_query_argument("size", "a4")
        kind = self.get_query_argument("format", "svg")
        try:
            tag = qr.clean_tag(self.get_query_argument("tag", "")[:100])
            data = qr.render(qr.url(self.services.settings.public_url, campaign, target, tag), size, kind)
        except Refusal as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.set_header("Content-Type", qr.FORMATS[kind])
        self.set_header("Content-Disposition",
                        f'attachment; filename="{qr.filename(campaign, target, size, kind, tag)}"')
        self.set_header("Cache-Control", "private, no-store")
        self.finish(data)


_CAMPAIGN = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})/campaigns/(?P<campaign_id>[0-9a-f]{24})"

ROUTES = [
    (_CAMPAIGN + r"/embedding", EmbeddingHandler),
    (_CAMPAIGN + r"/qr", QrHandler),
]
