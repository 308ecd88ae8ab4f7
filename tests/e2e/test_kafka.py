"""The Kafka bus end to end: daemons with `bus.driver: kafka` on librdkafka's mock cluster (three
brokers, run as its own process by tests/tools/kafka_mock.cpp) deliver to the scriptable sink.
Every event arrives once and in order per entity; a broker taken down under load and brought back
loses and duplicates nothing; two daemons on one PostgreSQL share the work through one consumer
group, rebalancing as the second joins and as one leaves, and nothing is delivered twice."""
import json
import os
import subprocess
import sys
import time
import unittest

from harness import Daemon, Storage, fixture, wait_for, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from http_sink import Sink  # noqa: E402

MOCK = os.environ.get("ORDERBRIDGE_KAFKA_MOCK", os.path.join(os.path.dirname(__file__),
                                                             "../../build/ci/tests/ob_kafka_mock"))
SECRET = "wh-secret"
TOPIC = "orderbridge.events.v1"


class MockCluster:
    def __init__(self, brokers=3, partitions=4):
        self.proc = subprocess.Popen([MOCK, "--brokers", str(brokers), "--partitions", str(partitions),
                                      "--replication", str(min(3, brokers)), "--topic", TOPIC],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = json.loads(self.proc.stdout.readline())["bootstrap"]

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def config(storage, sink_url, us_url, bootstrap):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
log: {{level: info, format: json, access_log: false}}
{storage.config()}
bus:
  driver: kafka
  kafka: {{brokers: "{bootstrap}", topic: {TOPIC}, group_prefix: obtest}}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]
connectors:
  - name: sink
    kind: http
    base_url: "{sink_url}"
    path: /events
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: 500, burst: 50, max_in_flight: 4}}
    retry: {{max_attempts: 8, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
  - name: us-only
    kind: http
    base_url: "{us_url}"
    path: /us
    subscribe: ["order.*"]
    when: {{shipping_country: [US]}}
"""


def order_body(order_id, modified="2025-10-14T13:41:15"):
    body = with_order_id(fixture("order_simple.json"), order_id)
    return body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())


class KafkaBase:
    driver = None

    def setUp(self):
        self.storage = Storage(self.driver)
        self.cluster = MockCluster()
        self.sink = Sink()
        self.us_sink = Sink()  # the filtered lane's own system (same event ids, so not the same sink)
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.sink.close()
        self.us_sink.close()
        self.cluster.close()

    def start(self):
        d = Daemon(config(self.storage, self.sink.url, self.us_sink.url, self.cluster.bootstrap)).start()
        self.daemons.append(d)
        return d

    def post(self, d, body, topic="order.created"):
        status, _, _ = d.request("POST", "/webhooks/woocommerce/main", body=body, headers=woo_headers(body, SECRET, topic))
        self.assertEqual(status, 202)

    def sink_events(self):
        return [r for r in self.sink.requests if r.path == "/events" and r.outcome in ("accepted", "duplicate")]

    def test_every_event_once_in_order_through_a_broker_outage(self):
        d = self.start()
        ids = list(range(21001, 21031))
        for n, i in enumerate(ids):
            if n == 10:
                self.assertTrue(self.cluster.command("down 2")["ok"])
            if n == 20:
                self.assertTrue(self.cluster.command("up 2")["ok"])
            self.post(d, order_body(i))
        for i in ids[:5]:
            self.post(d, order_body(i, modified="2025-10-15T10:00:00"), topic="order.updated")
        self.sink.wait_until(lambda s: len([r for r in s.requests if r.path == "/events" and r.outcome == "accepted"])
                             >= len(ids) + 5, timeout=60, what="every event at the sink")
        events = self.sink_events()
        keys = [r.idempotency_key for r in events]
        self.assertEqual(len(keys), len(set(keys)), "an event was delivered twice")
        by_entity = {}
        for r in events:
            by_entity.setdefault(r.entity_id, []).append(r.body["version"])
        self.assertEqual(set(by_entity), {f"wc:main:{i}" for i in ids})
        for i in ids[:5]:
            versions = by_entity[f"wc:main:{i}"]
            self.assertEqual(versions, sorted(versions), "versions out of order")
        # The filtered lane (shipping_country: US) consumes the same topic in its own group.
        self.assertEqual(json.loads(order_body(ids[0]))["shipping"]["country"], "US")
        self.us_sink.wait_for_accepted(len(ids) + 5, timeout=60)
        self.assertEqual(self.us_sink.duplicates, 0)
        # Everything published, every delivery recorded, offsets committed (nothing left to relay).
        wait_for(lambda: self.storage.query(d, "SELECT COUNT(*) FROM outbox WHERE finished_at IS NULL") == "0",
                 what="the relay to have published everything")
        _, _, metrics = d.request("GET", "/metrics")
        self.assertIn(b"orderbridge_kafka_published_total", metrics)

    def test_an_event_too_large_for_the_topic_is_passed_over_and_the_next_go_out(self):
        d = self.start()
        # A 1 MB meta_data value: the webhook fits the default body limit (1 MiB), the event does not
        # fit Kafka's default message size (1,000,000 bytes).
        huge = b'"meta_data":[{"id":1,"key":"_huge","value":"' + b"x" * 1_010_000 + b'"},'
        self.post(d, order_body(23001).replace(b'"meta_data":[', huge, 1))
        self.post(d, order_body(23002))
        self.sink.wait_until(lambda s: any(r.entity_id == "wc:main:23002" for r in s.requests),
                             timeout=60, what="the event after the large one")
        wait_for(lambda: self.storage.query(d, "SELECT COUNT(*) FROM outbox WHERE finished_at IS NULL") == "0",
                 what="the relay to have passed the large event over")
        self.assertEqual([r.entity_id for r in self.sink_events()], ["wc:main:23002"])
        self.assertTrue(any(r.get("msg") == "kafka relay: event too large for the topic; it is not published"
                            and r.get("entity_id") == "wc:main:23001" for r in d.log_records()))
        _, _, metrics = d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_kafka_passed_over_total{reason="too_large"} 1', metrics)


    def test_an_event_whose_data_cannot_be_read_is_passed_over_not_published_empty(self):
        # Committed while no broker can be reached, so the relay has not published it when the daemon dies.
        d = Daemon(config(self.storage, self.sink.url, self.us_sink.url, "127.0.0.1:9")).start()
        self.daemons.append(d)
        self.post(d, order_body(24001))
        d.proc.kill()
        d.stop()
        unpublished = "SELECT COUNT(*) FROM outbox WHERE finished_at IS NULL"
        self.assertNotEqual(self.storage.query(d, unpublished), "0")
        # The event is stored without its entity's data, which the entity row holds for its version; a
        # hand edit (or an older daemon writing across schema version 8) can leave it nowhere.
        self.storage.query(d, "UPDATE entities SET version = 'edited' WHERE entity_id = 'wc:main:24001'")
        with open(d.config_path, "w") as f:
            f.write(config(self.storage, self.sink.url, self.us_sink.url, self.cluster.bootstrap))
        d.start()
        self.post(d, order_body(24002))
        self.sink.wait_until(lambda s: any(r.entity_id == "wc:main:24002" for r in s.requests),
                             timeout=60, what="the event after the unreadable one")
        wait_for(lambda: self.storage.query(d, unpublished) == "0", what="the relay to have passed it over")
        self.assertEqual([r.entity_id for r in self.sink_events()], ["wc:main:24002"])
        self.assertTrue(any(r.get("msg", "").startswith("kafka relay: an event's payload cannot be read")
                            and r.get("entity_id") == "wc:main:24001" for r in d.log_records()))
        _, _, metrics = d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_kafka_passed_over_total{reason="unreadable"} 1', metrics)


class KafkaSqliteTest(KafkaBase, unittest.TestCase):
    driver = "sqlite"


class KafkaPostgresTest(KafkaBase, unittest.TestCase):
    driver = "postgres"

    def test_two_daemons_share_one_consumer_group_and_deliver_nothing_twice(self):
        a = self.start()
        ids = list(range(22001, 22061))
        for i in ids[:20]:
            self.post(a, order_body(i))
        b = self.start()  # joins the group: a rebalance while events flow
        for n, i in enumerate(ids[20:40]):
            self.post(a if n % 2 else b, order_body(i))
        self.sink.wait_until(lambda s: len([r for r in s.requests if r.path == "/events"]) >= 40, timeout=60,
                             what="the first 40 events")
        a.stop()  # leaves the group: b takes every partition
        self.daemons.remove(a)
        for i in ids[40:]:
            self.post(b, order_body(i))
        self.sink.wait_until(lambda s: len([r for r in s.requests if r.path == "/events" and r.outcome == "accepted"])
                             >= len(ids), timeout=60, what="every event at the sink")
        time.sleep(1)
        events = self.sink_events()
        self.assertEqual({r.entity_id for r in events}, {f"wc:main:{i}" for i in ids})
        self.assertEqual(self.sink.duplicates, 0, "an event was delivered twice")
        self.assertEqual(len(events), len(ids))


if __name__ == "__main__":
    unittest.main()
