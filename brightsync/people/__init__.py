"""People: addresses, domains, names and contact similarity (pure helpers)."""
