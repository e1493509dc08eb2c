"""The embedded broker: `sqla+sqlite:///…` URLs get the fast-polling SQL transport."""

from __future__ import annotations

import threading
import time

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
