"""Questions to speakers: asked during a session, pre-moderated, voted on, kept with the session."""
