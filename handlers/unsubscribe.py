"""The page behind every "stop these mails" link (`mailings.unsubscribe`).

GET shows what the link does and one button; POST opts out.  A mail
client's one-click request (RFC 8058) is a POST with no cookie, so this
handler does not ask for the XSRF cookie: the signed token in the link is
the only authority, and it can only opt its own person out of its own
topic, which a forged request cannot turn into anything worse.
"""
from __future__ import annotations

from core.i18n import N_
from handlers.base import BaseHandler, PageError
from mailings import unsubscribe

TOPICS = {"reminders": N_("reminders of events and sessions"), "invitations": N_("invitations to events"),
          "donations": N_("appeals for donations")}
BAD_LINK = N_("This link is not valid. Check that you copied the whole address from the email.")


class UnsubscribeHandler(BaseHandler):
    def check_xsrf_cookie(self):
        pass  # see the module docstring

    def _read(self) -> tuple[str, object, str]:
        raw = self.get_argument("t", "")[:unsubscribe.MAX_TOKEN]
        found = unsubscribe.read_token(self.services.settings.cookie_secret, raw)
        if found is None or found[1] not in TOPICS:
            raise PageError(400, self._(BAD_LINK))
        return raw, found[0], found[1]

    async def get(self):
        raw, _user_id, topic = self._read()
        self.render_page("public/unsubscribe.html", token=raw, topic=self._(TOPICS[topic]), done=False)

    async def post(self):
        raw, user_id, topic = self._read()
        await unsubscribe.opt_out(self.db, user_id, topic)
        self.render_page("public/unsubscribe.html", token=raw, topic=self._(TOPICS[topic]), done=True)


ROUTES = [(r"/unsubscribe", UnsubscribeHandler)]
