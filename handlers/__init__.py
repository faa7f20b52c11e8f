"""Public HTTP handlers: sign-in, the event page, profile, media, operations."""
