"""A space's giving assistant for its staff: write the tree of questions, see how it is used.

- `/admin/spaces/<space>/assistant`: the whole tree in one form (its
  languages, the default one, every question with its answers, a blank
  question and blank answers to add), saved at once and refused whole when
  it could strand a visitor (`donations.assistant.clean`).  Answers are
  reordered by dragging (SortableJS) or by their position numbers.  Under
  it, the last 30 days: walks started and completed, each question's
  visits, and the gifts that came from the assistant.
"""
from __future__ import annotations

import datetime

from access.permissions import SPACE_DONATIONS
from admin.staff_base import StaffHandler
from core.clock import utcnow
from core.i18n import LOCALES
from donations import analytics, assistant, campaigns

STATS_DAYS = 30


class AssistantHandler(StaffHandler):
    permission = SPACE_DONATIONS

    def base(self) -> str:
        return f"/admin/spaces/{self.space['_id']}/assistant"

    def read_form(self) -> dict:
        locales = [c for c in self.get_body_arguments("locales") if c in LOCALES]
        try:
            count = min(int(self.form("nodes", "0", 4) or 0), assistant.MAX_NODES + 1)
        except ValueError:
            count = 0
        shown = [c for c in LOCALES if c in self.get_body_arguments("shown_locales")]
        nodes = []
        for i in range(count):
            buttons = []
            for j in range(assistant.MAX_BUTTONS + 1):
                try:
                    position = int(self.form(f"n{i}_b{j}_pos", str(j), 4) or j)
                except ValueError:
                    position = j
                buttons.append({"label": {c: self.form(f"n{i}_b{j}_{c}", max_length=1000) for c in shown},
                                "to": self.form(f"n{i}_b{j}_to", max_length=80), "position": position})
            nodes.append({"key": self.form(f"n{i}_key", max_length=20),
                          "question": {c: self.form(f"n{i}_q_{c}", max_length=1000) for c in shown},
                          "buttons": buttons})
        return {"locales": locales, "default_locale": self.form("default_locale", max_length=8),
                "enabled": self.form("enabled", max_length=2) == "1", "nodes": nodes}

    async def show(self, tree: dict, status: int = 200, error: str | None = None) -> None:
        space_id = self.space["_id"]
        found = await campaigns.listing(self.db, space_id)
        choices = [(c["_id"], campaigns.title(c, self.locale_code)) for c in found if campaigns.taking(c)]
        nodes = list(tree.get("nodes") or [])
        # One blank question to add, and blank answers up to the most a question may have.
        blank_key = assistant.new_node_key()
        rows = []
        for node in nodes + [{"key": blank_key, "question": {}, "buttons": []}]:
            buttons = [_button_row(b) for b in node.get("buttons") or []]
            buttons += [{"label": {}, "to": ""}] * (assistant.MAX_BUTTONS - len(buttons))
            rows.append({"key": node["key"], "question": node.get("question") or {}, "buttons": buttons})
        until = utcnow().date()
        since = until - datetime.timedelta(days=STATS_DAYS - 1)
        stats = await assistant.stats(self.db, space_id, since, until)
        gifts = await analytics.from_source(self.db, space_id, assistant.SOURCE, since, until)
        saved = await assistant.get(self.db, space_id)
        # A tree saved whole may have gone wrong since (a campaign it leads to closed): staff are told.
        stale = await assistant.problem(self.db, self.space, saved) if saved and error is None else None
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/assistant.html", status=status, active="space", error=error, tree=tree,
                         rows=rows, campaigns=choices, locales=LOCALES, base=self.base(),
                         shown_locales=[c for c in LOCALES if c in (tree.get("locales") or ["en"])],
                         max_buttons=assistant.MAX_BUTTONS, min_buttons=assistant.MIN_BUTTONS,
                         missing=assistant.missing_texts(saved) if saved else [], stats=stats, gifts=gifts,
                         stale=self.refusal(stale) if stale else None,
                         stats_days=STATS_DAYS, question_of=lambda key: _question_label(tree, key, self.locale_code))

    async def get(self, space_id):
        saved = await assistant.get(self.db, self.space["_id"])
        await self.show(assistant.as_raw(saved) if saved else assistant.blank())

    async def post(self, space_id):
        raw = self.read_form()
        try:
            values = await assistant.clean(self.db, self.space, raw)
        except assistant.TreeError as exc:
            # The form as sent, so nothing typed is lost; its targets as the select boxes name them.
            await self.show(_as_sent(raw), status=400, error=self.refusal(exc))
            return
        await assistant.save(self.db, self.current_user, self.space, values)
        self.flash(self._("The assistant has been saved."))
        self.redirect(self.base())


def _button_row(button: dict) -> dict:
    return {"label": button.get("label") or {}, "to": button["to"]}


def _as_sent(raw: dict) -> dict:
    nodes = []
    for node in raw["nodes"]:
        buttons = [b for b in sorted(node["buttons"], key=lambda b: b["position"])
                   if any(node_text for node_text in b["label"].values()) or b["to"]]
        if any(node["question"].values()) or buttons:
            nodes.append({"key": node["key"], "question": node["question"], "buttons": buttons})
    return {**raw, "locales": raw["locales"] or [raw["default_locale"]], "nodes": nodes}


def _question_label(tree: dict, key: str, locale: str) -> str:
    node = assistant.nodes_by_key(tree).get(key)
    return assistant.node_text(tree, node["question"], locale) if node else ""


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"

ROUTES = [
    (_SPACE + r"/assistant", AssistantHandler),
]
