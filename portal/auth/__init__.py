"""Accounts, roles, sessions and password handling."""
