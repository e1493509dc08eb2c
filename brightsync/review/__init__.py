"""What waits for a person's decision: review mode's report, held deletions and possible
duplicate contacts."""
