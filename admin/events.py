"""Staff pages of one event: create it, its overview, its texts and settings,
and its programme (days, schedule, materials).

Handlers read the form, call `events.editing`, and either redirect with a
message or show the form again with the refusal (status 400, nothing saved).
Days are only added and removed here; switching them on and off is live
control.
"""
from __future__ import annotations

from access import audit_report
from access import roles as R
from access.permissions import EVENT_AUDIT, EVENT_EDIT, EVENT_OVERVIEW, SPACE_EDIT
from admin import forms
from admin.sessions import session_values
from admin.staff_base import StaffHandler
from core.i18n import LOCALES
from events import editing, model, sessions, tags
from events.editing import EditError
from handlers.base import PageError
from registration import session_seats


def _base(event) -> str:
    return f"/admin/events/{event['_id']}"


class EventNewHandler(StaffHandler):
    permission = SPACE_EDIT

    def show(self, status: int = 200, error: str | None = None, **values):
        form = {"slug": "", "locales": [], "default_locale": self.locale_code,
                "timezone": "UTC", "title": {}}
        form.update(values)
        self.render_page("admin/event_new.html", status=status, active="space", form=form,
                         error=error, timezones=editing.TIMEZONES)

    def get(self, space_id):
        self.show()

    async def post(self, space_id):
        values = {"slug": forms.field(self, "slug"), "locales": forms.choices(self, "locales"),
                  "default_locale": forms.field(self, "default_locale"),
                  "timezone": forms.field(self, "timezone"),
                  "title": forms.locale_texts(self, "title")}
        try:
            event = await editing.create_event(self.db, self.current_user, self.space, **values)
        except EditError as exc:
            self.show(400, self.refusal(exc), **values)
            return
        self.flash(self._("The event has been created."))
        self.redirect(_base(event))


class OverviewHandler(StaffHandler):
    permission = EVENT_OVERVIEW

    async def get(self, event_id):
        event = self.event
        counts = {
            "attendees": await self.db.memberships.count_documents(
                {"scope_id": event["_id"], "role": R.ATTENDEE}),
            "staff": await self.db.memberships.count_documents(
                {"scope_id": event["_id"], "role": {"$in": list(R.STAFF_EVENT_ROLES)}}),
        }
        recent = []
        if EVENT_AUDIT in self.grants:
            recent = await self.db.audit.find({"event_id": event["_id"]}).sort("at", -1) \
                .limit(5).to_list(None)
        self.render_page("admin/event_overview.html", active="overview", counts=counts,
                         gate_open=model.gate_open(event), days=editing.days_sorted(event),
                         slide_count=model.slide_count(event), recent=recent,
                         action_labels=audit_report.ACTION_LABELS)


class EditHandler(StaffHandler):
    permission = EVENT_EDIT

    def show(self, status: int = 200, error: str | None = None, **values):
        event = self.event
        form = {"locales": list(event["locales"]), "default_locale": event["default_locale"],
                "timezone": event["timezone"], "title": dict(event["title"]),
                "description": dict(event.get("description") or {}),
                "tags": tags.as_text(tags.of(event))}
        form.update(values)
        # The event's languages first; the others are offered folded away.
        other = [c for c in LOCALES if c not in event["locales"]]
        self.render_page("admin/event_edit.html", status=status, active="edit", form=form,
                         error=error, timezones=editing.TIMEZONES, other_locales=other)

    def get(self, event_id):
        self.show()

    async def post(self, event_id):
        values = {"locales": forms.choices(self, "locales"),
                  "default_locale": forms.field(self, "default_locale"),
                  "timezone": forms.field(self, "timezone"),
                  "title": forms.locale_texts(self, "title"),
                  "description": forms.locale_texts(self, "description"),
                  "tags": forms.field(self, "tags")}
        try:
            await editing.update_settings(self.db, self.services.notifier, self.current_user, self.event,
                                          **values)
        except EditError as exc:
            self.show(400, self.refusal(exc), **values)
            return
        self.flash(self._("The event has been saved."))
        self.redirect(_base(self.event) + "/edit")


# --- the programme: days, schedule, materials --------------------------------------------

class ProgramPage(StaffHandler):
    """The programme page; a refused form is shown again in its own section."""

    permission = EVENT_EDIT

    async def prepare(self):
        await super().prepare()
        # What a session may name (speaker accounts, channels, tracks), for its form fields.
        self.session_choices = None
        if self.admitted and self.event is not None:
            found = await sessions.choices(self.db, self.event)
            self.session_choices = {**found, "tracks": sessions.tracks_of(self.event),
                                    "empty_rows": sessions.SPEAKER_ROWS, "max_rows": sessions.MAX_SPEAKERS}

    def show(self, status: int = 200, errors: dict | None = None, values: dict | None = None):
        event = self.event
        form = {
            "day": {"date": "", "title": {}},
            "item": {"day_id": "", "starts": "", "ends": "", "title": {}, "speaker": "", "tags": "",
                     "session": sessions.blank_form()},
            "material": {"url": "", "title": {}},
        }
        form.update(values or {})
        self.render_page("admin/event_program.html", status=status, active="program",
                         errors=errors or {}, form=form,
                         schedule=editing.schedule_by_day(event),
                         days=editing.days_sorted(event), session_choices=self.session_choices,
                         tracks={t["id"]: t for t in sessions.tracks_of(event)})

    def item_values(self) -> dict:
        return {"day_id": forms.field(self, "day_id"), "starts": forms.field(self, "starts"),
                "ends": forms.field(self, "ends"),
                "title": forms.locale_texts(self, "title", self.event["locales"]),
                "speaker": forms.field(self, "speaker"), "tags": forms.field(self, "tags")}

    def done(self, message: str, anchor: str):
        self.flash(message)
        self.redirect(_base(self.event) + "/program#" + anchor)


class ProgramHandler(ProgramPage):
    def get(self, event_id):
        self.show()


class DayAddHandler(ProgramPage):
    async def post(self, event_id):
        values = {"date": forms.field(self, "date"),
                  "title": forms.locale_texts(self, "title", self.event["locales"])}
        try:
            await editing.add_day(self.db, self.services.notifier, self.current_user, self.event, **values)
        except EditError as exc:
            self.show(400, {"day": self.refusal(exc)}, {"day": values})
            return
        self.done(self._("The day has been added. Switch it on in live control when it starts."),
                  "days")


class DayRemoveHandler(ProgramPage):
    async def post(self, event_id):
        try:
            await editing.remove_day(self.db, self.services.notifier, self.current_user, self.event,
                                     forms.field(self, "day_id"))
        except EditError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.done(self._("The day has been removed."), "days")


class ScheduleAddHandler(ProgramPage):
    async def post(self, event_id):
        values = self.item_values()
        session = session_values(self)
        try:
            await sessions.add_session(self.db, self.current_user, self.event, values, session)
        except EditError as exc:
            shown = {**values, "session": session or sessions.blank_form()}
            self.show(400, {"item": self.refusal(exc)}, {"item": shown})
            return
        self.done(self._("The schedule item has been added."), "schedule")


class ScheduleEditHandler(ProgramPage):
    def show_item(self, item: dict, status: int = 200, error: str | None = None,
                  values: dict | None = None):
        form = values or {**editing.item_form(self.event, item), "session": sessions.session_form(item)}
        self.render_page("admin/event_schedule_item.html", status=status, active="program",
                         item=item, error=error, form=form, session_choices=self.session_choices,
                         days=editing.days_sorted(self.event))

    def get(self, event_id):
        self.show_item(self.item())

    async def post(self, event_id):
        item = self.item()
        values = self.item_values()
        session = session_values(self)
        try:
            await sessions.update_session(self.db, self.current_user, self.event, item["id"], values, session)
        except EditError as exc:
            shown = {**values, "session": session or sessions.session_form(item)}
            self.show_item(item, 400, self.refusal(exc), shown)
            return
        # More seats pass at once to those waiting for them.
        await session_seats.capacity_changed(self.services, self.event["_id"], item["id"])
        self.done(self._("The schedule item has been saved."), "schedule")


class ScheduleRemoveHandler(ProgramPage):
    async def post(self, event_id):
        try:
            await editing.remove_item(self.db, self.current_user, self.event,
                                      forms.field(self, "item"))
        except EditError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.done(self._("The schedule item has been removed."), "schedule")


class MaterialAddHandler(ProgramPage):
    async def post(self, event_id):
        values = {"url": forms.field(self, "url"),
                  "title": forms.locale_texts(self, "title", self.event["locales"])}
        try:
            await editing.add_material(self.db, self.current_user, self.event, **values)
        except EditError as exc:
            self.show(400, {"material": self.refusal(exc)}, {"material": values})
            return
        self.done(self._("The material has been added."), "materials")


class MaterialRemoveHandler(ProgramPage):
    async def post(self, event_id):
        try:
            await editing.remove_material(self.db, self.current_user, self.event,
                                          forms.field(self, "material"))
        except EditError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.done(self._("The material has been removed."), "materials")


_EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"

ROUTES = [
    (r"/admin/spaces/(?P<space_id>[0-9a-f]{24})/events/new", EventNewHandler),
    (_EVENT, OverviewHandler),
    (_EVENT + r"/edit", EditHandler),
    (_EVENT + r"/program", ProgramHandler),
    (_EVENT + r"/program/days", DayAddHandler),
    (_EVENT + r"/program/days/remove", DayRemoveHandler),
    (_EVENT + r"/program/schedule", ScheduleAddHandler),
    (_EVENT + r"/program/schedule/edit", ScheduleEditHandler),
    (_EVENT + r"/program/schedule/remove", ScheduleRemoveHandler),
    (_EVENT + r"/program/materials", MaterialAddHandler),
    (_EVENT + r"/program/materials/remove", MaterialRemoveHandler),
]
