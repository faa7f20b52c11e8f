"""Payment attempts: start one, refund it, and apply what providers report, once per fact.

`start` is idempotent on (purpose, idempotency key): the same key returns
the same attempt, and the provider is asked once (a card attempt's
PaymentIntent is created under the attempt's own Idempotency-Key, and a
lease keeps two concurrent starts from both asking).  The same key with a
different amount, currency, method or reference is refused.

`apply` takes a provider's `Fact` (from a verified notification, from the
reconciliation sweep, or from staff marking an invoice paid) and moves the
attempt through `payments.states`.  The move queues the purpose's callback
in the same conditional update; `fire` then writes the ledger entry and
calls the callback, claiming each queued callback first so that two
processes never both call it.  A process that dies between the move and the
callback leaves the callback queued; the sweep (`payments.reconcile`) calls
it once its claim has run out.  So: exactly once per fact while processes
live, and never lost when one dies mid-way (the purpose's action is
idempotent for that case).

`refund` reserves the amount on the attempt (a guarded decrement of
`refundable`, so two refunds at once never give back more than was paid),
asks the provider with the refund's own key, and applies the refund the
provider reports; its notification, arriving too, finds it counted.
"""
from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_
from payments import ledger, legal, providers, states
from payments.model import (
    CANCELLED,
    CARD,
    CURRENCIES,
    FAILED,
    INVOICE,
    MAX_AMOUNT,
    METHODS,
    PARTIALLY_REFUNDED,
    PROCESSING,
    REFUNDED,
    REQUIRES_ACTION,
    SUCCEEDED,
    AttemptDoc,
)
from payments.providers import Fact

log = logging.getLogger(__name__)

# A lease on preparing an attempt with its provider, and on calling one queued callback.
PREPARE_LEASE = datetime.timedelta(seconds=60)
CALLBACK_LEASE = datetime.timedelta(seconds=120)
# How long a second `start` with the same key waits for the first to finish preparing.
WAIT_FOR_PREPARE_SECONDS = 10.0

BAD_AMOUNT = N_("The amount must be a whole number of minor units above zero.")
BAD_CURRENCY = N_("This currency is not accepted.")
BAD_METHOD = N_("This way of paying is not offered.")
BAD_KEY = N_("The payment has no idempotency key.")
KEY_REUSED = N_("This payment key was already used for a different payment.")
NO_SELLER = N_("This organiser has not entered its legal details yet, so it cannot issue invoices. "
               "Choose another way to pay.")
NO_SPACE = N_("Invoices are issued by an organiser's space; this payment has none.")
NOT_FOUND = N_("This payment does not exist.")
NOT_REFUNDABLE = N_("Only a paid payment can be refunded.")
TOO_MUCH = N_("At most %(left)s can be refunded.")
BAD_REASON = N_("Give a reason for the refund (at most 500 characters).")


class PaymentError(Refusal):
    """A refused payment action; nothing was stored."""


# --- starting --------------------------------------------------------------------------------

def _check(amount: Any, currency: str, method: str, key: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise PaymentError(BAD_AMOUNT)
    if currency not in CURRENCIES:
        raise PaymentError(BAD_CURRENCY)
    if method not in METHODS:
        raise PaymentError(BAD_METHOD)
    if not key or len(key) > 200:
        raise PaymentError(BAD_KEY)


async def start(services, *, purpose: str, ref: Any, amount: int, currency: str, idempotency_key: str,
                payer_email: str, locale: str, description: str, method: str = CARD,
                details: dict | None = None, space_id: Any = None, return_path: str | None = None,
                saved: Mapping[str, str] | None = None) -> AttemptDoc:
    """The attempt for this purpose's `ref` and key, created and prepared with its provider once.

    `saved` (card only): the payer's Customer at the card provider, and the
    saved PaymentMethod to charge at once while they are away (off-session);
    a Customer alone ties the payment to it so its card may be kept.

    `space_id`, when not given, is asked of the purpose (`space_of`).
    `return_path`: where the payer's page leads back to (a path on this
    site, such as the order's page; anything else is dropped).
    Invoices need a space with legal details (`payments.seller`) and valid
    organisation `details` (`payments.legal.clean`); a refusal stores nothing.
    """
    from payments import seller
    payments = services.payments
    registered = payments.purpose(purpose)
    currency = (currency or "").upper()
    key = (idempotency_key or "").strip()
    _check(amount, currency, method, key)
    db = services.db
    if space_id is None and registered.space_of is not None:
        space_id = await registered.space_of(services, ref)
    clean_details = None
    if method == INVOICE:
        clean_details = legal.clean(details or {})
        if space_id is None:
            raise PaymentError(NO_SPACE)
        if await seller.load(db, space_id) is None:
            raise PaymentError(NO_SELLER)
    provider = payments.card_for(space_id) if method == CARD else payments.invoice
    if method == CARD and not provider.configured:
        raise providers.ProviderUnavailable()
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": ObjectId(), "purpose": purpose, "ref": ref, "space_id": space_id, "method": method,
        "provider": provider.name, "account": getattr(provider, "account", None),
        "amount": amount, "currency": currency, "idempotency_key": key,
        "payer_email": (payer_email or "").strip().lower()[:320], "locale": locale if locale in LOCALES else "en",
        "description": (description or "")[:500], "details": clean_details,
        "return_path": local_path(return_path),
        "state": "created", "version": 0, "created_at": now, "updated_at": now,
        "provider_ref": None, "client_secret": None, "charge_ref": None,
        "refunded": 0, "refundable": 0, "refunds": [], "refund_refs": [], "history": [], "callbacks": [],
        "check_at": None, "checks": 0, "invoice": None, "failure": None, "preparing_until": None,
        "saved": {k: str(v) for k, v in saved.items() if k in ("customer", "payment_method") and v}
        if saved and method == CARD else None,
    }
    try:
        await db.payment_attempts.insert_one(doc)
        attempt: AttemptDoc = doc  # type: ignore[assignment]
        await audit.record(db, actor=None, action="payment.start", space_id=space_id,
                           params={"attempt_id": doc["_id"], "purpose": purpose, "ref": str(ref), "amount": amount,
                                   "currency": currency, "method": method})
    except DuplicateKeyError:
        found = await db.payment_attempts.find_one({"purpose": purpose, "idempotency_key": key})
        if found is None:
            raise
        if (found["ref"], found["amount"], found["currency"], found["method"]) != (ref, amount, currency, method):
            raise PaymentError(KEY_REUSED) from None
        attempt = found
    return await _prepare(services, attempt)


def local_path(path: str | None) -> str | None:
    """A path on this site, or None: never another origin (`//host`, `/\\host`, a scheme)."""
    path = (path or "").strip()
    if not path.startswith("/") or path.startswith("//") or len(path) > 300 or \
            any(c.isspace() or c == "\\" for c in path):
        return None
    return path


def _prepared(attempt: Mapping[str, Any]) -> bool:
    return bool(attempt.get("provider_ref") or attempt.get("invoice"))


async def _prepare(services, attempt: AttemptDoc) -> AttemptDoc:
    """Ask the provider once: the process holding the lease asks; any other waits for its answer."""
    db = services.db
    if _prepared(attempt):
        return attempt
    now = utcnow()
    claimed = await db.payment_attempts.find_one_and_update(
        {"_id": attempt["_id"], "provider_ref": None, "invoice": None,
         "$or": [{"preparing_until": None}, {"preparing_until": {"$lt": now}}]},
        {"$set": {"preparing_until": now + PREPARE_LEASE}}, return_document=ReturnDocument.AFTER)
    if claimed is None:
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_PREPARE_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            current = await db.payment_attempts.find_one({"_id": attempt["_id"]})
            if current is None or _prepared(current):
                return current or attempt
            await asyncio.sleep(0.1)
        return await db.payment_attempts.find_one({"_id": attempt["_id"]}) or attempt
    provider = services.payments.provider(claimed)
    try:
        fields = await provider.prepare(claimed) if attempt["method"] == CARD \
            else await provider.prepare(claimed, services=services)
    except BaseException:
        await db.payment_attempts.update_one({"_id": attempt["_id"]}, {"$set": {"preparing_until": None}})
        raise
    # A saved card declined at once: its failure is applied now, as its notification would apply it.
    facts = fields.pop("facts", None) or []
    if attempt["method"] == CARD:
        fields["check_at"] = utcnow() + datetime.timedelta(minutes=services.settings.payment_check_minutes)
    if facts and not fields.get("provider_ref"):
        # No PaymentIntent to name: the attempt is still marked prepared, so it is never charged twice.
        fields["provider_ref"] = f"declined:{attempt['_id']}"
        fields["check_at"] = None   # nothing at the provider to ask about
    after = await db.payment_attempts.find_one_and_update(
        {"_id": attempt["_id"], "provider_ref": None, "invoice": None},
        {"$set": {**fields, "preparing_until": None, "updated_at": utcnow()}},
        return_document=ReturnDocument.AFTER)
    after = after or await db.payment_attempts.find_one({"_id": attempt["_id"]})
    for fact in facts:
        after = await apply(services, after["provider"], fact, by="provider", attempt=after) or after
    if attempt["method"] == INVOICE:
        from payments import invoices
        services.spawn(invoices.mail(services, after["_id"]))
    return after


# --- reading -----------------------------------------------------------------------------------

async def get(db, attempt_id: Any) -> AttemptDoc | None:
    try:
        oid = attempt_id if isinstance(attempt_id, ObjectId) else ObjectId(str(attempt_id))
    except Exception:
        return None
    return await db.payment_attempts.find_one({"_id": oid})


def page_token(secret: str, attempt_id: Any) -> str:
    """What lets the payer's browser open the attempt's payment page without an account."""
    return hmac.new(secret.encode(), f"payment-page:{attempt_id}".encode(), hashlib.sha256).hexdigest()[:32]


def token_ok(secret: str, attempt_id: Any, token: str) -> bool:
    return hmac.compare_digest(page_token(secret, attempt_id), (token or "")[:64])


def pay_url(services, attempt: Mapping[str, Any]) -> str:
    """The payer's page for a card attempt (`handlers/payments.py`), to redirect the payer to."""
    return f"/pay/{attempt['_id']}?t={page_token(services.settings.cookie_secret, attempt['_id'])}"


# --- applying facts ----------------------------------------------------------------------------

def _callback(kind: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "kind": kind, "claimed_until": None, **extra}


async def _find(db, provider_name: str, fact: Fact) -> AttemptDoc | None:
    if fact.provider_ref:
        found = await db.payment_attempts.find_one({"provider": provider_name, "provider_ref": fact.provider_ref})
        if found:
            return found
    if fact.attempt_id:
        found = await get(db, fact.attempt_id)
        # The notification can outrun storing the intent's id; never match another intent's attempt.
        if found and found.get("provider") == provider_name and \
                found.get("provider_ref") in (None, fact.provider_ref):
            return found
    return None


async def apply(services, provider_name: str, fact: Fact, *, by: str = "provider",
                attempt: Mapping[str, Any] | None = None) -> AttemptDoc | None:
    """Apply one fact; returns the attempt it concerns (None: unknown to this platform).

    Whether anything changed shows in the attempt's history; a fact that
    the state machine has no move for (a late failure after a success, a
    success after a refund, the same fact twice) changes nothing.
    """
    found, _ = await apply_moved(services, provider_name, fact, by=by, attempt=attempt)
    return found


async def apply_moved(services, provider_name: str, fact: Fact, *, by: str = "provider",
                      attempt: Mapping[str, Any] | None = None) -> tuple[AttemptDoc | None, bool]:
    """`apply`, also saying whether this call moved the attempt (of several at once, one does)."""
    db = services.db
    found = await get(db, attempt["_id"]) if attempt is not None else await _find(db, provider_name, fact)
    if found is None:
        return None, False
    moved = None
    if fact.kind == providers.SUCCEEDED:
        moved = await _succeeded(db, found, fact, by)
    elif fact.kind == providers.FAILED:
        moved = await _simple(db, found, FAILED, by, fact, "failed")
    elif fact.kind == providers.CANCELLED:
        moved = await _simple(db, found, CANCELLED, by, fact, "failed")
    elif fact.kind == providers.PROCESSING:
        moved = await _simple(db, found, PROCESSING, by, fact, None)
    elif fact.kind == providers.REQUIRES_ACTION:
        moved = await _simple(db, found, REQUIRES_ACTION, by, fact, None)
    elif fact.kind == providers.REFUND:
        moved = await _refund(db, found, fact, by)
    if moved is not None:
        return await fire(services, found["_id"], attempt=moved) or moved, True
    return found, False


async def _succeeded(db, attempt: AttemptDoc, fact: Fact, by: str) -> AttemptDoc | None:
    if fact.amount is not None and (fact.amount != attempt["amount"] or
                                    (fact.currency and fact.currency != attempt["currency"])):
        # Never count money this attempt did not ask for; staff see it in the log and on the attempt.
        log.error("payment amount differs from the attempt", extra={
            "attempt": str(attempt["_id"]), "expected": attempt["amount"], "got": fact.amount})
        await db.payment_attempts.update_one({"_id": attempt["_id"]}, {"$set": {"failure": {
            "code": "amount_mismatch", "message": f"{fact.amount} {fact.currency}"}}})
        return None
    charge_ref = fact.charge_ref or fact.provider_ref or str(attempt["_id"])

    def make(current: AttemptDoc) -> states.Move:
        entry = ledger.entry(current, ledger.CHARGE, current["amount"], charge_ref)
        return states.Move(by=by, why=fact.message, set={"charge_ref": charge_ref, "refundable": current["amount"],
                                                          "paid_at": utcnow(), "check_at": None},
                           callbacks=[_callback("paid", "paid", ledger=entry)])
    _, after = await states.move(db, attempt["_id"], SUCCEEDED, make, fresh=attempt)
    return after


async def _simple(db, attempt: AttemptDoc, wanted: str, by: str, fact: Fact, callback: str | None
                  ) -> AttemptDoc | None:
    def make(current: AttemptDoc) -> states.Move:
        fields: dict[str, Any] = {}
        if fact.code or fact.message:
            fields["failure"] = {"code": fact.code, "message": fact.message}
        if wanted == CANCELLED:
            fields["check_at"] = None
        calls = [_callback(callback, f"{callback}-{uuid.uuid4().hex}")] if callback else []
        return states.Move(by=by, why=fact.message or fact.code, set=fields, callbacks=calls)
    _, after = await states.move(db, attempt["_id"], wanted, make, fresh=attempt)
    return after


async def _refund(db, attempt: AttemptDoc, fact: Fact, by: str) -> AttemptDoc | None:
    """Count a refund the provider made (ours or one made at the provider directly), once by its id."""
    mine = next((r for r in attempt.get("refunds", []) if fact.refund_key and r.get("key") == fact.refund_key),
                None)
    if fact.refund_status in ("failed", "canceled"):
        if mine is not None and mine.get("state") == "requested":
            # The reservation goes back: that amount can be refunded again.
            await db.payment_attempts.update_one(
                {"_id": attempt["_id"], "refunds": {"$elemMatch": {"key": mine["key"], "state": "requested"}}},
                {"$set": {"refunds.$.state": "failed", "refunds.$.provider_ref": fact.refund_ref},
                 "$inc": {"refundable": mine["amount"]}})
        return None
    if fact.refund_status not in ("succeeded", "") or not fact.refund_ref or not fact.amount:
        return None
    amount: int = fact.amount
    current: AttemptDoc | None = attempt
    for _ in range(states.TRIES):
        if current is None:
            current = await get(db, attempt["_id"])
        if current is None or fact.refund_ref in current.get("refund_refs", []):
            return None
        total = current.get("refunded", 0) + amount
        wanted = REFUNDED if total >= current["amount"] else PARTIALLY_REFUNDED
        if not states.allowed(current["state"], wanted):
            return None
        mine = next((r for r in current.get("refunds", [])
                     if fact.refund_key and r.get("key") == fact.refund_key and r.get("state") == "requested"), None)

        def make(now_: AttemptDoc, mine=mine, wanted=wanted, total=total) -> states.Move | None:
            if now_.get("refunded", 0) + amount != total or fact.refund_ref in now_.get("refund_refs", []):
                return None
            entry = ledger.entry(now_, ledger.REFUND, amount, fact.refund_ref)
            move = states.Move(by=by, why=fact.message, inc={"refunded": amount},
                               push={"refund_refs": fact.refund_ref},
                               guard={"refund_refs": {"$ne": fact.refund_ref}},
                               callbacks=[_callback("refunded", f"refund-{fact.refund_ref}", amount=amount,
                                                    ledger=entry, refund_ref=fact.refund_ref,
                                                    refund_key=mine["key"] if mine is not None
                                                    else f"external-{fact.refund_ref}")])
            if mine is not None:
                move.guard["refunds"] = {"$elemMatch": {"key": mine["key"], "state": "requested"}}
                move.set.update({"refunds.$.state": "succeeded", "refunds.$.provider_ref": fact.refund_ref})
            else:
                # Made at the provider, not through this platform: it was never reserved.
                move.inc["refundable"] = -amount
                move.push["refunds"] = {"key": f"external-{fact.refund_ref}", "amount": amount,
                                        "state": "succeeded", "provider_ref": fact.refund_ref, "reason": "",
                                        "by": by, "at": utcnow()}
            return move
        _, after = await states.move(db, attempt["_id"], wanted, make, fresh=current)
        if after is not None:
            return after
        current = None
    return None


# --- callbacks -----------------------------------------------------------------------------------

async def fire(services, attempt_id: Any, *, attempt: AttemptDoc | None = None) -> AttemptDoc | None:
    """Write the ledger entry and call the purpose for each queued callback, each claimed first.

    `attempt`: the attempt as just written, when the caller has it (it is
    not read again).  Returns the attempt as last read (None: gone).
    """
    db = services.db
    current: AttemptDoc | None = attempt
    while True:
        if current is None:
            current = await get(db, attempt_id)
            if current is None:
                return None
        now = utcnow()
        due = [c for c in current.get("callbacks", [])
               if c.get("claimed_until") is None or _aware(c["claimed_until"]) < now]
        if not due:
            return current
        call = due[0]
        claimed = await claim(db, current["_id"], call)
        if claimed is None:
            current = None  # another process took it (or it is done): look again
            continue
        try:
            await _call(services, claimed, call)
        except Exception:
            # Left claimed: the sweep calls it again once the claim has run out.
            log.exception("payment callback failed", extra={"attempt": str(attempt_id), "callback": call["kind"]})
            return claimed
        # What is left to call comes back with the removal: the next turn need not read it.
        current = await db.payment_attempts.find_one_and_update(
            {"_id": current["_id"]}, {"$pull": {"callbacks": {"id": call["id"]}}},
            return_document=ReturnDocument.AFTER)
        if current is None:
            return None


async def claim(db, attempt_id: Any, call: Mapping[str, Any]) -> AttemptDoc | None:
    """Take one queued callback as read (its claim unchanged since): of two processes, one gets it."""
    return await db.payment_attempts.find_one_and_update(
        {"_id": attempt_id,
         "callbacks": {"$elemMatch": {"id": call["id"], "claimed_until": call.get("claimed_until")}}},
        {"$set": {"callbacks.$.claimed_until": utcnow() + CALLBACK_LEASE}}, return_document=ReturnDocument.AFTER)


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


async def _call(services, attempt: AttemptDoc, call: Mapping[str, Any]) -> None:
    if call.get("ledger"):
        await ledger.write(services.db, call["ledger"])
    purpose = services.payments.purposes.get(attempt["purpose"])
    if purpose is None:
        log.error("payment purpose not registered", extra={"purpose": attempt["purpose"]})
        raise LookupError(attempt["purpose"])
    if call["kind"] == "paid":
        await purpose.on_paid(services, attempt["ref"], attempt)
    elif call["kind"] == "failed" and purpose.on_failed is not None:
        await purpose.on_failed(services, attempt["ref"], attempt)
    elif call["kind"] == "refunded" and purpose.on_refunded is not None:
        # Which refund this is: the purpose keys its own bookkeeping by it, so a callback called
        # again (after a process died mid-way) counts once.
        refund = {"id": call["id"], "ref": call.get("refund_ref", ""), "key": call.get("refund_key", "")}
        await purpose.on_refunded(services, attempt["ref"], {**attempt, "refund": refund}, call["amount"])


# --- refunds -----------------------------------------------------------------------------------

async def refund(services, *, attempt_id: Any, amount: int, reason: str, idempotency_key: str,
                 actor: Mapping[str, Any] | None) -> AttemptDoc:
    """Give back `amount` of a paid attempt; the same key again changes nothing more."""
    db = services.db
    attempt = await get(db, attempt_id)
    if attempt is None:
        raise PaymentError(NOT_FOUND)
    key = (idempotency_key or "").strip()
    reason = (reason or "").strip()
    if not key or len(key) > 200:
        raise PaymentError(BAD_KEY)
    if not reason or len(reason) > 500:
        raise PaymentError(BAD_REASON)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise PaymentError(BAD_AMOUNT)
    mine = next((r for r in attempt.get("refunds", []) if r.get("key") == key), None)
    if mine is None:
        if attempt["state"] not in (SUCCEEDED, PARTIALLY_REFUNDED):
            raise PaymentError(NOT_REFUNDABLE)
        entry = {"key": key, "amount": amount, "state": "requested", "reason": reason, "provider_ref": None,
                 "by": actor["_id"] if actor else None, "at": utcnow()}
        reserved = await db.payment_attempts.update_one(
            {"_id": attempt["_id"], "state": {"$in": [SUCCEEDED, PARTIALLY_REFUNDED]},
             "refundable": {"$gte": amount}, "refunds.key": {"$ne": key}},
            {"$inc": {"refundable": -amount}, "$push": {"refunds": entry}})
        if reserved.modified_count == 0:
            attempt = await get(db, attempt["_id"]) or attempt
            mine = next((r for r in attempt.get("refunds", []) if r.get("key") == key), None)
            if mine is None:
                if attempt["state"] not in (SUCCEEDED, PARTIALLY_REFUNDED):
                    raise PaymentError(NOT_REFUNDABLE)
                from payments.model import format_amount
                raise PaymentError(TOO_MUCH, left=format_amount(attempt.get("refundable", 0), attempt["currency"]))
        else:
            mine = entry
            await audit.record(db, actor=actor, action="payment.refund", space_id=attempt.get("space_id"),
                               params={"attempt_id": attempt["_id"], "amount": amount, "reason": reason,
                                       "key": key})
    if mine["amount"] != amount:
        raise PaymentError(KEY_REUSED)
    if mine["state"] != "requested":
        return await get(db, attempt["_id"]) or attempt
    provider = services.payments.provider(attempt)
    try:
        fact = await provider.refund(attempt, amount, key, reason)
    except providers.ProviderRefused:
        await db.payment_attempts.update_one(
            {"_id": attempt["_id"], "refunds": {"$elemMatch": {"key": key, "state": "requested"}}},
            {"$set": {"refunds.$.state": "failed"}, "$inc": {"refundable": amount}})
        raise
    fact.refund_key = fact.refund_key or key
    await apply(services, attempt["provider"], fact, by=f"staff:{actor['_id']}" if actor else "system",
                attempt=attempt)
    return await get(db, attempt["_id"]) or attempt
