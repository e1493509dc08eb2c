"""The email domain: a mailbox's delta is read (`delta`), each page planned without I/O from
the message facts, the org's rules and the copies other mailboxes hold (`message`, `rules`,
`copies`, `plan`), the plan applied as org-wide claims (`mailbox`, `claims`), and the claims
this mailbox owns written to the CRM once (`writer`, `outcomes`, `relink`, `handout`). Later
work runs as tasks (`jobs`, published through `queue`, run by `finish`)."""
