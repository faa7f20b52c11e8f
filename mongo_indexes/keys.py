"""Index key directions, shared by the index declarations."""
ASC, DESC = 1, -1
