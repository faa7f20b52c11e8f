"""Attendees of an event: registration one by one or from a CSV file.

`registry` registers, lists, removes and exports attendees; `csv_import`
turns an uploaded file into a checked preview and commits it.  The sign-in
mailing that follows lives in `mailings.signin_mailing`.  None of these
modules knows about HTTP: handlers in admin/ call them.
"""
