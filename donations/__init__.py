"""Donations: campaigns per space, one-off gifts through the payments package, donors' wallets, live totals."""
