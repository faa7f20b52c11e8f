"""The staff form builder: /admin/events/<event_id>/form, and the same page for any other form of an event.

One page lists a form of the event field by field, adds a field
of any type, edits one (`?field=<id>`: labels, help and options in each of
the event's languages, required, profile key, condition, type's limits),
asks before removing one (`?remove=<id>`), orders them (up/down buttons that
work without JavaScript; drag and drop with SortableJS, which submits the
new order) and previews the form as a visitor sees it (`?preview=<locale>`).
Every change posts the form version the page was made from and saves the
whole field list through `registration.form_edit.save`, so a change based on
an outdated page is refused with "the form changed meanwhile".

`FormBuilderHandler` builds the registration form; a subclass builds
another form of the event by naming its `kind`, `base`, headings and the
permission it needs (a data request's fields: `admin.requests`).
"""
from __future__ import annotations

from access.permissions import EVENT_EDIT
from admin.staff_base import StaffHandler
from events.editing import EditError
from handlers.base import PageError
from registration import form_edit
from registration import forms as F

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
LIMIT = 20_000
BLANK_OPTION_ROWS = 3


class FormBuilderHandler(StaffHandler):
    permission = EVENT_EDIT
    # The staff menu entry the page belongs to.
    active = "form"

    @property
    def kind(self) -> str:
        return F.REGISTRATION

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/form"

    def headings(self) -> dict[str, str]:
        """The page's texts: its heading, what the form is for, what an empty form means, and a way back."""
        return {"heading": self._("Registration form"),
                "intro": self._("The questions people answer when they register. Answers already given stay "
                                "readable with the wording they were given for, whatever you change later."),
                "empty": self._("The form has no fields yet: people register with their name and email only."),
                "back_url": "", "back_label": ""}

    def locales(self) -> list[str]:
        return list(self.event["locales"])

    async def load(self) -> dict:
        return await F.load(self.db, self.event["_id"], self.kind)

    async def get(self, event_id, **_):
        self.show(await self.load())

    def show(self, form: dict, error: str | None = None, status: int = 200, editing: dict | None = None) -> None:
        fields = form["fields"]
        field_id = self.get_query_argument("field", "")
        editing = editing or next((f for f in fields if f["id"] == field_id), None)
        removing = next((f for f in fields if f["id"] == self.get_query_argument("remove", "")), None)
        preview = self.get_query_argument("preview", "")
        preview = preview if preview in self.event["locales"] else self.locale_code \
            if self.locale_code in self.event["locales"] else self.event["default_locale"]
        index = next((i for i, f in enumerate(fields) if editing and f["id"] == editing["id"]), len(fields))
        self.render_page("admin/registration_form.html", status=status, active=self.active, form=form,
                         **self.headings(),
                         error=error, editing=editing, removing=removing, preview=preview,
                         base=self.base, types=F.TYPES, file_kinds=sorted(set(F.FILE_KINDS)),
                         locales=self.locales(), default_locale=self.event["default_locale"],
                         condition_targets=[f for f in fields[:index] if f["type"] in F.CHOICE_TYPES],
                         blank_rows=BLANK_OPTION_ROWS, file_cap_mb=F.FILE_CAP_BYTES // (1024 * 1024))

    def expected_version(self) -> int:
        raw = self.form("version", max_length=12)
        if not raw.isdigit():
            raise PageError(400, self._(form_edit.CHANGED))
        return int(raw)

    async def post(self, event_id, **_):
        form = await self.load()
        op = self.form("op", max_length=80)
        fields = [dict(f) for f in form["fields"]]
        name, _, target = op.partition(":")
        editing = None
        go_to = self.base
        try:
            version = self.expected_version()
            if name == "add":
                kind = self.form("type", max_length=40)
                label = {self.event["default_locale"]: self.form("label", max_length=form_edit.MAX_LABEL)}
                options = [{self.event["default_locale"]: self._("Option %(n)s") % {"n": n}} for n in (1, 2)]
                field = form_edit.new_field(kind, label, options)
                fields.append(field)
                go_to = f"{self.base}?field={field['id']}#edit-field"
            elif name == "save_field":
                before = next((f for f in fields if f["id"] == self.form("field", max_length=40)), None)
                if not before:
                    raise PageError(404, self._("This field does not exist (any more)."))
                editing = self.parse_field(before, fields)
                fields = form_edit.replace(fields, editing)
            elif name in ("up", "down"):
                fields = form_edit.move(fields, target, -1 if name == "up" else 1)
                go_to = f"{self.base}#row-{target}"
            elif name == "remove":
                fields = form_edit.remove(fields, target)
            elif name == "reorder":
                fields = form_edit.reorder(fields, [i for i in self.form("order", max_length=LIMIT).split(",") if i])
            else:
                raise PageError(400, self._("Choose what to do with the form."))
            saved = await form_edit.save(self.db, self.current_user, self.event, fields, expected_version=version,
                                         kind=self.kind)
        except EditError as exc:
            status = 409 if exc.message == form_edit.CHANGED else 400
            # On a stale page show the form as it is now; otherwise keep what was typed.
            current = await self.load()
            self.show(current, self.refusal(exc), status,
                      editing=None if status == 409 else editing)
            return
        self.flash(self._("The form is saved."))
        self.redirect(go_to if saved else self.base)

    def parse_field(self, before: dict, fields: list[dict]) -> dict:
        """The edited field as the builder's form gives it (checked by the domain when saved)."""
        locales = self.locales()

        def texts(prefix: str) -> dict[str, str]:
            return {code: self.form(f"{prefix}_{code}", max_length=LIMIT) for code in locales}

        kind = self.form("type", max_length=40)
        spec: dict = {"id": before["id"], "type": kind, "label": texts("label"), "help": texts("help"),
                      "required": self.form("required", max_length=5) == "yes",
                      "profile_key": self.form("profile_key", max_length=60), "condition": None}
        cond_field = self.form("cond_field", max_length=40)
        if cond_field:
            target = next((f for f in fields if f["id"] == cond_field), {})
            known = {o["value"] for o in target.get("options") or []}
            spec["condition"] = {"field": cond_field,
                                 "values": [v for v in self.get_body_arguments("cond_values") if v in known]}
        values = self.get_body_arguments("opt_value")
        removed = set(self.get_body_arguments("opt_remove"))
        labels = {code: self.get_body_arguments(f"opt_{code}") for code in locales}
        options = []
        for i, value in enumerate(values[:form_edit.MAX_OPTIONS + BLANK_OPTION_ROWS]):
            label = {code: (labels[code][i] if i < len(labels[code]) else "").strip()[:LIMIT] for code in locales}
            if value in removed or not any(label.values()):
                continue
            options.append({"value": value.strip() or form_edit.new_id("o"), "label": label})
        spec["options"] = options
        spec["min"], spec["max"] = self.form("min", max_length=30), self.form("max", max_length=30)
        spec["max_length"] = self.form("max_length", max_length=10)
        spec["extensions"] = self.get_body_arguments("extensions")[:len(F.FILE_KINDS)]
        try:
            spec["max_bytes"] = round(float(self.form("max_mb", max_length=10).replace(",", ".")) * 1024 * 1024)
        except ValueError:
            spec["max_bytes"] = -1
        spec["consent"] = {"text": texts("consent")}
        return spec


ROUTES = [
    (EVENT + r"/form", FormBuilderHandler),
]
