"""The conformance checks, grouped by what they check; `brightsync.connector.check` runs them
in order. Each check is a function of the `CheckRun` (checks/run.py) returning its PASS
detail, or raising its verdict (`probe.Failed`, `NotOffered`, `Skipped`)."""
