"""`brightsync run`: web, worker and beat together on one machine (the Procfile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from brightsync.config import get_settings


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
    running = {name: subprocess.Popen(cmd, env=os.environ.copy()) for name, cmd in procs.items()}
    click.echo(f"web on http://localhost:{settings.port}, worker and beat started (Ctrl-C stops)")
    try:
        while all(p.poll() is None for p in running.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in running.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in running.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
