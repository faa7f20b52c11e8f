"""Self-registration: organiser-built forms, the registration state machine, places and waiting lists."""
