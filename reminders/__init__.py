"""Automatic reminders before an event and before the sessions in a person's programme."""
