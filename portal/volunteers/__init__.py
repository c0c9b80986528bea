"""Volunteers and Party members (志愿者): sign-up, vetting, service hours and certificates."""
