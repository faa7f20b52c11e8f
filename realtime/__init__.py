"""The real-time side: notifying live viewers of event state changes."""
