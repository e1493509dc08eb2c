"""What every sync domain needs to work against an organisation's CRM.

The run context with its per-org CRM client and probed capabilities, contact / company /
opportunity matching, `relatedTo` building and the organisation's sync settings. Domain
packages (email, calendar, …) build on these; nothing here imports a domain or the web app.
"""
