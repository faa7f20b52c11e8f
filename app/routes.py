"""Every URL of the platform, gathered from the modules that handle them.

Each handler module exports ROUTES, a list of (pattern, handler class).
`build` gives every handler the same `services` through `initialize()`;
a route to an HTTPServerConnectionDelegate class (the WebSocket endpoint,
which works below RequestHandler) gets one instance built with `services`.
"""
from __future__ import annotations

from tornado.httputil import HTTPServerConnectionDelegate
from tornado.web import URLSpec

from admin import appeals as admin_appeals
from admin import (
    applications,
    attendees,
    audit_log,
    certificates,
    checkin,
    community_editor,
    console,
    dashboard,
    donation_analytics,
    donation_assistant,
    events,
    invitation_mailings,
    live_control,
    orders,
    outbox_pages,
    privacy,
    quiz_editor,
    registration_form,
    registrations,
    sessions,
    signin_mailings,
    slides,
    space_mail,
    staff,
    ticket_types,
)
from admin import donation_tools as admin_donation_tools
from admin import donations as admin_donations
from admin import mail_templates as admin_mail_templates
from admin import payments as admin_payments
from admin import promo_codes as admin_promo_codes
from admin import reminders as admin_reminders
from admin import requests as admin_requests
from admin import session_seats as admin_seats
from handlers import applications as application_pages
from handlers import (
    auth,
    cabinet,
    catalogue,
    checkout,
    community_pages,
    donation_widget,
    event,
    form_files,
    home,
    invite_links,
    media_files,
    ops,
    payment_webhooks,
    profile,
    quiz_pages,
    registration,
    requests,
    seats,
    unsubscribe,
)
from handlers import certificates as certificate_pages
from handlers import donation_assistant as assistant_pages
from handlers import donations as donation_pages
from handlers import payments as payment_pages
from handlers import push as push_pages
from realtime import endpoint

# `/ws` first: patterns are tried in order, and a reconnect storm is
# thousands of upgrades a second.
MODULES = (endpoint, ops, auth, profile, home, catalogue, cabinet, event, seats, registration, checkout, media_files,
           form_files,
           dashboard, events, sessions, live_control, console, slides, staff, audit_log, attendees, registrations,
           privacy, signin_mailings, outbox_pages, community_pages, community_editor, quiz_pages, quiz_editor,
           registration_form, requests, admin_requests, admin_seats, certificates, certificate_pages,
           space_mail, admin_reminders, admin_mail_templates, unsubscribe, invitation_mailings, invite_links,
           payment_webhooks, payment_pages, admin_payments,
           ticket_types, orders, application_pages, applications,
           admin_promo_codes, checkin, donation_pages, admin_donations, donation_widget, admin_donation_tools,
           push_pages, admin_appeals, assistant_pages, donation_assistant, donation_analytics)


def build(services) -> list[URLSpec]:
    specs = []
    for module in MODULES:
        for pattern, handler, *name in module.ROUTES:
            if issubclass(handler, HTTPServerConnectionDelegate):
                handler = handler(services)
            specs.append(URLSpec(pattern, handler, {"services": services}, name[0] if name else None))
    return specs
