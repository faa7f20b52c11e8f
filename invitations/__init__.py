"""Invitation mailings with a tracked funnel, and partner links."""
