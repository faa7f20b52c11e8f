"""Outgoing mail: the mailer (SMTP or the database outbox) and rendered messages."""
