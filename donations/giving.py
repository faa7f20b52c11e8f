"""Giving: one-off donations by card (through the payments package) or from the donor's wallet.

`give` validates a gift against its campaign and stores it once by the
dialog's client key (a unique index on campaign and key): a double click or
a retried request finds the donation made the first time and goes on from
where it is (the same payment attempt, the same wallet entry); the same key
with another amount, currency or method is refused.  By card, the gift's
payment attempt is started once (`payments.attempts.start`, keyed by the
donation) and the donor sent to its page; the donation is confirmed only
by the purpose's callback `on_paid`, which the payments package calls once
per confirmed payment however many times Stripe's notification arrives.
From the wallet, the donation is confirmed as soon as the wallet's
guarded debit (`donations.wallet`) passes.

Confirming is one guarded update (pending -> confirmed); the move that
happens announces the campaign's totals on the change bus (pushed live by
`realtime.donation_frames`) and mails the receipt in the donor's language
(once, by the outbox's unique key).

A wallet top-up is a payment of purpose "wallet" whose `on_paid` credits
the wallet once (its entry keyed by the attempt).

One click: a signed-in donor's saved card (`donations.saved_cards`) pays a
gift of method "saved" at once, off-session, with no payment page; the
gift is keyed by its dialog like any other and still counts only when the
provider's notification confirms the payment.  A card gift with
`remember` is paid for the donor's Customer, and its card is kept once the
gift is paid.  A monthly pledge's gift (`donations.pledges`) is a "saved"
gift keyed by the pledge and its period; a retry after a decline is a new
payment attempt of the same gift (`try`), so a period is paid at most once.
"""
from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_
from donations import campaigns, mails, saved_cards, sources, totals, wallet
from donations.totals import CONFIRMED, DONATIONS, REFUNDED
from payments import attempts

log = logging.getLogger(__name__)

PURPOSE = "donation"
WALLET_PURPOSE = "wallet"
PENDING = "pending"
STATES = (PENDING, CONFIRMED, REFUNDED)
CARD, WALLET, SAVED = "card", "wallet", "saved"
METHODS = (CARD, WALLET, SAVED)
MAX_MESSAGE = 280
MAX_NAME = 120
# The largest single gift, in major units: far beyond any one donor, and a guard against a typo of zeros.
MAX_MAJOR = 1_000_000
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class GiftError(Refusal):
    """A gift refused; nothing was stored or charged."""


NOT_TAKING = N_("This campaign does not take gifts now.")
WRONG_CURRENCY = N_("This campaign takes gifts in %(currency)s only.")
TOO_SMALL = N_("The smallest gift is %(min)s.")
TOO_LARGE = N_("The largest gift is %(max)s.")
BAD_KEY = N_("This form has expired: please open it again.")
KEY_REUSED = N_("This form was already sent with another amount: please open it again.")
BAD_METHOD = N_("Choose how to give.")
NEED_EMAIL = N_("Give an e-mail address for the receipt.")
NEED_ACCOUNT = N_("Sign in to give from your wallet.")
NEED_SIGN_IN = N_("Sign in to give with a saved card.")
MONTHLY_BY_CARD = N_("A monthly gift is paid by card: sign in and choose to give by card.")
LONG_MESSAGE = N_("A message is at most %(max)s characters.")
BAD_SOURCE = N_("This form was changed: please open the campaign's page again.")


def limits(currency: str) -> tuple[int, int]:
    """(smallest, largest) gift in minor units: one major unit, and `MAX_MAJOR` of them."""
    unit = 10 ** money.exponent(currency)
    return unit, MAX_MAJOR * unit


def amount_of(text: str, currency: str, campaign: Mapping[str, Any], locale: str = "en") -> int:
    """The gift's amount in minor units, checked against the campaign; GiftError when not acceptable."""
    if currency != campaign["currency"]:
        raise GiftError(WRONG_CURRENCY, currency=campaign["currency"])
    return within_limits(text, currency, locale)


def within_limits(text: str, currency: str, locale: str = "en") -> int:
    """`text` in minor units of `currency`, between the currency's least and most; GiftError otherwise."""
    try:
        amount = money.parse(text, currency)
    except money.MoneyError as exc:
        raise GiftError(exc.message, **exc.params) from None
    low, high = limits(currency)
    if amount < low:
        raise GiftError(TOO_SMALL, min=money.format(low, currency, locale))
    if amount > high:
        raise GiftError(TOO_LARGE, max=money.format(high, currency, locale))
    return amount


def clean_message(text: str) -> str:
    message = _CONTROL.sub("", (text or "").replace("\r\n", "\n")).strip()
    if len(message) > MAX_MESSAGE:
        raise GiftError(LONG_MESSAGE, max=MAX_MESSAGE)
    return message


async def give(services, campaign: Mapping[str, Any], *, amount: str, currency: str, key: str, method: str,
               user: Mapping[str, Any] | None, email: str = "", name: str = "", locale: str = "en",
               anonymous: bool = False, message: str = "", source: str = "", remember: bool = False,
               card_id: str = "", pledge: Mapping[str, Any] | None = None, monthly: bool = False) -> dict[str, Any]:
    """The donation for this dialog's `key`: made once, resumed on a retry.  GiftError changes nothing.

    `source` says where the dialog was opened from (`donations.sources`; empty: `direct`).
    `card_id` names the donor's saved card for method "saved"; `remember`
    keeps the card of a card gift; `pledge` (with its `period`) marks the
    gift as that month's charge of a pledge; `monthly` (a card gift of a
    signed-in donor) keeps the card and makes the gift the first month of
    a pledge once it is paid.
    """
    db = services.db
    key = (key or "").strip()
    if not KEY.match(key):
        raise GiftError(BAD_KEY)
    source = (source or "").strip() or sources.DIRECT
    if not sources.valid(source):
        raise GiftError(BAD_SOURCE)
    if method not in METHODS:
        raise GiftError(BAD_METHOD)
    existing = await db[DONATIONS].find_one({"campaign_id": campaign["_id"], "key": key})
    minor = amount_of(amount, (currency or "").strip().upper(), campaign, locale)
    if existing is not None:
        return await _again(services, campaign, existing, minor, method, user, card_id)
    if not campaigns.taking(campaign):
        raise GiftError(NOT_TAKING)
    if monthly and (method != CARD or user is None):
        raise GiftError(MONTHLY_BY_CARD)
    card = None
    if method == SAVED:
        if user is None:
            raise GiftError(NEED_SIGN_IN)
        card = await saved_cards.own(services, user, card_id, campaign["space_id"])
    message = clean_message(message)
    email = (email or "").strip().lower()
    if user is not None:
        email = str(user.get("email") or email)
        name = name or str(user.get("name") or "")
    if method == WALLET and user is None:
        raise GiftError(NEED_ACCOUNT)
    if not EMAIL.match(email):
        raise GiftError(NEED_EMAIL)
    name = _CONTROL.sub("", name or "").strip()[:MAX_NAME]
    donation = {
        "_id": ObjectId(), "space_id": campaign["space_id"], "campaign_id": campaign["_id"], "key": key,
        "amount": minor, "currency": campaign["currency"], "method": method, "state": PENDING, "refunded": 0,
        "donor": {"user_id": user["_id"] if user else None, "email": email, "name": name,
                  "locale": locale if locale in LOCALES else "en"},
        "donor_key": f"u:{user['_id']}" if user else f"e:{email}",
        "anonymous": bool(anonymous), "message": message, "source": source, "attempt_id": None,
        "created_at": utcnow(), "confirmed_at": None, "receipt": None,
        "remember": bool(remember or monthly) and method == CARD and user is not None,
        "monthly": bool(monthly),
        "card_id": card["_id"] if card else None, "try": 0,
        "pledge_id": pledge["_id"] if pledge else None, "period": pledge["period"] if pledge else None,
    }
    try:
        await db[DONATIONS].insert_one(donation)
    except DuplicateKeyError:
        # The same dialog sent twice at once: the other request stored it.
        found = await db[DONATIONS].find_one({"campaign_id": campaign["_id"], "key": key})
        if found is None:
            raise
        return await _again(services, campaign, found, minor, method, user, card_id)
    await audit.record(db, actor=user, action="donations.give", space_id=campaign["space_id"],
                       params={"donation_id": donation["_id"], "campaign_id": campaign["_id"], "amount": minor,
                               "currency": campaign["currency"], "method": method, "source": source})
    return await _proceed(services, campaign, donation)


async def _again(services, campaign, donation: dict, minor: int, method: str, user,
                 card_id: str = "") -> dict[str, Any]:
    owner = donation["donor"].get("user_id")
    if donation["amount"] != minor or donation["method"] != method or \
            (owner is not None and (user is None or user["_id"] != owner)) or \
            (method == SAVED and str(donation.get("card_id")) != str(card_id)):
        raise GiftError(KEY_REUSED)
    return await _proceed(services, campaign, donation)


async def _proceed(services, campaign, donation: dict) -> dict[str, Any]:
    """Take the donation as far as it goes now: its card payment started, or its wallet debit made."""
    if donation["state"] != PENDING:
        return donation
    if donation["method"] in (CARD, SAVED):
        saved = await _saved_for(services, donation)
        tried = int(donation.get("try") or 0)
        attempt = await attempts.start(
            services, purpose=PURPOSE, ref=str(donation["_id"]), amount=donation["amount"],
            currency=donation["currency"],
            idempotency_key=f"donation-{donation['_id']}" + (f"-{tried}" if tried else ""),
            payer_email=donation["donor"]["email"], locale=donation["donor"]["locale"],
            description=campaigns.title(campaign, donation["donor"]["locale"])[:200], method=CARD,
            details=None, space_id=donation["space_id"], return_path=f"{page_path(campaign)}?gift={donation['_id']}",
            saved=saved)
        if donation.get("attempt_id") != attempt["_id"]:
            await services.db[DONATIONS].update_one({"_id": donation["_id"]}, {"$set": {"attempt_id": attempt["_id"]}})
        return {**donation, "attempt_id": attempt["_id"], "attempt": attempt}
    # A refused debit marks the gift so the sweep passes it by; the mark goes before any new try, so a
    # debit that passes is never hidden from the sweep.
    if donation.get("refused_at"):
        await services.db[DONATIONS].update_one({"_id": donation["_id"]}, {"$set": {"refused_at": None}})
    try:
        await wallet.debit(services.db, donation["donor"]["user_id"], donation["currency"], donation["amount"],
                           key=f"gift-{donation['_id']}", donation_id=donation["_id"],
                           campaign_id=donation["campaign_id"])
    except wallet.NotEnough:
        await services.db[DONATIONS].update_one({"_id": donation["_id"], "state": PENDING},
                                                {"$set": {"refused_at": utcnow()}})
        raise
    moved = await confirm(services, donation["_id"], payment_ref=f"wallet:gift-{donation['_id']}", campaign=campaign)
    return moved or await get(services.db, donation["_id"]) or donation


async def _saved_for(services, donation: Mapping[str, Any]) -> dict[str, str] | None:
    """What the payment is told of the donor's saved card: the card to charge, or the Customer to keep it for."""
    if donation["method"] == SAVED:
        card = await services.db[saved_cards.CARDS].find_one({"_id": donation.get("card_id"),
                                                              "state": saved_cards.ACTIVE})
        if card is None:
            raise saved_cards.CardError(saved_cards.NOT_FOUND)
        return {"customer": card["customer"], "payment_method": card["payment_method"]}
    if donation.get("remember") and donation["donor"].get("user_id"):
        user = await services.db.users.find_one({"_id": donation["donor"]["user_id"]})
        if user is not None:
            _, customer = await saved_cards.customer_for(services, user, donation["space_id"])
            return {"customer": customer}
    return None


async def retry(services, campaign: Mapping[str, Any], donation: Mapping[str, Any], tried: int) -> dict[str, Any]:
    """Try a pending gift's payment again as try number `tried` (a new attempt, once however many call it)."""
    await services.db[DONATIONS].update_one({"_id": donation["_id"], "state": PENDING, "try": {"$lt": tried}},
                                            {"$set": {"try": tried, "failure": None}})
    found = await get(services.db, donation["_id"])
    return await _proceed(services, campaign, found) if found else dict(donation)


def page_path(campaign: Mapping[str, Any]) -> str:
    """The campaign's public page (`handlers.donations`)."""
    return f"/campaigns/{campaign['_id']}"


async def get(db, donation_id: Any) -> dict | None:
    oid = campaigns.as_id(donation_id)
    return await db[DONATIONS].find_one({"_id": oid}) if oid else None


async def confirm(services, donation_id: Any, *, payment_ref: str,
                  campaign: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """pending -> confirmed, once; the confirmed donation for the call that moved it (None for any
    other).  Announces and mails the receipt (`campaign`: the donation's, when the caller has it)."""
    db = services.db
    now = utcnow()
    # The move also lists what the campaign's counter now owes (`donations.totals`): counted just below,
    # or by the sweep should this process stop first.
    moved = await db[DONATIONS].find_one_and_update(
        {"_id": donation_id, "state": PENDING},
        {"$set": {"state": CONFIRMED, "confirmed_at": now, "payment_ref": payment_ref},
         "$push": {"uncounted": totals.confirmed_fact(donation_id, now)}},
        return_document=True)
    if moved is None:
        return None
    await totals.count_owed(db, moved)
    await services.notifier.announce(moved["campaign_id"], {"kind": totals.CHANGE})
    await send_receipt(services, moved, campaign)
    return moved


async def send_receipt(services, donation: Mapping[str, Any], campaign: Mapping[str, Any] | None = None) -> None:
    if campaign is None or campaign["_id"] != donation["campaign_id"]:
        campaign = await campaigns.get(services.db, donation["campaign_id"])
    if campaign is None:
        return
    if await mails.send_receipt(services, campaign, donation):
        await services.db[DONATIONS].update_one({"_id": donation["_id"]}, {"$set": {"receipt": utcnow()}})


async def latest(db, campaign_id: Any, limit: int = 10) -> list[dict]:
    """The latest confirmed gifts, as the campaign page lists them (anonymous ones without a name)."""
    found = await db[DONATIONS].find({"campaign_id": campaign_id, "state": CONFIRMED},
                                     {"amount": 1, "currency": 1, "anonymous": 1, "message": 1, "donor.name": 1,
                                      "confirmed_at": 1, "message_hidden": 1}) \
        .sort([("confirmed_at", -1)]).to_list(limit)
    # A message staff hid is not shown; the gift is.
    return [{**d, "message": ""} if d.get("message_hidden") else d for d in found]


async def of_campaign(db, campaign_id: Any, limit: int = 200) -> list[dict]:
    """A campaign's gifts for its staff, newest first (every state)."""
    return await db[DONATIONS].find({"campaign_id": campaign_id}, {"key": 0}).sort([("created_at", -1)]) \
        .to_list(limit)


async def hide_message(db, actor: Mapping[str, Any], campaign: Mapping[str, Any], donation_id: Any,
                       hidden: bool = True) -> dict:
    """Staff hide (or show again) a gift's public message; the gift itself counts as before.  Audited."""
    oid = campaigns.as_id(donation_id)
    found = await db[DONATIONS].find_one_and_update(
        {"_id": oid, "campaign_id": campaign["_id"]} if oid else {"_id": None},
        {"$set": {"message_hidden": bool(hidden)}}, return_document=True)
    if found is None:
        raise GiftError(N_("This gift does not exist."))
    await audit.record(db, actor=actor, action="donations.message_hidden" if hidden else "donations.message_shown",
                       space_id=campaign["space_id"], params={"donation_id": found["_id"],
                                                             "campaign_id": campaign["_id"]})
    return found


# --- the sweep -------------------------------------------------------------------------------------

SWEEP_SECONDS = 60.0
STALE = 120   # seconds: a wallet gift pending this long was left by a stopped process (or refused)


async def sweep(services) -> int:
    """Confirm the wallet gifts a stopped process left between the debit and the confirmation; how many.

    First, the facts of gifts confirmed or refunded that a stopped process
    left uncounted are counted (`donations.totals.sweep`).  Then a wallet
    gift whose debit is applied (its entry `gift-<donation>` held by the
    balance) but whose donation is still pending is confirmed, once (the
    guarded move).  One whose debit was refused (`refused_at`) stays pending
    and uncounted, and is not looked at again.  A confirmed gift whose
    receipt did not go out is mailed again.
    """
    db = services.db
    since = utcnow() - datetime.timedelta(seconds=STALE)
    done = 0
    # Facts a stopped process left owed to a campaign's counter (`donations.totals`), then announced.
    _, recounted = await totals.sweep(db)
    for campaign_id in recounted:
        await services.notifier.announce(campaign_id, {"kind": totals.CHANGE})
    async for donation in db[DONATIONS].find({"method": WALLET, "state": PENDING, "refused_at": None,
                                              "created_at": {"$lt": since}},
                                             {"_id": 1, "donor": 1, "currency": 1}).limit(1000):
        key = f"gift-{donation['_id']}"
        bid = wallet.balance_id(donation["donor"]["user_id"], donation["currency"])
        if await db[wallet.BALANCES].find_one({"_id": bid, "keys": key}, {"_id": 1}):
            await db[wallet.ENTRIES].update_one({"key": key, "state": wallet.PENDING},
                                                {"$set": {"state": wallet.APPLIED, "applied_at": utcnow()}})
            if await confirm(services, donation["_id"], payment_ref=f"wallet:{key}"):
                done += 1
    # Receipts whose mail failed (or whose process stopped before it): tried again; the outbox's key
    # keeps one that did go out from going twice.
    async for donation in db[DONATIONS].find({"state": CONFIRMED, "receipt": None,
                                              "confirmed_at": {"$lt": since}}).limit(1000):
        await send_receipt(services, donation)
    return done


# --- what the payments package calls back -------------------------------------------------------

def install(registry) -> None:
    """Register the donation and wallet purposes with the payments package, once at assembly."""
    registry.register(PURPOSE, on_paid=on_paid, on_failed=on_failed, on_refunded=on_refunded, space_of=space_of)
    registry.register(WALLET_PURPOSE, on_paid=on_topup_paid)


async def space_of(services, ref: str):
    found = await get(services.db, ref)
    return found["space_id"] if found else None


async def on_paid(services, ref: str, attempt: Mapping[str, Any]) -> None:
    donation = await get(services.db, ref)
    if donation is None:
        log.error("payment for an unknown donation", extra={"donation_id": str(ref)})
        return
    if int(attempt["amount"]) != donation["amount"] or attempt["currency"] != donation["currency"]:
        log.error("payment differs from its donation", extra={"donation_id": str(ref)})
        return
    await confirm(services, donation["_id"], payment_ref=str(attempt["_id"]))
    if donation.get("remember") and attempt.get("provider_ref"):
        await _keep_card(services, donation, attempt)


async def _keep_card(services, donation: Mapping[str, Any], attempt: Mapping[str, Any]) -> None:
    """The card a "remember this card" gift was paid with, saved for its donor (never blocks the gift)."""
    try:
        user = await services.db.users.find_one({"_id": donation["donor"]["user_id"]})
        if user is None:
            return
        provider = services.payments.provider(attempt)
        method = await provider.intent_method(attempt["provider_ref"])
        if method:
            card = await saved_cards.remember(services, user, donation["space_id"], method)
            if donation.get("monthly"):
                from donations import pledges
                await pledges.from_gift(services, user, donation, card)
    except Exception:
        log.exception("card not kept", extra={"donation_id": str(donation["_id"])})


async def on_failed(services, ref: str, attempt: Mapping[str, Any]) -> None:
    # The donation stays pending: the donor may try another card on the same payment page.
    failure = attempt.get("failure") or {}
    await services.db[DONATIONS].update_one(
        {"_id": campaigns.as_id(ref), "state": PENDING},
        {"$set": {"failure": str(failure.get("message") or failure.get("code") or "")[:500]}})


async def on_refunded(services, ref: str, attempt: Mapping[str, Any], amount: int) -> None:
    """Take a refund off the donation once (keyed by the provider's refund); whole, it no longer counts."""
    db = services.db
    refund_key = str((attempt.get("refund") or {}).get("key") or (attempt.get("refund") or {}).get("id") or "")
    donation = await get(db, ref)
    if donation is None or donation["state"] not in (CONFIRMED, REFUNDED):
        return
    now = utcnow()
    moved = await db[DONATIONS].find_one_and_update(
        {"_id": donation["_id"], "refund_keys": {"$ne": refund_key}, "state": {"$in": [CONFIRMED, REFUNDED]}},
        {"$inc": {"refunded": int(amount)},
         "$push": {"refund_keys": refund_key,
                   "uncounted": totals.refund_fact(donation["_id"], refund_key, int(amount), now)}},
        return_document=True)
    if moved is None:
        # This refund was taken off before: finish what a stopped process may have left of it.
        moved = await get(db, donation["_id"])
        if moved is None or refund_key not in moved.get("refund_keys", []):
            return
    if moved["refunded"] >= moved["amount"] and moved["state"] == CONFIRMED:
        whole = await db[DONATIONS].find_one_and_update(
            {"_id": moved["_id"], "state": CONFIRMED},
            {"$set": {"state": REFUNDED}, "$push": {"uncounted": totals.whole_refund_fact(moved["_id"], now)}},
            return_document=True)
        moved = whole or await get(db, moved["_id"]) or moved
    await totals.count_owed(db, moved)
    await services.notifier.announce(moved["campaign_id"], {"kind": totals.CHANGE})


# --- wallet top-ups -------------------------------------------------------------------------------

async def top_up(services, user: Mapping[str, Any], *, amount: str, currency: str, key: str,
                 locale: str = "en") -> dict[str, Any]:
    """The card payment of a wallet top-up for this form's key (once: the same attempt again on a retry)."""
    key = (key or "").strip()
    if not KEY.match(key):
        raise GiftError(BAD_KEY)
    currency = (currency or "").strip().upper()
    minor = within_limits(amount, currency, locale)
    try:
        return dict(await attempts.start(
            services, purpose=WALLET_PURPOSE, ref=str(user["_id"]), amount=minor, currency=currency,
            idempotency_key=f"wallet-{user['_id']}-{key}", payer_email=str(user.get("email") or ""),
            locale=locale, description="Livehall wallet", method=CARD, details=None, space_id=None,
            return_path="/me/wallet"))
    except attempts.PaymentError as exc:
        if exc.message == attempts.KEY_REUSED:
            raise GiftError(KEY_REUSED) from None
        raise


async def on_topup_paid(services, ref: str, attempt: Mapping[str, Any]) -> None:
    user_id = campaigns.as_id(ref)
    if user_id is None:
        log.error("wallet top-up for an unknown donor", extra={"ref": str(ref)})
        return
    await wallet.credit(services.db, user_id, attempt["currency"], int(attempt["amount"]),
                        key=f"topup-{attempt['_id']}", attempt_id=attempt["_id"])
