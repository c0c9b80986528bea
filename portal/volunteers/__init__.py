"""One-on-one pairing of vetted volunteers with children (一对一帮扶)."""
