"""Organiser spaces and their events: model, live state and control actions."""
