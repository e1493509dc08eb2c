"""The bundled simulators (`brightsync sandbox`) and Aurinko webhooks sent by hand
(`brightsync webhook`)."""

from __future__ import annotations

import json
import sys

import click

from brightsync.config import get_settings


@click.group()
def webhook() -> None:
    """Aurinko webhooks, by hand."""


@webhook.command("send")
@click.argument("account_id")
@click.option("--resource", default="/email/messages", show_default=True)
@click.option("--url", default=None, help="Default: $BRIGHTSYNC_PUBLIC_URL/webhooks/aurinko")
def webhook_send(account_id: str, resource: str, url: str | None) -> None:
    """Post a notification signed with AURINKO_SIGNING_SECRET, as Aurinko would."""
    import requests

    from brightsync.signing import signed_headers

    settings = get_settings()
    if not settings.aurinko_signing_secret:
        raise click.ClickException("AURINKO_SIGNING_SECRET is not set: nothing to sign with")
    target = url or settings.public_url + "/webhooks/aurinko"
    account: int | str = int(account_id) if account_id.isdigit() else account_id
    body = json.dumps(
        {
            "subscription": 0,
            "resource": resource,
            "accountId": account,
            "payloads": [{"id": "manual", "changeType": "updated"}],
        }
    ).encode()
    headers = {
        **signed_headers(settings.aurinko_signing_secret, body),
        "Content-Type": "application/json",
    }
    try:
        r = requests.post(target, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {target}: {exc}") from None
    click.echo(f"{r.status_code} {r.text.strip()}")
    if not r.ok:
        sys.exit(1)


@click.group()
def sandbox() -> None:
    """The bundled simulators."""


@sandbox.command("aurinko")
@click.option("--port", type=int, default=8001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(0, 10_000),
    default=0.0,
    show_default=True,
    help="hold every API answer this long, like the real API across a network",
)
def sandbox_aurinko(port: int, host: str, latency_ms: float) -> None:
    """Run the Aurinko simulator (webhooks signed with AURINKO_SIGNING_SECRET)."""
    from brightsync.sandbox.aurinko import serve

    click.echo(f"Aurinko simulator on http://{host}:{port} (control API under /_control)")
    serve(
        port,
        host,
        signing_secret=get_settings().aurinko_signing_secret,
        latency_ms=latency_ms,
    )
