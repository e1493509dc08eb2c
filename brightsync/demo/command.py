"""`brightsync demo`: start the harness, run the scenario, print the report."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import click

from brightsync.demo import report, scenario
from brightsync.demo.harness import Harness


@click.command("demo")
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the demo's database, logs and the sandbox's final records afterwards.",
)
def demo(keep: bool) -> None:
    """Run the whole product end to end against the bundled sandbox and print a report."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-demo-"))
    h = Harness(workdir, click.echo)
    try:
        h.start()
        result = scenario.run(h)
        click.echo(report.report(h, result))
        if keep:
            report.save_records(h, workdir / "records.json")
            click.echo(f"Database, logs and the sandbox's records (records.json) kept in {workdir}")
    finally:
        h.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
