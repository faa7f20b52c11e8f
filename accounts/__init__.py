"""Accounts: users, passwords, sign-in tokens, sessions and throttling."""
