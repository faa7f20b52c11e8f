"""A space's mail server page: its settings, and a test message to the person at the keyboard.

The password field is always empty: a stored password is shown only as set.
The test sends through the stored settings and reports the server's answer
(code and text) or why no answer came, in the reader's language.
"""
from __future__ import annotations

from access.permissions import SPACE_EDIT
from admin import forms
from admin.staff_base import StaffHandler
from mailings import space_mail

FIELDS = ("host", "port", "tls", "user", "password", "from_address", "from_name", "rate")


class SpaceMailPage(StaffHandler):
    permission = SPACE_EDIT

    async def show(self, status: int = 200, error: str | None = None, result: str | None = None,
                   result_ok: bool = False, values: dict | None = None):
        form = space_mail.shown(await space_mail.load(self.db, self.space["_id"]))
        if values:
            form.update({k: v for k, v in values.items() if k != "password"})
        self.render_page("admin/space_mail.html", status=status, active="space", form=form,
                         modes=space_mail.TLS_MODES, error=error, result=result, result_ok=result_ok,
                         can_store=self.services.mailer.fernet is not None)

    def url(self) -> str:
        return f"/admin/spaces/{self.space['_id']}/mail"


class SpaceMailHandler(SpaceMailPage):
    async def get(self, space_id):
        await self.show()

    async def post(self, space_id):
        values = {name: forms.field(self, name) for name in FIELDS}
        # A password is taken as typed: spaces around it may belong to it.
        values["password"] = self.get_body_argument("password", "")
        values["clear_password"] = bool(self.get_body_argument("clear_password", ""))
        try:
            await space_mail.save(self.db, self.services.mailer.fernet, self.current_user, self.space, values)
        except space_mail.MailSettingsError as exc:
            await self.show(400, error=self.refusal(exc), values=values)
            return
        self.flash(self._("The mail settings have been saved."))
        self.redirect(self.url())


class SpaceMailTestHandler(SpaceMailPage):
    async def post(self, space_id):
        mailer = self.services.mailer
        transport = await space_mail.own_transport(self.db, mailer.fernet, self.space["_id"])
        if transport is None:
            await self.show(400, error=self._("This space has no mail server of its own."))
            return
        subject = self._("Test message from %(space)s") % {"space": self.space["name"]}
        body = self._("This message was sent to test the mail server settings of %(space)s.") \
            % {"space": self.space["name"]}
        result = await space_mail.send_test(transport, self.current_user["email"], subject, body)
        if result.ok:
            text = self._("The server accepted the message: %(code)s %(answer)s") \
                % {"code": result.code, "answer": result.text}
        elif result.code is not None:
            text = self._("The server refused the message: %(code)s %(answer)s") \
                % {"code": result.code, "answer": result.text}
        elif result.problem == "timeout":
            text = self._("The server did not answer in time (%(host)s, port %(port)s).") \
                % {"host": transport.host, "port": transport.port}
        elif result.problem == "connect":
            text = self._("Could not connect to the server (%(host)s, port %(port)s): %(error)s") \
                % {"host": transport.host, "port": transport.port, "error": result.text}
        else:
            text = self._("The message could not be sent: %(error)s") % {"error": result.text}
        await self.show(200 if result.ok else 502, result=text, result_ok=result.ok)


_MAIL = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})/mail"

ROUTES = [
    (_MAIL, SpaceMailHandler),
    (_MAIL + r"/test", SpaceMailTestHandler),
]
