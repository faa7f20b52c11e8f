"""A space's donation analytics and its ledger export, for its staff.

- `/admin/spaces/<space>/donations/analytics`: gifts and amounts per hour,
  day, campaign, category, source, recurring or one-off, registered or
  guest, new or returning donor (`donations.analytics`), for a range of
  UTC days (`?from=&to=`, the last 30 by default) and optionally one
  campaign (`?campaign=`); charts drawn in the browser with uPlot, each
  over a table of the same numbers.
- `.../donations/analytics.csv?view=<view>` (or no view: every one): those
  numbers as CSV.
- `.../donations/ledger.csv?from=&to=`: every confirmed donation, refund
  and wallet debit of the range for accounting (`donations.ledger_export`,
  columns in docs/donations-ledger.md), streamed; for those who see the
  space's payments.
"""
from __future__ import annotations

import csv
import datetime
import io
from typing import Any
from urllib.parse import urlencode

from access import audit
from access.permissions import SPACE_DONATIONS, SPACE_PAYMENTS
from admin.staff_base import StaffHandler
from attendees import registry
from core import money
from core.clock import utcnow
from donations import analytics, campaigns, ledger_export
from handlers.base import PageError

TIME_VIEWS = ("hour", "day")


class AnalyticsPage(StaffHandler):
    permission = SPACE_DONATIONS

    def base(self) -> str:
        return f"/admin/spaces/{self.space['_id']}/donations"

    def dates(self) -> tuple[datetime.date, datetime.date]:
        try:
            return analytics.parse_range(self.form("from", max_length=12), self.form("to", max_length=12),
                                         utcnow().date())
        except analytics.RangeError as exc:
            raise PageError(400, self.refusal(exc)) from None

    async def chosen_campaign(self) -> dict | None:
        cid = self.form("campaign", max_length=24)
        if not cid:
            return None
        found = await campaigns.get(self.db, cid, self.space["_id"])
        if found is None:
            raise PageError(404, self._(campaigns.NOT_FOUND))
        return found

    def labels(self, found: list[dict]) -> dict[str, dict[str, str]]:
        """View -> key -> what staff read for it (keys without a label are shown as they are)."""
        fixed = {k: self._(v) for k, v in analytics.FIXED_LABELS.items()}
        out: dict[str, dict[str, str]] = {v: {} for v in analytics.VIEWS}
        out["campaign"] = {str(c["_id"]): campaigns.title(c, self.locale_code) for c in found}
        out["category"] = {k: self._(v) for k, v in campaigns.CATEGORIES.items()}
        for view in ("source", "recurring", "donor", "history"):
            out[view] = {k: fixed[k] for k in analytics.VIEW_KEYS[view]}
        return out

    async def report(self) -> tuple[analytics.Report, dict | None, list[dict]]:
        since, until = self.dates()
        campaign = await self.chosen_campaign()
        found = await campaigns.listing(self.db, self.space["_id"])
        return (await analytics.report(self.db, self.space["_id"], since, until,
                                       campaign["_id"] if campaign else None), campaign, found)


def _series(report: analytics.Report, view: str, currency: str, labels: dict[str, dict[str, str]]
            ) -> dict[str, Any]:
    rows = report.views[view]
    data: dict[str, Any] = {"view": view, "currency": currency, "exponent": money.exponent(currency),
                            "gifts": [r.gifts.get(currency, 0) for r in rows],
                            "amounts": [r.amounts.get(currency, 0) for r in rows]}
    if view in TIME_VIEWS:
        fmt = "%Y-%m-%dT%H:00Z" if view == "hour" else "%Y-%m-%d"
        data["x"] = [int(datetime.datetime.strptime(r.key, fmt).replace(tzinfo=datetime.UTC).timestamp())
                     for r in rows]
    else:
        data["labels"] = [labels[view].get(r.key, r.key) for r in rows]
    return data


class AnalyticsHandler(AnalyticsPage):
    async def get(self, space_id):
        report, campaign, found = await self.report()
        labels = self.labels(found)
        query = {"from": report.since.isoformat(), "to": report.until.isoformat(),
                 **({"campaign": str(campaign["_id"])} if campaign else {})}
        views = [v for v in analytics.VIEWS if v != "hour" or report.hourly]
        charts = {v: [_series(report, v, c, labels) for c in report.currencies] for v in views}
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/donation_analytics.html", active="space", report=report, campaign=campaign,
                         campaigns=[(c["_id"], campaigns.title(c, self.locale_code)) for c in found],
                         views=views, charts=charts, labels=labels, base=self.base(), query=query,
                         campaign_title=campaigns.title(campaign, self.locale_code) if campaign else "",
                         can_export_ledger=SPACE_PAYMENTS in self.grants,
                         csv_query=lambda view: urlencode({**query, "view": view}),
                         ledger_query=urlencode({"from": query["from"], "to": query["to"]}),
                         max_hourly=analytics.MAX_HOURLY_DAYS)


class AnalyticsCsvHandler(AnalyticsPage):
    async def get(self, space_id):
        view = self.form("view", max_length=16)
        if view and view not in analytics.VIEWS:
            raise PageError(400, self._("This view does not exist."))
        report, _, found = await self.report()
        labels = self.labels(found)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(analytics.CSV_COLUMNS)
        for name in [view] if view else analytics.VIEWS:
            if name == "hour" and not report.hourly:
                continue
            for row in analytics.csv_rows(report, name, labels[name]):
                # Labels are typed by people (campaign titles): a cell that looks like a formula stays text.
                writer.writerow([registry._cell(v) for v in row])
        await audit.record(self.db, actor=self.current_user, action="donations.analytics_export",
                           space_id=self.space["_id"], params={"view": view or "all",
                                                                "since": report.since.isoformat(),
                                                                "until": report.until.isoformat()})
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition",
                        f'attachment; filename="donations-{view or "all"}-{report.since}-{report.until}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(out.getvalue().encode("utf-8"))


class LedgerCsvHandler(AnalyticsPage):
    permission = SPACE_PAYMENTS

    async def get(self, space_id):
        since, until = self.dates()
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="donations-ledger-{since}-{until}.csv"')
        self.set_header("Cache-Control", "no-store")
        async for piece in ledger_export.stream(self.db, self.space, since, until, actor=self.current_user):
            self.write(piece.encode("utf-8"))
            await self.flush()
        self.finish()


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"

ROUTES = [
    (_SPACE + r"/donations/analytics", AnalyticsHandler),
    (_SPACE + r"/donations/analytics\.csv", AnalyticsCsvHandler),
    (_SPACE + r"/donations/ledger\.csv", LedgerCsvHandler),
]
