"""Two-way contacts sync with duplicate prevention (issue 9)."""
