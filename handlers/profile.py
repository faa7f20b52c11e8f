"""TODO: filled in by its author."""
ROUTES: list = []
