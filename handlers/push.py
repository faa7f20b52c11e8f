"""Web Push for browsers: the service worker, the server's public key, subscribing and leaving.

- `GET /push-worker.js`: the service worker (`static/js/push-worker.js`),
  served from the root so its scope is the whole site; it shows each push
  as a notification and opens its address on a click.
- `GET /push/key`: `{"key": <VAPID public key, base64url>}` for
  `pushManager.subscribe({applicationServerKey})`.
- `POST /push/subscriptions` (JSON, with the XSRF header): `{"space": <id>,
  "subscription": <PushSubscription.toJSON()>, "gift": <donation id, optional>}`
  subscribes this browser to the space's appeals (`donations.push.subscribe`);
  201 `{"ok": true}`, or 400 `{"error": 400, "message": …}` with the reason.
- `DELETE /push/subscriptions` (JSON): `{"endpoint": …, "space": <id, optional>}`
  forgets it (for that space, or everywhere); 200 `{"removed": n}`.

The endpoint is the browser's secret: knowing it is the authority to
remove its subscription.
"""
from __future__ import annotations

import json
import os

from donations import campaigns, giving, push
from handlers.base import BaseHandler, PageError

WORKER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static", "js", "push-worker.js")
MAX_BODY = 8192


class WorkerHandler(BaseHandler):
    async def get(self):
        with open(WORKER, "rb") as f:
            body = f.read()
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        # A browser checks for a new worker on every navigation when it is not cached.
        self.set_header("Cache-Control", "no-cache")
        self.finish(body)


class KeyHandler(BaseHandler):
    async def get(self):
        keys = await push.vapid(self.services)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-cache")
        self.finish(json.dumps({"key": push.public_key(keys)}))


class SubscriptionsHandler(BaseHandler):
    def body(self) -> dict:
        if len(self.request.body) > MAX_BODY:
            raise PageError(400, self._(push.BAD_SUBSCRIPTION))
        try:
            found = json.loads(self.request.body or b"{}")
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise PageError(400, self._(push.BAD_SUBSCRIPTION))
        return found

    async def space(self, raw) -> dict:
        oid = campaigns.as_id(raw)
        found = await self.db.spaces.find_one({"_id": oid}, {"_id": 1}) if oid else None
        if found is None:
            raise PageError(400, self._("This space does not exist."))
        return found

    async def post(self):
        data = self.body()
        space = await self.space(data.get("space"))
        try:
            cleaned = push.clean_subscription(self.services.settings, data.get("subscription"))
        except push.PushError as exc:
            raise PageError(400, self.refusal(exc)) from None
        # A guest who has just given in this browser: their notifications follow their gift's donor.
        donor_key = None
        gift = await giving.get(self.db, data.get("gift")) if data.get("gift") else None
        if gift is not None and gift["space_id"] == space["_id"]:
            donor_key = gift["donor_key"]
        await push.subscribe(self.db, space["_id"], cleaned, locale=self.locale_code, user=self.current_user,
                             donor_key=donor_key)
        self.set_status(201)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": True}))

    async def delete(self):
        data = self.body()
        endpoint = data.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise PageError(400, self._(push.BAD_SUBSCRIPTION))
        space_id = (await self.space(data["space"]))["_id"] if data.get("space") else None
        removed = await push.unsubscribe(self.db, endpoint, space_id)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"removed": removed}))


ROUTES = [
    (r"/push-worker\.js", WorkerHandler),
    (r"/push/key", KeyHandler),
    (r"/push/subscriptions", SubscriptionsHandler),
]
