"""A user's and an organisation's life after registration: change (services, CRM user,
per-user settings), leave (remove a user or a whole organisation) and forget (erase a person's
addresses from what BrightSync keeps)."""
