"""The embedded broker: `sqla+sqlite:///…` URLs get the fast-polling SQL transport."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta

from kombu import Connection

import brightsync.celery  # noqa: F401 - registers the transport, as every process does
from brightsync.config import broker_settings, load_settings


def test_sqla_urls_use_the_fast_transport_and_deliver_within_a_poll(tmp_path):
    url = f"sqla+sqlite:///{tmp_path}/broker.db"
    options = broker_settings(load_settings({"CELERY_BROKER_URL": url}))
    assert options["broker_transport_options"] == {"polling_interval": 0.1}
    with Connection(url, transport_options=options["broker_transport_options"]) as consumer:
        # The option reached kombu's poll loop and not create_engine() (which would refuse it).
        assert type(consumer.transport).__module__ == "brightsync.broker"
        assert consumer.transport.polling_interval == 0.1
        queue = consumer.SimpleQueue("latency")
        sent_at: list[float] = []

        def publish_later() -> None:
            time.sleep(0.5)
            with Connection(url) as producer:
                sent_at.append(time.monotonic())
                producer.SimpleQueue("latency").put({"n": 1})

        publisher = threading.Thread(target=publish_later)
        publisher.start()
        message = queue.get(block=True, timeout=5)
        received = time.monotonic()
        publisher.join()
        message.ack()
        assert message.payload == {"n": 1}
        # kombu's own transport sleeps a whole second between empty polls.
        assert received - sent_at[0] < 0.4
        queue.close()


def _rows(broker_db: str) -> dict[bool, int]:
    with sqlite3.connect(broker_db) as db:
        return {
            bool(v): n
            for v, n in db.execute("SELECT visible, count(*) FROM kombu_message GROUP BY visible")
        }


def test_delivered_messages_are_pruned_in_bounded_batches_and_waiting_ones_kept(unit_env):
    from brightsync.broker import prune_delivered
    from brightsync.sync.jobs import prune_broker

    url = unit_env["CELERY_BROKER_URL"]
    broker_db = url.removeprefix("sqla+sqlite:///")
    with Connection(url) as conn:
        queue = conn.SimpleQueue("prune")
        for n in range(5):
            queue.put({"n": n})
        for _ in range(3):
            queue.get(timeout=5).ack()
        queue.close()
    assert _rows(broker_db) == {False: 3, True: 2}  # kombu keeps what it delivered

    assert prune_broker() == 0  # the maintenance job: delivered just now, kept for a while
    later = datetime.now() + timedelta(hours=2)
    assert prune_delivered(url, now=later, batch=2, max_batches=1) == 2  # bounded per call
    assert prune_delivered(url, now=later, batch=2) == 1
    assert _rows(broker_db) == {True: 2}  # waiting messages are never touched

    with Connection(url) as conn:
        queue = conn.SimpleQueue("prune")
        assert [queue.get(timeout=5).payload["n"] for _ in range(2)] == [3, 4]
        queue.close()
    assert prune_delivered("redis://127.0.0.1:6379/0") == 0  # only the SQL broker needs it


def test_rabbitmq_gets_durable_quorum_queues_and_publisher_confirms():
    from brightsync.config import broker_settings, load_settings

    env = {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/", "DATABASE_URL": "sqlite://"}
    conf = broker_settings(load_settings(env))
    assert conf["broker_transport_options"] == {"confirm_publish": True}
    assert conf["worker_detect_quorum_queues"] is True
    queues = {q.name: q for q in conf["task_queues"]}
    assert set(queues) == {"intake", "sync", "maintenance"}
    for q in queues.values():
        assert q.durable and q.queue_arguments == {"x-queue-type": "quorum"}
        # Native delayed delivery (countdowns on quorum queues) routes by topic.
        assert q.exchange.type == "topic" and q.routing_key == q.name
    redis = broker_settings(load_settings({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/1"}))
    assert all(q.exchange.type == "direct" for q in redis["task_queues"])
