"""Who may do what: roles and where they apply, the permission table, and the
audit log of what staff did.  Every entry point (staff pages, public pages,
the WebSocket side) asks here; this package imports no domain package.
"""
