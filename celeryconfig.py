"""Celery settings (`celery -A brightsync` loads them through brightsync.celery).

Reliability first: JSON only, late acks and redelivery when a worker dies mid-task, one
message prefetched at a time, retries scheduled well inside the broker's visibility timeout.
"""

from celery.schedules import crontab

from brightsync.config import broker_settings, get_settings

# broker_url, broker_transport_options and the queues (Redis: a visibility timeout above every
# countdown and the task time limit, see brightsync.config.broker_settings; embedded broker:
# a 0.1 s polling interval through brightsync.broker; RabbitMQ: publisher confirms, durable
# quorum queues on topic exchanges, see brightsync.broker.queue_settings).
globals().update(broker_settings(get_settings()))
broker_connection_retry_on_startup = True

result_backend = None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# A task is acknowledged when it ends, and handed back to the broker for redelivery when its
# worker dies mid-way; one message prefetched per process (per consumer on quorum queues).
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_time_limit = 1800
task_soft_time_limit = 1500
worker_send_task_events = True
task_send_sent_event = True

task_default_queue = "sync"
task_default_exchange = "sync"
task_default_routing_key = "sync"
# brightsync.sync.run is published to "intake" when a webhook or an operator asks for it and
# to "sync" when beat does (safety syncs); retries stay on the queue they came from.
task_routes = {
    "brightsync.sync.*": {"queue": "sync"},
    "brightsync.email.*": {"queue": "sync"},
    "brightsync.maintenance.*": {"queue": "maintenance"},
    "brightsync.unmatched.*": {"queue": "maintenance"},
}

# One beat process only; each job also holds a lock so a second beat by mistake is harmless.
beat_schedule = {
    # Items are due `unmatched.retryEveryHours` after parking; hourly, each retry comes
    # within the hour after its time.
    "unmatched-retry-hourly": {
        "task": "brightsync.unmatched.retry",
        "schedule": crontab(minute=15),
    },
    "unmatched-expire-daily": {
        "task": "brightsync.unmatched.expire",
        "schedule": crontab(minute=45, hour=3),
    },
    "crm-contact-watch": {
        "task": "brightsync.unmatched.watch_crm_contacts",
        "schedule": 5 * 60.0,
    },
    "safety-sync": {
        "task": "brightsync.maintenance.safety_sync",
        "schedule": 15 * 60.0,
    },
    # Recovery: runs and claims whose worker died are republished within about a lease.
    "sweep-runs": {
        "task": "brightsync.maintenance.sweep_runs",
        "schedule": float(get_settings().sweep_seconds),
    },
    "sweep-email-claims": {
        "task": "brightsync.maintenance.sweep_email_claims",
        "schedule": float(get_settings().sweep_seconds),
    },
    "prune-notifications": {
        "task": "brightsync.maintenance.prune_notifications",
        "schedule": crontab(minute=30, hour=4),
    },
    "prune-connect-states": {
        "task": "brightsync.maintenance.prune_connect_states",
        "schedule": crontab(minute=40, hour=4),
    },
    # The embedded SQL broker never deletes delivered messages itself (no-op on Redis).
    "prune-broker": {
        "task": "brightsync.maintenance.prune_broker",
        "schedule": 10 * 60.0,
    },
    "subscription-check": {
        "task": "brightsync.maintenance.check_subscriptions",
        "schedule": 6 * 3600.0,
    },
}
