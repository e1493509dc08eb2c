"""Outbound API clients: Aurinko (mailboxes) and the CRM connector (business systems)."""
