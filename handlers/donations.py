"""Donation pages: a space's campaigns, a campaign with its live totals and its gift dialog, the wallet.

- `/spaces/<space>/campaigns`: the space's open and closed campaigns,
  filtered by `?category=` and `?state=`, each with its progress.
- `/campaigns/<id>`: one campaign: its story, the progress bar with its
  counting rule written under it, the latest gifts (anonymous ones without a
  name, messages as plain text), and the gift form.  The totals climb live
  (`static/js/campaign.js` over `/ws?campaign=<id>`).  `?gift=<donation>`
  says how that gift stands (after the payment page leads back).  `?src=`
  says where the visitor came from (a QR code, the widget, a notification:
  `donations.sources`); the gift form carries it into the donation.
- `POST /campaigns/<id>/give`: a gift (`donations.giving.give`), idempotent
  by the form's hidden `key`, made once per dialog: by card the donor is
  sent to the payment's page, from the wallet the gift is made at once.
- `/campaigns/<id>/screen`: the fundraising screen for a projector, fed by
  the same live frame.
  A signed-in donor may tick "remember this card"; with a saved card, the
  page offers one-click amounts that open a small dialog
  (`static/js/one_click.js`) posting the same form with method "saved",
  and `monthly=1` for a monthly pledge (`donations.pledges`).  Asked for
  JSON, it answers the gift's state and where to follow its payment.
- `/me/wallet`: the signed-in donor's balances and entries, and a top-up by
  card (`POST /me/wallet/top-up`, idempotent by its form's key).
- `/me/giving`: the donor's saved cards (`POST .../cards/<id>/remove`) and
  monthly gifts (`POST .../pledges/<id>/<pause|resume|cancel>`).

A draft campaign, or an id that names none, answers 404.
"""
from __future__ import annotations

import secrets

from core import money
from core.errors import Refusal
from donations import campaigns, giving, pledges, saved_cards, sources, totals, wallet
from events import model
from handlers.base import BaseHandler, PageError
from payments import attempts, providers

ID = r"[0-9a-f]{24}"
SLUG = r"[a-z0-9][a-z0-9-]{0,62}"


def new_key() -> str:
    """The key a dialog sends with its gift: made once per dialog, so a second submit of it gives once."""
    return secrets.token_urlsafe(18)


async def chips(db, campaign: dict, user: dict | None) -> list[dict]:
    """One-click amounts (minor units): the donor's last gift to this campaign first ("again"), then round ones."""
    unit = 10 ** money.exponent(campaign["currency"])
    out: list[dict] = []
    if user is not None:
        last = await db[giving.DONATIONS].find_one(
            {"campaign_id": campaign["_id"], "donor.user_id": user["_id"], "state": giving.CONFIRMED},
            {"amount": 1}, sort=[("confirmed_at", -1)])
        if last:
            out.append({"amount": int(last["amount"]), "again": True})
    for major in (10, 25, 50):
        if all(c["amount"] != major * unit for c in out):
            out.append({"amount": major * unit, "again": False})
    return out[:4]


class CampaignBase(BaseHandler):
    async def public_campaign(self, campaign_id: str) -> dict:
        found = await campaigns.get(self.db, campaign_id)
        if found is None or found["state"] not in campaigns.PUBLIC_STATES:
            raise PageError(404, self._(campaigns.NOT_FOUND))
        return found


class CampaignListHandler(CampaignBase):
    async def get(self, space_slug):
        space = await self.db.spaces.find_one({"slug": space_slug})
        if space is None:
            raise PageError(404, self._("This space does not exist."))
        category = self.get_query_argument("category", "").strip()
        state = self.get_query_argument("state", "").strip()
        if category not in campaigns.CATEGORIES:
            category = ""
        if state not in campaigns.PUBLIC_STATES:
            state = ""
        found = await campaigns.listing(self.db, space["_id"], states=(state,) if state else campaigns.PUBLIC_STATES,
                                        category=category)
        sums = await totals.of(self.db, [c["_id"] for c in found])
        rows = [{"campaign": c, "title": campaigns.title(c, self.locale_code), **sums[c["_id"]],
                 "percent": totals.percent(sums[c["_id"]]["raised"], c["goal"])} for c in found]
        self.render_page("public/campaigns.html", space=space, rows=rows, category=category, state=state,
                         categories=campaigns.CATEGORIES, state_labels=campaigns.STATE_LABELS,
                         public_states=campaigns.PUBLIC_STATES,
                         has_assistant=bool(await self.db.donation_assistants.find_one(
                             {"space_id": space["_id"], "enabled": True}, {"_id": 1})))


class CampaignHandler(CampaignBase):
    async def show(self, campaign: dict, *, status: int = 200, error: str | None = None,
                   form: dict | None = None) -> None:
        space = await model.get_space(self.db, campaign["space_id"])
        found = await totals.one(self.db, campaign["_id"])
        gift = None
        gift_id = self.get_query_argument("gift", "").strip()[:24]
        if gift_id:
            gift = await giving.get(self.db, gift_id)
            if gift is None or gift["campaign_id"] != campaign["_id"]:
                gift = None
        low, high = giving.limits(campaign["currency"])
        cards = await saved_cards.usable(self.services, self.current_user, campaign["space_id"])
        self.render_page(
            "public/campaign.html", status=status, campaign=campaign, space=space,
            title=campaigns.title(campaign, self.locale_code), story=campaigns.story(campaign, self.locale_code),
            raised=found["raised"], donors=found["donors"], percent=totals.percent(found["raised"], campaign["goal"]),
            exponent=money.exponent(campaign["currency"]), taking=campaigns.taking(campaign),
            latest=await giving.latest(self.db, campaign["_id"]), gift=gift, error=error,
            form=form or {"amount": "", "email": "", "name": "", "message": "", "anonymous": False, "method": "card",
                          "source": sources.from_address(self.get_query_argument("src", ""))},
            key=new_key(), max_message=giving.MAX_MESSAGE, low=low, high=high,
            # A link may open the gift dialog at once (`?give=1`: the giving assistant's last answer does).
            open_dialog=self.get_query_argument("give", "") == "1",
            categories=campaigns.CATEGORIES, state_labels=campaigns.STATE_LABELS,
            balance=await wallet.balance(self.db, self.current_user["_id"], campaign["currency"])
            if self.current_user else None,
            cards=cards, chips=await chips(self.db, campaign, self.current_user) if cards else [],
            plain=money.plain)

    async def get(self, campaign_id):
        await self.show(await self.public_campaign(campaign_id))


class GiveHandler(CampaignHandler):
    async def get(self, campaign_id):
        # The form's address opened as a page (a bookmark, a reload after an error): the campaign's page.
        self.redirect(giving.page_path(await self.public_campaign(campaign_id)))

    async def post(self, campaign_id):
        campaign = await self.public_campaign(campaign_id)
        form = {"amount": self.form("amount", max_length=40), "email": self.form("email", max_length=320),
                "name": self.form("name", max_length=200), "message": self.form("message", max_length=2000),
                "anonymous": self.form("anonymous", max_length=5) == "1", "method": self.form("method", "card", 16),
                "currency": self.form("currency", max_length=8), "source": self.form("source", max_length=100)}
        card_id = self.form("card", max_length=40)
        try:
            if form["method"] == giving.SAVED and self.form("monthly", max_length=2) == "1":
                if self.current_user is None:
                    raise giving.GiftError(giving.NEED_SIGN_IN)
                pledge = await pledges.create(
                    self.services, campaign, self.current_user, amount=form["amount"], currency=form["currency"],
                    card_id=card_id, key=self.form("key", max_length=100), locale=self.locale_code,
                    anonymous=form["anonymous"])
                await self.answer_pledge(pledge)
                return
            donation = await giving.give(
                self.services, campaign, amount=form["amount"], currency=form["currency"],
                key=self.form("key", max_length=100), method=form["method"], user=self.current_user,
                email=form["email"], name=form["name"], locale=self.locale_code, anonymous=form["anonymous"],
                message=form["message"], source=form["source"], remember=self.form("remember", max_length=2) == "1",
                card_id=card_id, monthly=self.form("monthly", max_length=2) == "1")
        except providers.ProviderUnavailable as exc:
            await self.refuse(campaign, 503, exc, form)
            return
        except Refusal as exc:
            await self.refuse(campaign, 400, exc, form)
            return
        attempt = donation.get("attempt")
        if self.wants_json():
            self.answer_json(donation)
            return
        if donation["method"] == giving.SAVED:
            self.redirect(f"{giving.page_path(campaign)}?gift={donation['_id']}")
            return
        if donation["state"] == giving.PENDING and attempt is not None:
            self.redirect(attempts.pay_url(self.services, attempt))
            return
        self.redirect(f"{giving.page_path(campaign)}?gift={donation['_id']}")


    async def refuse(self, campaign: dict, status: int, exc: Exception, form: dict) -> None:
        if self.wants_json():
            self.set_status(status)
            self.finish({"error": status, "message": self.refusal(exc)})
            return
        await self.show(campaign, status=status, error=self.refusal(exc), form=form)

    def answer_json(self, donation: dict) -> None:
        """A one-click gift's state, and the payment's status address the dialog follows until it is paid."""
        attempt = donation.get("attempt") or {}
        failure = attempt.get("failure") or {}
        self.set_header("Cache-Control", "no-store")
        self.finish({
            "gift": str(donation["_id"]), "state": donation["state"], "payment": attempt.get("state", ""),
            "status_url": f"/pay/{attempt['_id']}/status?t="
                          f"{attempts.page_token(self.services.settings.cookie_secret, attempt['_id'])}"
            if attempt else "",
            "message": self._("The card was declined: %(reason)s") % {"reason": failure.get("message") or
                                                                      failure.get("code") or ""}
            if attempt.get("state") == "failed" else ""})

    async def answer_pledge(self, pledge: dict) -> None:
        donation = await self.db[giving.DONATIONS].find_one(
            {"pledge_id": pledge["_id"], "period": pledge["period"]}) if pledge["state"] == pledges.ACTIVE else None
        if self.wants_json():
            if donation is not None:
                attempt = await attempts.get(self.db, donation.get("attempt_id"))
                self.answer_json({**donation, "attempt": attempt} if attempt else donation)
            else:
                self.finish({"gift": "", "state": pledge["state"], "payment": "", "status_url": "", "message": ""})
            return
        self.flash(self._("Your monthly gift has been set up."))
        self.redirect("/me/giving")


class ScreenHandler(CampaignBase):
    async def get(self, campaign_id):
        campaign = await self.public_campaign(campaign_id)
        found = await totals.one(self.db, campaign["_id"])
        self.render_page("public/campaign_screen.html", campaign=campaign,
                         title=campaigns.title(campaign, self.locale_code), raised=found["raised"],
                         donors=found["donors"], percent=totals.percent(found["raised"], campaign["goal"]),
                         exponent=money.exponent(campaign["currency"]))


class WalletHandler(BaseHandler):
    async def prepare(self):
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/signin?next=/me/wallet")
                return
            raise PageError(403, self._("Please sign in first."))

    async def show(self, status: int = 200, error: str | None = None) -> None:
        user = self.current_user
        self.render_page("public/wallet.html", status=status, error=error,
                         balances=await wallet.balances(self.db, user["_id"]),
                         entries=await wallet.entries(self.db, user["_id"]), key=new_key(),
                         currencies=sorted(money.CURRENCIES))

    async def get(self):
        await self.show()


class TopUpHandler(WalletHandler):
    async def post(self):
        try:
            attempt = await giving.top_up(self.services, self.current_user, amount=self.form("amount", max_length=40),
                                          currency=self.form("currency", max_length=8),
                                          key=self.form("key", max_length=100), locale=self.locale_code)
        except providers.ProviderUnavailable as exc:
            await self.show(503, self.refusal(exc))
            return
        except Refusal as exc:
            await self.show(400, self.refusal(exc))
            return
        self.redirect(attempts.pay_url(self.services, attempt))


class GivingHandler(BaseHandler):
    """The donor's saved cards and monthly gifts."""

    async def prepare(self):
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/signin?next=/me/giving")
                return
            raise PageError(403, self._("Please sign in first."))

    async def show(self, status: int = 200, error: str | None = None) -> None:
        user = self.current_user
        mine = await pledges.of_user(self.db, user["_id"])
        found = {c["_id"]: c for c in await self.db[campaigns.CAMPAIGNS].find(
            {"_id": {"$in": list({p["campaign_id"] for p in mine})}}).to_list(None)} if mine else {}
        rows = [{**p, "title": campaigns.title(found[p["campaign_id"]], self.locale_code)
                 if p["campaign_id"] in found else "", "path": f"/campaigns/{p['campaign_id']}"} for p in mine]
        self.render_page("public/giving.html", status=status, error=error,
                         cards=await saved_cards.listing(self.db, user["_id"]), pledges=rows,
                         labels=pledges.STATE_LABELS)

    async def get(self):
        await self.show()


class CardRemoveHandler(GivingHandler):
    async def post(self, card_id):
        try:
            await saved_cards.remove(self.services, self.current_user, card_id)
        except Refusal as exc:
            await self.show(400 if not isinstance(exc, providers.ProviderUnavailable) else 503, self.refusal(exc))
            return
        self.flash(self._("The card has been removed."))
        self.redirect("/me/giving")


class PledgeChangeHandler(GivingHandler):
    async def post(self, pledge_id, change):
        try:
            await pledges.change(self.services, self.current_user, pledge_id, change)
        except Refusal as exc:
            await self.show(400, self.refusal(exc))
            return
        self.flash(self._("Your monthly gift has been changed."))
        self.redirect("/me/giving")


ROUTES = [
    (rf"/spaces/(?P<space_slug>{SLUG})/campaigns", CampaignListHandler),
    (rf"/campaigns/(?P<campaign_id>{ID})", CampaignHandler),
    (rf"/campaigns/(?P<campaign_id>{ID})/give", GiveHandler),
    (rf"/campaigns/(?P<campaign_id>{ID})/screen", ScreenHandler),
    (r"/me/wallet", WalletHandler),
    (r"/me/wallet/top-up", TopUpHandler),
    (r"/me/giving", GivingHandler),
    (rf"/me/giving/cards/(?P<card_id>{ID})/remove", CardRemoveHandler),
    (rf"/me/giving/pledges/(?P<pledge_id>{ID})/(?P<change>pause|resume|cancel)", PledgeChangeHandler),
]
