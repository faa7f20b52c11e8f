"""Outgoing mail: the mailer (SMTP or the database outbox), rendered messages,
the outbox as staff and platform admins may read it, and the sign-in mailing
that sends every attendee of an event their way in.
"""
