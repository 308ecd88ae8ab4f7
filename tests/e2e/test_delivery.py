"""The delivery engine end to end on the built binary, on SQLite and on PostgreSQL: the `http`
connector against the scriptable sink of tests/simulators (5xx bursts, 429 with Retry-After,
resets, timeouts, permanent 4xx, 401), in-order and exactly-once-in-effect delivery, dead letters
with replay and edit-and-replay, pause and resume, the rate limit, SIGKILL during dispatch, and two
daemons sharing one PostgreSQL."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from harness import BIN, Daemon, Storage, fixture, wait_for, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from http_sink import Sink  # noqa: E402

SECRET = "wh-secret"
SIGNING = "sink-signing-key"
OPS = {"Authorization": "Bearer operator-token-0123456789"}
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}


def config(storage, sink_url, connector_extra="", rate="{per_second: 200, burst: 50, max_in_flight: 4}",
           timeout="2s", max_attempts=8):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
  admin_tokens:
    - {{name: ops, token: "operator-token-0123456789", role: operator}}
    - {{name: support, token: "viewer-token-0123456789", role: viewer}}
log: {{level: info, format: json, access_log: false}}
{storage.config()}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]
connectors:
  - name: sink
    kind: http
    base_url: "{sink_url}"
    path: /events
    signing_secret: "{SIGNING}"
    subscribe: ["order.*", refund.created]
    timeout: {timeout}
    rate_limit: {rate}
    retry: {{max_attempts: {max_attempts}, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
    circuit_breaker: {{failure_ratio: 0.9, min_requests: 50, open_for: 1s}}
{connector_extra}
"""


def order_body(order_id, modified="2025-10-14T13:41:15", status="processing"):
    body = with_order_id(fixture("order_simple.json"), order_id)
    body = body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())
    return body.replace(b'"status":"processing"', f'"status":"{status}"'.encode(), 1)


class DeliveryBase:
    driver = None

    def setUp(self):
        self.storage = Storage(self.driver)
        self.sink = Sink(secret=SIGNING)
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.sink.close()

    def start(self, **kw):
        d = Daemon(config(self.storage, self.sink.url, **kw)).start()
        self.daemons.append(d)
        return d

    def post(self, d, body, topic="order.created"):
        status, _, _ = d.request("POST", "/webhooks/woocommerce/main", body=body, headers=woo_headers(body, SECRET, topic))
        self.assertIn(status, (200, 202))
        return status

    def api(self, d, method, path, body=None, headers=OPS):
        status, _, data = d.request(method, path, body=json.dumps(body) if body is not None else None,
                                    headers=dict(headers, **({"Content-Type": "application/json"} if body else {})))
        return status, (json.loads(data) if data else None)

    def lane(self, d):
        status, body = self.api(d, "GET", "/v1/connectors", headers=VIEWER)
        self.assertEqual(status, 200)
        return body["items"][0]

    def test_every_event_once_and_in_order_through_failures(self):
        d = self.start()
        self.sink.script({"status": 503, "count": 3}, {"reset": True}, {"status": 502, "body": "bad gateway"},
                         {"status": 429, "retry_after": "1"})
        ids = list(range(5001, 5011))
        for i in ids:
            self.post(d, order_body(i))
        for i in ids[:4]:  # a newer version of some of them
            self.post(d, order_body(i, modified="2025-10-15T09:00:00", status="completed"), topic="order.updated")
        self.sink.wait_for_accepted(14, timeout=30)
        accepted = self.sink.accepted
        keys = [e["id"] for e in accepted]
        self.assertEqual(len(keys), len(set(keys)))
        by_entity = self.sink.by_entity()
        self.assertEqual(set(by_entity), {f"wc:main:{i}" for i in ids})
        for i in ids[:4]:
            versions = by_entity[f"wc:main:{i}"]
            self.assertEqual(len(versions), 2)
            self.assertLess(versions[0], versions[1], "an older version arrived after a newer one")
        for req in self.sink.requests:
            if req.body:
                self.assertEqual(req.headers.get("idempotency-key"), req.body["id"])
                self.assertTrue(req.headers.get("traceparent", "").startswith("00-" + req.body["trace_id"] + "-"))
        self.assertEqual(self.sink.rejected, 0, "a signature did not verify")
        # Every outcome is recorded: attempts of the failures are on the deliveries.
        wait_for(lambda: int(self.storage.query(d, "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")) == 14,
                 what="every delivery recorded as delivered")
        attempts = int(self.storage.query(d, "SELECT COUNT(*) FROM delivery_attempts"))
        self.assertGreaterEqual(attempts, 14 + 5)
        status, order = self.api(d, "GET", "/v1/orders/wc:main:5001", headers=VIEWER)
        self.assertEqual(status, 200)
        self.assertEqual(order["deliveries"][0]["connector"], "sink")
        self.assertEqual(order["deliveries"][0]["state"], "delivered")
        self.assertEqual(order["deliveries"][0]["events"], 2)
        _, _, metrics = d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_deliveries_total{connector="sink",outcome="delivered"} 14', metrics)
        # Every family the daemon exposes is in the catalog.
        with open(os.path.join(os.path.dirname(__file__), "../../docs/metrics.md")) as f:
            catalog = f.read()
        families = {line.split()[2] for line in metrics.decode().splitlines() if line.startswith("# TYPE orderbridge_")}
        self.assertGreater(len(families), 15)
        self.assertEqual({f for f in families if f"`{f}`" not in catalog}, set(), "undocumented metrics")

    def test_a_429_pauses_the_lane_for_its_retry_after(self):
        d = self.start()
        self.sink.script({"status": 429, "retry_after": "1"})
        self.post(d, order_body(6001))
        self.sink.wait_for_requests(1, timeout=10)
        throttled_at = self.sink.requests[0].time
        self.assertEqual(self.sink.requests[0].answer, 429)
        for i in (6002, 6003):  # committed while the lane waits
            self.post(d, order_body(i))
        self.sink.wait_for_accepted(3, timeout=20)
        later = [r.time - throttled_at for r in self.sink.requests[1:]]
        self.assertGreaterEqual(min(later), 0.9, "the lane did not wait for Retry-After")

    def test_permanent_error_is_dead_lettered_and_replayed_with_an_edited_payload(self):
        d = self.start()
        self.sink.fail_entity("wc:main:7001", status=422)
        self.post(d, order_body(7001))
        self.post(d, order_body(7002))
        self.sink.wait_for_accepted(1, timeout=20)

        def dead():
            status, body = self.api(d, "GET", "/v1/dlq?connector=sink", headers=VIEWER)
            return body["items"] if status == 200 and body["items"] else None

        items = wait_for(dead, what="the dead letter")
        self.assertEqual(len(items), 1)
        item = items[0]
        self.assertEqual((item["entity_id"], item["error_class"], item["http_status"], item["state"]),
                         ("wc:main:7001", "permanent", 422, "dead"))
        status, detail = self.api(d, "GET", f"/v1/dlq/{item['id']}", headers=VIEWER)
        self.assertEqual(status, 200)
        self.assertEqual(len(detail["attempts"]), 1, "a permanent error is not retried")
        self.assertEqual(detail["payload"]["entity_id"], "wc:main:7001")
        wait_for(lambda: self.lane(d)["dead"] == 1, what="the lane's dead count")

        # Viewers may look but not act.
        status, _ = self.api(d, "POST", f"/v1/dlq/{item['id']}/replay", {"reason": "x"}, headers=VIEWER)
        self.assertEqual(status, 403)
        self.sink.clear_fail_entity("wc:main:7001")
        edited = dict(detail["payload"])
        edited["data"] = dict(edited["data"], customer_note="fixed by ops")
        status, body = self.api(d, "POST", f"/v1/dlq/{item['id']}/replay", {"reason": "SKU mapped", "payload": edited})
        self.assertEqual((status, body["replayed"], body["by"]), (200, 1, "ops"))
        self.sink.wait_for_accepted(2, timeout=20)
        replayed = [e for e in self.sink.accepted if e["entity_id"] == "wc:main:7001"]
        self.assertEqual(replayed[0]["data"]["customer_note"], "fixed by ops")
        status, again = self.api(d, "POST", f"/v1/dlq/{item['id']}/replay", {})
        self.assertEqual(status, 409)
        _, audit = self.api(d, "GET", "/v1/audit", headers=VIEWER)
        self.assertEqual((audit["items"][0]["action"], audit["items"][0]["actor"], audit["items"][0]["reason"]),
                         ("replay_edited", "ops", "SKU mapped"))

        # The order's timeline tells the whole story in time order.
        def story():
            status, tl = self.api(d, "GET", "/v1/orders/wc:main:7001/timeline", headers=VIEWER)
            self.assertEqual(status, 200)
            return tl if tl["steps"] and tl["steps"][-1]["step"] == "delivered" else None

        timeline = wait_for(story, what="the delivered step in the timeline")
        self.assertEqual(len(timeline["trace_id"]), 32)
        steps = [s["step"] for s in timeline["steps"]]
        self.assertEqual(steps, ["received", "normalized", "committed", "attempt", "dead", "replayed", "attempt",
                                 "delivered"])
        ats = [s["at"] for s in timeline["steps"]]
        self.assertEqual(ats, sorted(ats))
        failed = timeline["steps"][3]
        self.assertEqual((failed["connector"], failed["http_status"]), ("sink", 422))
        self.assertIsInstance(failed["latency_ms"], int)
        self.assertIn("by ops: SKU mapped", timeline["steps"][5]["detail"])
        self.assertEqual(self.api(d, "GET", "/v1/orders/wc:main:999/timeline", headers=VIEWER)[0], 404)

    def test_an_event_whose_data_cannot_be_read_is_dead_lettered_not_sent_empty(self):
        d = self.start()
        self.assertEqual(self.api(d, "POST", "/v1/connectors/sink/pause", {"reason": "hold"})[0], 200)
        self.post(d, order_body(9601))
        wait_for(lambda: self.lane(d)["backlog"] == 1, what="the backlog to show")
        d.stop()
        # The event is stored without its entity's data, which the entity row holds for its version; a
        # hand edit (or an older daemon writing across schema version 8) can leave it nowhere.
        self.storage.query(d, "UPDATE entities SET version = 'edited' WHERE entity_id = 'wc:main:9601'")
        d.start()
        self.api(d, "POST", "/v1/connectors/sink/resume", {"reason": "go"})

        def dead():
            status, body = self.api(d, "GET", "/v1/dlq?connector=sink", headers=VIEWER)
            return body["items"] if status == 200 and body["items"] else None

        item = wait_for(dead, what="the dead letter")[0]
        self.assertEqual((item["entity_id"], item["error_class"], item["state"]), ("wc:main:9601", "permanent", "dead"))
        _, detail = self.api(d, "GET", f"/v1/dlq/{item['id']}", headers=VIEWER)
        self.assertIn("payload could not be read", detail["attempts"][0]["reason"])
        self.assertIsNone(detail["payload"])
        self.assertEqual(self.sink.requests, [], "nothing was sent")
        # No call was made: the lane shows no error and no attempt, only the dead letter.
        lane = self.lane(d)
        self.assertIsNone(lane["last_error"])
        _, _, metrics = d.request("GET", "/metrics")
        self.assertNotIn(b'orderbridge_delivery_attempts_total{class="permanent"', metrics)
        self.assertIn(b'orderbridge_deliveries_total{connector="sink",outcome="dead"} 1', metrics)

    def test_auth_failure_marks_the_lane_and_a_filtered_replay_recovers(self):
        d = self.start()
        self.sink.set_default(status=401)
        for i in (8001, 8002):
            self.post(d, order_body(i))
        wait_for(lambda: self.lane(d)["dead"] == 2, what="two auth dead letters")
        lane = self.lane(d)
        self.assertTrue(lane["auth_failed"])
        self.assertFalse(lane["healthy"])
        self.assertEqual(lane["last_error"]["error_class"], "auth")
        self.sink.set_default(status=200)
        status, body = self.api(d, "POST", "/v1/dlq/replay", {})
        self.assertEqual(status, 400, "a filter is required")
        status, body = self.api(d, "POST", "/v1/dlq/replay", {"error_class": "auth", "reason": "key rotated"})
        self.assertEqual((status, body["replayed"]), (200, 2))
        self.sink.wait_for_accepted(2, timeout=20)
        wait_for(lambda: not self.lane(d)["auth_failed"], what="the lane to be healthy again")

    def test_pause_holds_the_backlog_and_resume_drains_it(self):
        d = self.start()
        status, body = self.api(d, "POST", "/v1/connectors/sink/pause", {"reason": "ERP maintenance"})
        self.assertEqual((status, body["paused"]), (200, True))
        for i in (9001, 9002, 9003):
            self.post(d, order_body(i))
        wait_for(lambda: self.lane(d)["backlog"] == 3, what="the backlog to show")
        time.sleep(0.5)
        self.assertEqual(len(self.sink.requests), 0)
        self.assertTrue(self.lane(d)["paused"])
        status, _ = self.api(d, "POST", "/v1/connectors/sink/resume", {"reason": "done"})
        self.assertEqual(status, 200)
        self.sink.wait_for_accepted(3, timeout=20)
        _, audit = self.api(d, "GET", "/v1/audit", headers=VIEWER)
        self.assertEqual([a["action"] for a in audit["items"][:2]], ["resume", "pause"])
        self.assertEqual(self.api(d, "POST", "/v1/connectors/nope/pause", {})[0], 404)

    def test_cli_lists_shows_and_replays_dead_letters(self):
        d = self.start()
        self.sink.fail_entity("wc:main:14001", status=400)
        self.post(d, order_body(14001))
        wait_for(lambda: self.lane(d)["dead"] == 1, what="the dead letter")

        def cli(*args):
            return subprocess.run([BIN, "--config", d.config_path, *args, "--url", f"http://127.0.0.1:{d.port}",
                                   "--token", "operator-token-0123456789"], capture_output=True, text=True, timeout=30)

        listed = cli("dlq", "list", "--connector", "sink")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("wc:main:14001", listed.stdout)
        self.assertIn("permanent", listed.stdout)
        dead_id = listed.stdout.splitlines()[1].split()[0]
        shown = cli("dlq", "show", dead_id)
        self.assertEqual(json.loads(shown.stdout)["attempts"][0]["http_status"], 400)
        self.assertEqual(cli("dlq", "replay").returncode, 2, "a replay needs an id or a filter")
        missing = cli("dlq", "show", "999999")
        self.assertEqual(missing.returncode, 1)
        self.assertIn("404", missing.stderr)
        self.sink.clear_fail_entity("wc:main:14001")
        replayed = cli("dlq", "replay", dead_id, "--reason", "mapping fixed")
        self.assertEqual(replayed.returncode, 0, replayed.stderr)
        self.sink.wait_for_accepted(1, timeout=20)
        again = cli("replay", "--entity", "wc:main:14001", "--connector", "sink", "--reason", "ERP restored")
        self.assertEqual(again.returncode, 0, again.stderr)
        wait_for(lambda: self.sink.duplicates == 1, what="the entity sent again (same key: a harmless repeat)")

    def test_demo_sends_signed_sample_orders_that_flow_through(self):
        d = self.start()
        run = subprocess.run([BIN, "--config", d.config_path, "demo", "--orders", "6", "--url",
                              f"http://127.0.0.1:{d.port}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("sent 6 orders to store 'main'", run.stdout)
        self.assertIn("/console/", run.stdout)
        self.sink.wait_for_accepted(6, timeout=20)
        self.assertEqual(len({e["entity_id"] for e in self.sink.accepted}), 6)
        # Run again: new ids, so new orders (not duplicates).
        again = subprocess.run([BIN, "--config", d.config_path, "demo", "--orders", "2", "--url",
                                f"http://127.0.0.1:{d.port}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertNotIn("duplicate", again.stdout)
        bad = subprocess.run([BIN, "--config", d.config_path, "demo", "--store", "nope"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(bad.returncode, 2)

    def test_repeated_wrong_tokens_are_slowed_down(self):
        d = self.start()
        bad = {"Authorization": "Bearer not-the-token"}
        answers = [d.request("GET", "/v1/connectors", headers=bad)[0] for _ in range(6)]
        self.assertEqual(answers, [401] * 6)
        status, headers, _ = d.request("GET", "/v1/connectors", headers=VIEWER)
        self.assertEqual(status, 429, "even a right token waits after repeated failures")
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)

    def test_rate_limit_caps_requests_per_second(self):
        d = self.start(rate="{per_second: 5, burst: 1, max_in_flight: 2}")
        for i in range(10001, 10013):
            self.post(d, order_body(i))
        self.sink.wait_for_accepted(12, timeout=30)
        self.assertLessEqual(self.sink.max_in_window(1.0), 6)

    def test_timeouts_are_retried_and_the_idempotency_key_makes_the_repeat_harmless(self):
        d = self.start(timeout="500ms")
        self.sink.script({"hang": 1.0})
        self.post(d, order_body(11001))
        self.sink.wait_for_accepted(1, timeout=20)
        wait_for(lambda: self.storage.query(d, "SELECT state FROM deliveries") == "delivered", what="delivered")
        self.assertEqual(self.storage.query(d, "SELECT attempts FROM deliveries"), "2")

    def test_sigkill_during_dispatch_loses_nothing(self):
        sink_latency = Sink(secret=SIGNING, latency=0.03)
        self.sink.close()
        self.sink = sink_latency
        d = self.start(rate="{per_second: 1000, burst: 10, max_in_flight: 2}")
        ids = list(range(12001, 12061))
        for i in ids:
            self.post(d, order_body(i))
        wait_for(lambda: len(self.sink.accepted) >= 10, what="some deliveries")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        d.start()
        self.sink.wait_for_accepted(len(ids), timeout=60)
        self.assertEqual({e["entity_id"] for e in self.sink.accepted}, {f"wc:main:{i}" for i in ids})
        wait_for(lambda: int(self.storage.query(d, "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")) == 60,
                 what="every delivery recorded")
        # A delivery sent but not recorded before the kill is sent again with the same key: harmless,
        # and counted by the daemon as reclaimed (its lease had ended unanswered).
        _, _, metrics = d.request("GET", "/metrics")
        reclaimed = 0.0
        for line in metrics.decode().splitlines():
            if line.startswith('orderbridge_deliveries_total{connector="sink",outcome="reclaimed"}'):
                reclaimed = float(line.split()[-1])
        print(f"\n{self.driver}: {self.sink.duplicates} harmless duplicates after SIGKILL, {reclaimed:.0f} reclaimed")
        self.assertLessEqual(self.sink.duplicates, reclaimed)
        self.assertLessEqual(self.sink.duplicates, 8)


class DeliverySqliteTest(DeliveryBase, unittest.TestCase):
    driver = "sqlite"


class DeliveryPostgresTest(DeliveryBase, unittest.TestCase):
    driver = "postgres"

    def test_two_daemons_share_the_work_and_deliver_nothing_twice(self):
        a = self.start()
        b = self.start()
        ids = list(range(13001, 13041))
        for n, i in enumerate(ids):
            self.post(a if n % 2 else b, order_body(i))
        self.sink.wait_for_accepted(len(ids), timeout=30)
        time.sleep(0.5)
        self.assertEqual(self.sink.duplicates, 0)
        self.assertEqual(len(self.sink.requests), len(ids))


if __name__ == "__main__":
    unittest.main()
