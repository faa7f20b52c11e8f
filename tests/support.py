"""Test helpers: a cookie-keeping browser that fills in XSRF, and data factories."""
from __future__ import annotations

import datetime
import re

import httpx

from access import roles as R
from accounts import users
from events import model


class Browser:
    """An httpx client that behaves like a person's browser for forms."""

    def __init__(self, base_url: str, locale: str | None = None):
        headers = {"Accept-Language": locale} if locale else {}
        self.client = httpx.AsyncClient(base_url=base_url, follow_redirects=False,
                                        headers=headers, timeout=30)

    async def get(self, path: str, **kwargs) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def xsrf(self) -> str:
        token = self.client.cookies.get("_xsrf")
        if not token:
            await self.client.get("/signin")
            token = self.client.cookies.get("_xsrf")
        return token

    async def post(self, path: str, data: dict | None = None, files=None, xsrf: bool = True,
                   **kwargs) -> httpx.Response:
        data = dict(data or {})
        if xsrf and "_xsrf" not in data:
            data["_xsrf"] = await self.xsrf()
        return await self.client.post(path, data=data, files=files, **kwargs)

    async def sign_in(self, identifier: str, password: str) -> httpx.Response:
        r = await self.post("/signin", {"identifier": identifier, "password": password})
        assert r.status_code == 302, (r.status_code, r.text[:500])
        return r

    async def aclose(self):
        await self.client.aclose()


def error_text(html: str) -> str:
    m = re.search(r'class="[^"]*(?:error-message|flash-error|field-error)[^"]*"[^>]*>(.*?)<', html, re.S)
    return m.group(1).strip() if m else ""


class Factory:
    """Small explicit chains: space -> event -> people with roles."""

    PASSWORD = "correct horse battery"

    def __init__(self, services):
        self.services = services
        self.db = services.db
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    async def space(self, slug: str | None = None) -> dict:
        n = self._next()
        return await model.create_space(self.db, slug=slug or f"space-{n}", name=f"Space {n}")

    async def event(self, space: dict | None = None, locales=("ru", "en", "de"), slug: str | None = None,
                    days: int = 2, gate_open: bool = True) -> dict:
        space = space or await self.space()
        n = self._next()
        ev = model.blank_event(space["_id"], slug or f"event-{n}", list(locales), locales[0],
                               {c: f"Event {n} [{c}]" for c in locales}, "Europe/Riga")
        ev["days"] = [{"id": f"d{i + 1}", "date": f"2026-12-0{i + 1}",
                       "title": {c: f"Day {i + 1} [{c}]" for c in locales}, "enabled": i == 0}
                      for i in range(days)]
        if gate_open:
            ev["gate"]["mode"] = model.GATE_OPEN
        else:
            ev["gate"]["mode"] = model.GATE_AUTO
            ev["gate"]["official_start"] = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        return await model.create_event(self.db, ev)

    async def user(self, email: str | None = None, locale: str = "en", platform_admin: bool = False,
                   password: str | None = None, name: str | None = None) -> dict:
        n = self._next()
        hashed = await self.services.hasher.hash(password or self.PASSWORD)
        return await users.create(self.db, email=email or f"user{n}@example.org", name=name or f"User {n}",
                                  locale=locale, password_hash=hashed, platform_admin=platform_admin)

    async def member(self, role: str, event: dict | None = None, space: dict | None = None,
                     locales=(), **user_kwargs) -> dict:
        user = await self.user(**user_kwargs)
        if role == R.PLATFORM_ADMIN:
            await self.db.users.update_one({"_id": user["_id"]}, {"$set": {"platform_admin": True}})
            user["platform_admin"] = True
        elif role == R.SPACE_ADMIN:
            await R.grant(self.db, user, "space", (space or {}).get("_id") or event["space_id"], role)
        else:
            await R.grant(self.db, user, "event", event["_id"], role, list(locales))
        return user


def translated(services, locale: str, message: str, **params) -> str:
    """A UI string as the page shows it in `locale` (translated, HTML-escaped)."""
    from markupsafe import escape
    text = services.i18n.gettext(locale)(message)
    return str(escape(text % params if params else text))
