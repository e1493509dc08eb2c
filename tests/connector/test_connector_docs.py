"""docs/connector.md lists every endpoint of the contract, with what happens without it."""

from __future__ import annotations

from pathlib import Path

from brightsync.connector.contract import CONTRACT

DOC = Path(__file__).resolve().parents[2] / "docs" / "connector.md"
# Optional endpoints of issues 17 and 18 that the docs name before (or as) they land.
EXTRA = ("/api/v1/calendars", "/api/v1/leads/lookup", "/api/v1/emails/{id}/attachments")


def test_every_endpoint_is_in_the_connector_docs_with_what_happens_without_it():
    text = DOC.read_text()
    assert "degrades gracefully" not in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for path in {op.path for op in CONTRACT} | set(EXTRA):
        mine = [row for row in rows if f"{path}`" in row or f"{path}?" in row]
        assert mine, path
        # Each row says whether it is required, needed by a domain, or optional, and what
        # happens without it.
        for row in mine:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert len(cells) == 3 and cells[2], row
            assert cells[1].startswith(("**required**", "**needed by", "optional")), row
    assert "showDeleted=true" in text
