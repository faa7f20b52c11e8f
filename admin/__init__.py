"""The staff side: admin handlers, their forms and their permission checks."""
