"""Publishing runs and registration work: by task name, so no module that publishes imports
a task module (the webhook, the operator's "sync now", the sweepers and a finished run's
hand-over all send through here; so does the webhook intake's drain)."""

from __future__ import annotations

from typing import Any

from brightsync.celery import app

# Small publish retry budget: the webhook answers 503 rather than hang when the broker is down.
PUBLISH_RETRY: dict[str, Any] = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

RUN_TASK = "brightsync.sync.run"
SUBSCRIPTIONS_TASK = "brightsync.subscriptions.ensure"
DRAIN_TASK = "brightsync.sync.intake.drain"
UNSUBSCRIBE_TASK = "brightsync.subscriptions.remove"


def send(task: str, args: list[Any], queue: str) -> None:
    """Publish `task` by name with the short retry budget; raises when the broker can't take it."""
    app.send_task(task, args=args, queue=queue, retry=True, retry_policy=PUBLISH_RETRY)


def publish_sync(user_id: int, service: str, queue: str = "sync") -> None:
    """Queue a run. Webhook-triggered runs use the "intake" queue, so a backlog of scheduled
    runs never delays fresh changes (and intake can get workers of its own)."""
    send(RUN_TASK, [user_id, service], queue)


def publish_intake(user_id: int, service: str) -> None:
    publish_sync(user_id, service, queue="intake")


def publish_subscriptions(user_id: int) -> None:
    """Queue the creation of a user's subscriptions (on "intake": a new user waits on it)."""
    send(SUBSCRIPTIONS_TASK, [user_id], "intake")


def publish_unsubscribe(subscription_ids: list[str], token_enc: str) -> None:
    """Queue the deletion of Aurinko subscriptions of a service turned off or a user removed.
    The account's token travels encrypted (the user's row may be gone by then)."""
    send(UNSUBSCRIBE_TASK, [subscription_ids, token_enc], "intake")
