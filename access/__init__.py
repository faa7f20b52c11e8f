"""Who may do what: roles and where they apply, the permission table, the rules
(may watch now, may enter and moderate a room, may see an attendee), and the
audit log of what staff did.  Every entry point (staff pages, public pages,
the WebSocket side) asks here; this package imports no domain package.
"""
