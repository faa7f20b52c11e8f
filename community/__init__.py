"""Community pages: texts staff write for an event's attendees, each with its own discussion."""
