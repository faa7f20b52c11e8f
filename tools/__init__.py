"""Set-up helpers run by the Makefile (see tools/browser_libs.py)."""
