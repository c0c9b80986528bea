"""One-on-one pairing (一对一帮扶): children, matching, pairings and visits."""
