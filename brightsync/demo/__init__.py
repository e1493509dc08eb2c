"""`brightsync demo`: the whole product, end to end, on embedded defaults and the sandbox.

Starts the Aurinko simulator and the reference CRM, the web app, a real Celery worker process
and beat, registers an organisation with three mailboxes (email, calendar, tasks, contacts),
drives a realistic scenario and prints what was synced, deduplicated, cached and why: mail
logged once for three colleagues, a shared meeting as one CRM event kept in step both ways, a
task's round trip between a mailbox and the CRM, an address book meeting the CRM's without a
duplicate.

`harness` starts and talks to the processes, `scenario` is what the demo does, `report` what
it prints; `command` is the click command that runs the three.
"""
