"""The parents' school (家长学校): lectures for guardians."""
