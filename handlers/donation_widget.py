"""The campaign widget: the one page other sites may frame, and only when its campaign's staff opted in.

`/campaigns/<id>/widget` is a transparent page with the campaign's totals
climbing live (the same `/ws?campaign=<id>` frames as its page), for a
streaming program's browser source (OBS and the like load it as a page of
its own) or for another site's iframe.  `?size=` chooses what it shows:
- `compact`: the amount raised and the number of donors, in one line;
- `bar`: the title, the progress bar and the amount raised of the goal;
- `full` (the default): all that, the latest donor (unless anonymous) and a
  "Give" link to the campaign's page, counted under the source `widget`
  (or under the widget's own well-formed `?src=`, so that a site, or a QR
  code leading to the widget, can tag its gifts).
`?text=light` writes it in white, outlined, for a stream's picture (dark by
default, for a site's light page).

Framing follows the campaign's setting (`donations.embedding`): the listed
origins, or any site, answer as `frame-ancestors`, without X-Frame-Options;
with embedding off the page still opens on its own but carries
`frame-ancestors 'none'` and X-Frame-Options DENY, so a browser refuses to
draw it in another site's frame.  A draft or unknown campaign answers 404.
"""
from __future__ import annotations

from core import money, security_headers
from donations import campaigns, embedding, giving, sources, totals
from handlers.donations import ID, CampaignBase

SIZES = ("compact", "bar", "full")
DEFAULT_SIZE = "full"


class WidgetHandler(CampaignBase):
    async def get(self, campaign_id):
        campaign = await self.public_campaign(campaign_id)
        # Who may frame it is known only now: the headers are set again with the campaign's list.
        self.frame_ancestors = embedding.frame_ancestors(campaign)
        security_headers.apply(self)
        size = self.get_query_argument("size", DEFAULT_SIZE)
        if size not in SIZES:
            size = DEFAULT_SIZE
        text = "light" if self.get_query_argument("text", "") == "light" else "dark"
        source = self.get_query_argument("src", "").strip()
        source = source if sources.valid(source) else sources.WIDGET
        found = await totals.shown(self.db, campaign["_id"])
        self.render_page("public/campaign_widget.html", campaign=campaign, size=size, text=text,
                         title=campaigns.title(campaign, self.locale_code), raised=found["raised"],
                         donors=found["donors"], percent=totals.percent(found["raised"], campaign["goal"]),
                         exponent=money.exponent(campaign["currency"]), latest=found["latest"],
                         give_path=f"{giving.page_path(campaign)}?src={source}")


ROUTES = [
    (rf"/campaigns/(?P<campaign_id>{ID})/widget", WidgetHandler),
]
