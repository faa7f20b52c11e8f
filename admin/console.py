"""The moderator and commentator console: chat rooms, unread counts and the questions queue.

The page itself is a shell: everything live (the rooms the staff member
serves, their feeds, replies, deletions, sanctions, slow mode, questions)
runs over the event's WebSocket in static/js/console.js, and the server
decides there who may see and do what (docs/protocol.md, "Moderation").  The
handler only renders the translated texts, the language names and the
session titles the script needs to label what it receives.
"""
from __future__ import annotations

from access.permissions import EVENT_OVERVIEW
from admin.staff_base import StaffHandler
from community import pages as community_pages
from core.i18n import LOCALE_NAMES, text_for

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"


def session_titles(event: dict, locale: str) -> dict[str, str]:
    """Schedule item id -> its title in the reader's language (questions name their session)."""
    fallbacks = (event["default_locale"],)
    return {item["id"]: text_for(item.get("title"), locale, fallbacks) or item["id"]
            for item in event.get("schedule") or []}


class ConsolePage(StaffHandler):
    permission = EVENT_OVERVIEW

    async def get(self, event_id):
        self.set_header("Cache-Control", "no-store")
        event = self.event
        self.render_page(
            "admin/console.html", active="console",
            language_names={loc: LOCALE_NAMES[loc] for loc in event["locales"]},
            sessions=session_titles(event, self.locale_code),
            community={community_pages.room(p): text_for(p["title"], self.locale_code, (event["default_locale"],))
                       for p in await community_pages.list_pages(self.db, event["_id"])},
        )


ROUTES = [
    (EVENT + r"/console", ConsolePage),
]
