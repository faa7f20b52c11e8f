"""Small pieces every other package may use: they import nothing of the platform."""
