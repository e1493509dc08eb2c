"""`brightsync run`: web, worker and beat together on one machine (the Procfile)."""

from __future__ import annotations

import os
import signal
import sys

import click

from brightsync.config import get_settings
from brightsync.supervisor import Supervisor


@click.command("run")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
def run_stack(workers: int) -> None:
    """Run web + worker + beat together (the Procfile, on one machine)."""
    from brightsync.migrate import upgrade
    from brightsync.process import beat_command, worker_command

    settings = get_settings()
    upgrade()
    python = sys.executable
    procs = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "-b",
            f"0.0.0.0:{settings.port}",
            "-w",
            "2",
            "brightsync.web:create_app()",
        ],
        "worker": worker_command(concurrency=workers),
        "beat": beat_command(settings.instance_path / "celerybeat-schedule"),
    }
    supervisor = Supervisor(settings.stop_grace_seconds)
    # SIGQUIT hurries gunicorn (quick shutdown) and the worker (cold shutdown: unfinished
    # tasks go back to the broker); beat stops at once on SIGTERM.
    hurry = {"web": signal.SIGQUIT, "worker": signal.SIGQUIT, "beat": None}
    for name, cmd in procs.items():
        supervisor.start(name, cmd, os.environ.copy(), hurry[name])
    click.echo(f"web on http://localhost:{settings.port}, worker and beat started (Ctrl-C stops)")
    try:
        reason, child_died = supervisor.wait()
        click.echo(f"{reason}: stopping web, worker and beat", err=True)
    finally:
        supervisor.stop()
    if child_died:
        sys.exit(1)  # a process of the stack died on its own: the stack is not healthy
