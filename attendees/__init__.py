"""Attendees of an event: registration one by one or from a CSV file, sign-in mailings.

`registry` registers, lists, removes and exports attendees; `csv_import`
turns an uploaded file into a checked preview and commits it; `mailings`
sends every attendee their sign-in link and credentials in the background.
None of these modules knows about HTTP: handlers in admin/ call them.
"""
