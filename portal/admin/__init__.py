"""Administration: staff accounts, password-reset links, the audit log."""
