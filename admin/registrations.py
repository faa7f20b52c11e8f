"""The staff page of an event's registration: its settings, the counts per state,
and the people awaiting approval, offered a place or on the waiting list.

Acting on registrations (approve, reject, cancel, move from the waiting
list) needs the attendee permission; changing the settings (open, places,
approval, how long an offer is held) needs the event-editing one, so they
are two handlers.  The work is `registration.actions`.
"""
from __future__ import annotations

from access.permissions import EVENT_ATTENDEES, EVENT_EDIT
from admin.staff_base import StaffHandler
from handlers.base import PageError
from registration import actions, counts, places, states
from registration.model import OFFERED, PENDING, STATE_LABELS, STATES, WAITING, settings_of

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
ID = r"(?P<membership_id>[0-9a-f]{24})"
ACTIONS = ("approve", "reject", "cancel", "promote")
SHOWN = (PENDING, OFFERED, WAITING)


class RegistrationBase(StaffHandler):
    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/registration"

    async def show(self, status: int = 200, *, values: dict | None = None, error: str | None = None) -> None:
        event = self.event
        counter = await places.counter(self.db, actions.target_of(event))
        self.render_page(
            "admin/registration.html", status=status, active="registration",
            settings=values or settings_of(event), error=error, counts=await counts.by_state(self.db, event["_id"]),
            states=STATES, STATE_LABELS=STATE_LABELS,
            lists={state: await actions.in_state(self.db, event["_id"], state) for state in SHOWN},
            taken=(counter or {}).get("taken", 0), places_left=await actions.places_left(self.db, event),
            per_day=await counts.per_day(self.db, event["_id"], event["timezone"]),
            can_edit=EVENT_EDIT in self.grants, can_act=EVENT_ATTENDEES in self.grants)


class RegistrationHandler(RegistrationBase):
    permission = EVENT_ATTENDEES

    async def get(self, event_id):
        await self.show()


class RegistrationSettingsHandler(RegistrationBase):
    permission = EVENT_EDIT

    async def post(self, event_id):
        raw = {"open_": self.form("open", max_length=2), "capacity": self.form("capacity", max_length=20),
               "approval": self.form("approval", max_length=2), "offer_hours": self.form("offer_hours", max_length=20)}
        try:
            values = actions.clean_settings(**raw)
        except actions.SettingsError as exc:
            shown = {"open": raw["open_"] == "1", "capacity": raw["capacity"], "approval": raw["approval"] == "1",
                     "offer_hours": raw["offer_hours"]}
            await self.show(400, values=shown, error=self.refusal(exc))
            return
        await actions.update_settings(self.services, self.event, values, self.current_user)
        self.flash(self._("The registration settings are saved."))
        self.redirect(self.base)


class RegistrationActionHandler(RegistrationBase):
    """One staff action on one registration: `action` is approve, reject, cancel or promote."""

    permission = EVENT_ATTENDEES

    async def post(self, event_id, membership_id):
        try:
            membership = await actions.by_id(self.db, self.event, membership_id)
        except actions.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None
        action = self.form("action", max_length=20)
        if action not in ACTIONS:
            raise PageError(400, self._("Choose what to do with this registration."))
        svc, event, actor = self.services, self.event, self.current_user
        try:
            if action == "approve":
                done = await actions.approve(svc, event, membership, actor)
            elif action == "reject":
                done = await actions.reject(svc, event, membership, actor)
            elif action == "cancel":
                done = await actions.cancel(svc, event, membership, actor_kind=states.STAFF, actor=actor)
            else:
                done = await actions.move_from_waiting_list(svc, event, membership, actor)
        except states.TransitionError as exc:
            raise PageError(409, self.refusal(exc)) from None
        label = STATE_LABELS[done["state"]]
        self.flash(self._("%(email)s: %(state)s.") % {"email": done["email"], "state": self._(label)})
        self.redirect(self.base)


ROUTES = [
    (EVENT + r"/registration", RegistrationHandler),
    (EVENT + r"/registration/settings", RegistrationSettingsHandler),
    (EVENT + r"/registration/" + ID, RegistrationActionHandler),
]
