"""Reactions: a small fixed set of emoji viewers send during the broadcast, and their running totals."""
