"""The door: staff admit ticket holders by their QR code, from a phone.

GET shows a phone-sized page (no staff menu: the scanner comes first) with
the count of admitted and valid tickets, the camera scanner
(`static/js/checkin.js`, reading QR codes with jsQR or the browser's own
barcode detector) and a field to type or paste a code, for a camera that
fails and for the keyboard.  POST `code` decides one scan
(`orders.checkin.admit`) and answers, as a page or as JSON when asked
(`Accept: application/json`, what the script sends): `admitted` (200),
`already` admitted, with when and by whom (409), or `refused` with the
reason (400).  The permission is `event.checkin` (event admins and
managers); a code of another event's ticket is refused like a forged one,
without saying more about it.
"""
from __future__ import annotations

import json
from typing import Any

from access.permissions import EVENT_CHECKIN
from admin.staff_base import StaffHandler
from orders import actions, checkin

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
MAX_CODE = 200
STATUS = {checkin.ADMITTED: 200, checkin.ALREADY: 409, "refused": 400}


class CheckinHandler(StaffHandler):
    permission = EVENT_CHECKIN

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/checkin"

    def count_text(self, counts: dict[str, int]) -> str:
        return self._("Admitted: %(admitted)s of %(valid)s valid tickets") % counts

    async def describe(self, scan: checkin.Scan) -> dict[str, Any]:
        """What the page shows of a scan that found a valid ticket of this event."""
        names = await actions.type_names(self.db, self.event, self.locale_code)
        holder = scan.ticket.get("holder") or {}
        out = {"outcome": scan.outcome, "holder": holder.get("name") or holder.get("email", ""),
               "type": names.get(scan.ticket["ticket_type_id"], ""), "order": scan.order["code"]}
        if scan.outcome == checkin.ADMITTED:
            out.update(verdict=self._("Admitted"), message=self._("Let them in."))
        else:
            by = await self.db.users.find_one({"_id": scan.by_id}, {"name": 1, "email": 1}) if scan.by_id else None
            who = (by or {}).get("name") or (by or {}).get("email") or self._("someone")
            out.update(verdict=self._("Already admitted"),
                       message=self._("Already admitted at %(time)s by %(name)s. Do not admit again.") % {
                           "time": checkin.local_time(self.event, scan.at), "name": who})
        return out

    async def answer(self, result: dict[str, Any] | None) -> None:
        counts = await checkin.counts(self.db, self.event)
        status = STATUS[result["outcome"]] if result else 200
        self.set_header("Cache-Control", "no-store")
        if self.wants_json():
            self.set_status(status)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({**(result or {}), "counts": counts, "count_text": self.count_text(counts)}))
            return
        self.render_page("admin/checkin.html", status=status, result=result, counts=counts,
                         count_text=self.count_text(counts), base=self.base)

    async def get(self, event_id):
        await self.answer(None)

    async def post(self, event_id):
        code = self.form("code", max_length=MAX_CODE)
        try:
            scan = await checkin.admit(self.services, self.event, code, actor=self.current_user)
        except checkin.CheckinRefused as exc:
            await self.answer({"outcome": "refused", "verdict": self._("Refused"), "message": self.refusal(exc)})
            return
        await self.answer(await self.describe(scan))


ROUTES = [
    (EVENT + r"/checkin", CheckinHandler),
]
