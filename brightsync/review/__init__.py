"""What waits for a person's decision (possible duplicate contacts)."""
