"""Connecting a mailbox through Aurinko's OAuth flow (`POST /api/v1/orgs/{id}/connect-links`,
`/connect/...`): `state` (pure: the signed state, scopes, the authorize URL, what a callback
decides), `links` (the links and states in the database), `callback` (the code exchange and
what it registers)."""
