"""Web Push to donors' browsers: the installation's VAPID keys, subscriptions, and one delivery.

- **Keys.** One VAPID key pair (P-256) per installation: `VAPID_PRIVATE_KEY`
  if set, otherwise made on first use and kept in `platform_keys` under
  `_id` "vapid" (made once: a second process that races finds the first
  one's by the duplicate `_id`).  Browsers subscribe with its public key;
  changing it orphans every subscription.
- **Subscriptions.** A browser subscribes to a space's appeals from a
  campaign page: one document per (space, endpoint), with the browser's
  ECDH key (`p256dh`), its auth secret, the page's language, the account
  if signed in, and a donor key (the account's, or the guest donor's of a
  gift just made in that browser) so that segments reach it.  The endpoint
  must be an https address of an allowed push service (`PUSH_SERVICES`):
  the server posts to it, so a forged subscription cannot aim those posts
  anywhere else; the key must be a point on the curve.
- **Delivery.** The payload (JSON: title, body, url, tag) is encrypted
  with pywebpush (aes128gcm, RFC 8291) and signed with a VAPID JWT
  (py-vapid, RFC 8292: `Authorization: vapid t=…,k=…`, `aud` the push
  service's origin, `exp` twelve hours ahead), then posted with httpx.  A
  404 or 410 means the browser dropped the subscription: it is deleted and
  never tried again.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import fnmatch
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pymongo.errors import DuplicateKeyError
from pywebpush import WebPusher

from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_

KEYS = "platform_keys"
SUBSCRIPTIONS = "push_subscriptions"
VAPID_ID = "vapid"
MAX_ENDPOINT = 1024
TTL_SECONDS = 24 * 3600
GONE = (404, 410)
# Seconds before each new try of a push the service refused for now (429, 5xx) or did not answer.
RETRY_DELAYS = (2.0, 10.0)


class PushError(Refusal):
    """A subscription refused; nothing was stored."""


BAD_SUBSCRIPTION = N_("This push subscription is not valid.")
UNKNOWN_SERVICE = N_("This browser's push service is not accepted here.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys ------------------------------------------------------------------------------------------

def _raw_private(vapid: Vapid02) -> str:
    return _b64(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


def public_key(vapid: Vapid02) -> str:
    """The public key as browsers take it (`applicationServerKey`): the uncompressed point, base64url."""
    return _b64(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint))


async def vapid(services) -> Vapid02:
    """The installation's VAPID key pair: from `VAPID_PRIVATE_KEY`, or the stored one (made once)."""
    configured = services.settings.vapid_private_key.strip()
    if configured:
        return Vapid02.from_string(configured)
    db = services.db
    found = await db[KEYS].find_one({"_id": VAPID_ID})
    if found is None:
        made = Vapid02()
        made.generate_keys()
        try:
            await db[KEYS].insert_one({"_id": VAPID_ID, "private": _raw_private(made), "public": public_key(made),
                                       "created_at": utcnow()})
        except DuplicateKeyError:
            pass  # another process made it first: theirs is the one
        found = await db[KEYS].find_one({"_id": VAPID_ID})
    return Vapid02.from_string(found["private"])


def subject(settings) -> str:
    """The contact a push service may use (`sub`, a `mailto:` or `https:` address): `VAPID_SUBJECT`, else the
    site's address when it is https, else the sender of the platform's mail."""
    if settings.vapid_subject.strip():
        return settings.vapid_subject.strip()
    if settings.public_url.startswith("https://"):
        return settings.public_url
    return "mailto:" + (email.utils.parseaddr(settings.mail_from)[1] or "no-reply@localhost")


# --- subscriptions -----------------------------------------------------------------------------------

def allowed(settings, endpoint: str) -> bool:
    """Whether `endpoint` is on a push service of `PUSH_SERVICES` (scheme, host with `*.` wildcards, port)."""
    parts = urllib.parse.urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        return False
    for entry in settings.push_services.split():
        want = urllib.parse.urlsplit(entry)
        if parts.scheme != want.scheme or not parts.hostname or not want.hostname:
            continue
        if port != want.port:
            continue
        if parts.hostname == want.hostname or (want.hostname.startswith("*.") and
                                               fnmatch.fnmatchcase(parts.hostname, want.hostname)):
            return True
    return False


def clean_subscription(settings, raw: Any) -> dict[str, str]:
    """{endpoint, p256dh, auth} of a browser's `PushSubscription.toJSON()`; PushError when not genuine."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("keys"), Mapping):
        raise PushError(BAD_SUBSCRIPTION)
    endpoint, p256dh, auth = raw.get("endpoint"), raw["keys"].get("p256dh"), raw["keys"].get("auth")
    if not isinstance(endpoint, str) or not isinstance(p256dh, str) or not isinstance(auth, str) \
            or len(endpoint) > MAX_ENDPOINT or len(p256dh) > 100 or len(auth) > 40:
        raise PushError(BAD_SUBSCRIPTION)
    parts = urllib.parse.urlsplit(endpoint)
    if parts.username or parts.password or parts.fragment or any(c.isspace() for c in endpoint):
        raise PushError(BAD_SUBSCRIPTION)
    if not allowed(settings, endpoint):
        raise PushError(UNKNOWN_SERVICE)
    try:
        point, secret = _unb64(p256dh), _unb64(auth)
        # The browser's key must be a point on P-256, or nothing can be encrypted to it.
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error):
        raise PushError(BAD_SUBSCRIPTION) from None
    if len(point) != 65 or len(secret) != 16:
        raise PushError(BAD_SUBSCRIPTION)
    return {"endpoint": endpoint, "p256dh": _b64(point), "auth": _b64(secret)}


async def subscribe(db, space_id: Any, cleaned: Mapping[str, str], *, locale: str,
                    user: Mapping[str, Any] | None, donor_key: str | None = None) -> dict:
    """Store (or refresh) this browser's subscription to the space's appeals; the same browser again is one."""
    now = utcnow()
    values: dict[str, Any] = {"p256dh": cleaned["p256dh"], "auth": cleaned["auth"],
                              "locale": locale if locale in LOCALES else "en", "updated_at": now}
    if user is not None:
        values["user_id"] = user["_id"]
        values["donor_key"] = f"u:{user['_id']}"
    elif donor_key:
        values["donor_key"] = donor_key
    query = {"space_id": space_id, "endpoint": cleaned["endpoint"]}
    try:
        return await db[SUBSCRIPTIONS].find_one_and_update(
            query, {"$set": values, "$setOnInsert": {"_id": ObjectId(), "created_at": now}},
            upsert=True, return_document=True)
    except DuplicateKeyError:
        # The same browser twice at once: the other request stored it; this one refreshes it.
        return await db[SUBSCRIPTIONS].find_one_and_update(query, {"$set": values}, return_document=True)


async def unsubscribe(db, endpoint: str, space_id: Any = None) -> int:
    """Forget a browser's subscription (to one space, or to all); how many were removed."""
    query: dict[str, Any] = {"endpoint": str(endpoint)[:MAX_ENDPOINT]}
    if space_id is not None:
        query["space_id"] = space_id
    return (await db[SUBSCRIPTIONS].delete_many(query)).deleted_count


async def of_donors(db, space_id: Any, donor_keys: list[str]) -> list[dict]:
    """The space's subscriptions that belong to these donors."""
    found: list[dict] = []
    for i in range(0, len(donor_keys), 1000):
        found += await db[SUBSCRIPTIONS].find(
            {"space_id": space_id, "donor_key": {"$in": donor_keys[i:i + 1000]}}).to_list(None)
    return found


# --- delivery ---------------------------------------------------------------------------------------

def origin(endpoint: str) -> str:
    parts = urllib.parse.urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def request(keys: Vapid02, contact: str, subscription: Mapping[str, Any], payload: Mapping[str, Any],
            now: float | None = None) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of one push: the payload encrypted to the browser and the VAPID signature."""
    info = {"endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]}}
    body = WebPusher(info).encode(json.dumps(payload, ensure_ascii=False).encode(), "aes128gcm")["body"]
    claims = {"aud": origin(subscription["endpoint"]), "sub": contact,
              "exp": int((now or time.time()) + 12 * 3600)}
    headers = {**keys.sign(claims), "TTL": str(TTL_SECONDS), "Urgency": "normal",
               "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream"}
    return subscription["endpoint"], headers, body


async def deliver(db, client: httpx.AsyncClient, keys: Vapid02, contact: str, subscription: Mapping[str, Any],
                  payload: Mapping[str, Any], retry_delays: tuple[float, ...] = RETRY_DELAYS) -> tuple[bool, str]:
    """Push; (delivered, what the service said).  A subscription the service calls gone is deleted.

    A temporary refusal (429, a 5xx, no answer) is tried again after each of
    `retry_delays` (or the service's `Retry-After`, up to a minute), with a
    fresh signature each time; a push repeated that way carries the same
    notification tag, so the browser shows it once.
    """
    answer = ""
    for wait in (0.0, *retry_delays):
        if wait:
            await asyncio.sleep(wait)
        url, headers, body = request(keys, contact, subscription, payload)
        try:
            response = await client.post(url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            answer = f"{type(exc).__name__}: {exc}"[:300]
            continue
        if response.status_code in GONE:
            await db[SUBSCRIPTIONS].delete_one({"_id": subscription["_id"]})
            return False, f"{response.status_code}: subscription gone, deleted"
        if 200 <= response.status_code < 300:
            return True, str(response.status_code)
        answer = f"{response.status_code}: {response.text[:200]}"
        if response.status_code != 429 and response.status_code < 500:
            return False, answer       # a refusal that another try would not change
        later = response.headers.get("Retry-After", "")
        if later.isdigit() and retry_delays:
            await asyncio.sleep(min(int(later), 60))
    return False, answer


def client() -> httpx.AsyncClient:
    # Redirects are not followed: a push service answers where it was asked.
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
