"""The event's audit log: a filtered, paginated page and the same rows as CSV.

Entries are shown newest first, with times on the event's clock; the CSV
carries both the UTC time and the event's local time so a spreadsheet can
sort on one and people can read the other.
"""
from __future__ import annotations

import csv
import io

from access import audit, audit_report
from access.permissions import EVENT_AUDIT
from admin.staff_base import StaffHandler
from core.pagination import Page, parse_page

PER_PAGE = 50
CSV_BATCH = 500


class AuditMixin:
    def action_filter(self) -> str:
        action = self.get_query_argument("action", "").strip()
        return action if len(action) <= audit_report.MAX_ACTION else ""


class AuditHandler(AuditMixin, StaffHandler):
    permission = EVENT_AUDIT

    async def get(self, event_id):
        action = self.action_filter()
        number = parse_page(self.get_query_argument("page", "1"))
        entries, total = await audit.page(self.db, audit_report.query(self.event["_id"], action),
                                          (number - 1) * PER_PAGE, PER_PAGE)
        self.render_page("admin/audit.html", active="audit", entries=entries, action=action,
                         actions=await audit_report.actions(self.db, self.event["_id"]),
                         labels=audit_report.ACTION_LABELS, as_json=audit_report.compact_json,
                         page=Page(number, PER_PAGE, total))


class AuditCsvHandler(AuditMixin, StaffHandler):
    permission = EVENT_AUDIT

    async def get(self, event_id):
        event = self.event
        query = audit_report.query(event["_id"], self.action_filter())
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="audit-{event["slug"]}.csv"')
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # A byte-order mark lets spreadsheet programs read the file as UTF-8.
        buffer.write("\ufeff")
        writer.writerow(audit_report.CSV_HEADER)
        rows = 0
        async for entry in self.db.audit.find(query).sort("at", -1):
            writer.writerow(audit_report.csv_row(entry, event["timezone"]))
            rows += 1
            if rows % CSV_BATCH == 0:
                self.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
                await self.flush()
        self.write(buffer.getvalue())
        self.finish()


_EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"

ROUTES = [
    (_EVENT + r"/audit", AuditHandler),
    (_EVENT + r"/audit\.csv", AuditCsvHandler),
]
