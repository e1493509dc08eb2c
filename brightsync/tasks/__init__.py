"""Two-way sync of mailbox tasks and CRM tasks (adapter, mapping rules, the sync handler)."""
