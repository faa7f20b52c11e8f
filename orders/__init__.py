"""Tickets: ticket types as access levels, quotas, checkout reservations, orders and their holders."""
