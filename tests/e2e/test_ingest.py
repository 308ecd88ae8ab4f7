"""Durable ingestion end to end on the built binary, on SQLite and on PostgreSQL: every answer code,
duplicates and stale versions, secret rotation, concurrency, held orders and the read API."""
import concurrent.futures
import json
import unittest

from harness import Daemon, Storage, fixture, sign, wait_for, with_order_id, woo_headers

SECRET = "s3cr3t&x"
OLD_SECRET = "older-secret"
TOKENS = """  admin_tokens:
    - {name: ops, token: "operator-token-0123456789", role: operator}
    - {name: support, token: "viewer-token-0123456789", role: viewer}"""
OPS = {"Authorization": "Bearer operator-token-0123456789"}
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}


def config(storage, extra_store=""):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
  max_body_bytes: 65536
{TOKENS}
log: {{level: info, format: json, access_log: false}}
{storage.config()}
stores:
  - id: main
    webhook_secrets: ["{SECRET.replace('&', '&amp;')}", "{OLD_SECRET}"]
    currencies: [USD]
{extra_store}
"""


class IngestBase:
    driver = None

    def setUp(self):
        self.storage = Storage(self.driver)
        self.d = Daemon(config(self.storage)).start()

    def tearDown(self):
        self.d.stop()

    def post(self, body, topic="order.created", secret=SECRET, store="main", headers=None):
        h = woo_headers(body, secret, topic)
        if headers is not None:
            h = headers
        status, _, data = self.d.request("POST", f"/webhooks/woocommerce/{store}", body=body, headers=h)
        return status, (json.loads(data) if data and data.startswith(b"{") else {})

    def count(self, sql):
        return int(self.storage.query(self.d, sql))

    def test_every_answer_code(self):
        simple = fixture("order_simple.json")
        # The activation ping: form body, no signature, exactly 200.
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=fixture("ping.txt"),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertEqual(self.post(simple, store="elsewhere")[0], 404)
        h = woo_headers(simple, SECRET)
        del h["X-WC-Webhook-Signature"]
        self.assertEqual(self.post(simple, headers=h)[0], 401)
        self.assertEqual(self.post(simple, secret="wrong")[0], 401)
        self.assertEqual(self.post(simple + b" ", headers=woo_headers(simple, SECRET))[0], 401)  # body changed
        status, body = self.post(simple)
        self.assertEqual((status, body["status"], body["entity_id"]), (202, "accepted", "wc:main:4101"))
        status, body = self.post(simple)  # a repeat of the same version
        self.assertEqual((status, body["status"]), (200, "duplicate"))
        status, body = self.post(fixture("order_cancelled.json"), topic="order.updated")
        self.assertEqual((status, body["status"]), (202, "accepted"))
        status, body = self.post(simple, topic="order.updated")  # older than what is stored
        self.assertEqual((status, body["status"]), (200, "stale"))
        status, body = self.post(fixture("error_object.json"))
        self.assertEqual((status, body["status"]), (200, "rejected"))
        self.assertIn("woocommerce_rest_cannot_view", body["reason"])
        status, body = self.post(simple, topic="coupon.created")
        self.assertEqual((status, body["status"]), (200, "ignored"))
        big = b'{"id":1,"pad":"' + b"x" * 70000 + b'"}'
        self.assertEqual(self.post(big)[0], 413)
        # What was stored: one order at its newest version, two events, archive without the repeat.
        self.assertEqual(self.count("SELECT count(*) FROM entities WHERE kind = 'order'"), 1)
        self.assertEqual(self.storage.query(self.d, "SELECT canonical_status FROM entities"), "cancelled")
        self.assertEqual(self.count("SELECT count(*) FROM outbox"), 2)
        self.assertEqual(self.storage.query(self.d, "SELECT type FROM outbox ORDER BY id"),
                         "order.created\norder.cancelled")
        self.assertEqual(self.count("SELECT count(*) FROM raw_deliveries"), 4)  # accepted x2, stale, rejected
        # The archived body is byte-exact.
        if self.driver == "sqlite":
            raw = self.storage.query(self.d, "SELECT hex(body) FROM raw_deliveries ORDER BY id LIMIT 1")
        else:
            raw = self.storage.query(self.d, "SELECT upper(encode(body, 'hex')) FROM raw_deliveries ORDER BY id LIMIT 1")
        self.assertEqual(bytes.fromhex(raw), simple)
        status, _, metrics = self.d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_webhooks_received_total{outcome="duplicate",store="main",topic="order.created"} 1',
                      metrics)
        self.assertIn(b'orderbridge_webhooks_rejected_total{reason="bad_signature",store="main"} 2', metrics)
        self.assertIn(b'orderbridge_webhooks_rejected_total{reason="missing_signature",store="main"} 1', metrics)
        self.assertIn(b'orderbridge_webhooks_rejected_total{reason="error_object",store="main"} 1', metrics)

    def test_secret_rotation_accepts_every_active_secret(self):
        self.assertEqual(self.post(with_order_id(fixture("order_simple.json"), 5001), secret=OLD_SECRET)[0], 202)
        self.assertEqual(self.post(with_order_id(fixture("order_simple.json"), 5002), secret=SECRET)[0], 202)
        # The configured secret is entity-encoded ("&amp;"): WooCommerce signs with the decoded one.
        self.assertEqual(self.post(with_order_id(fixture("order_simple.json"), 5003), secret="s3cr3t&amp;x")[0], 401)

    def test_concurrent_distinct_orders_are_stored_once(self):
        base = fixture("order_simple.json")
        bodies = [with_order_id(base, 700000 + i) for i in range(100)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda b: self.post(b)[0], bodies))
        self.assertEqual(results, [202] * 100)
        # Every repeat, concurrently, is a duplicate.
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            repeats = list(pool.map(lambda b: self.post(b)[1].get("status"), bodies))
        self.assertEqual(repeats, ["duplicate"] * 100)
        self.assertEqual(self.count("SELECT count(*) FROM entities WHERE kind = 'order'"), 100)
        self.assertEqual(self.count("SELECT count(*) FROM outbox"), 100)
        self.assertEqual(self.count("SELECT count(DISTINCT entity_id) FROM outbox"), 100)

    def test_held_order_waits_for_release_with_audit(self):
        eur = fixture("order_tax_inclusive.json")  # EUR, but the store accepts only USD
        status, body = self.post(eur)
        self.assertEqual((status, body["status"]), (202, "held"))
        order_id = body["entity_id"]
        self.assertEqual(self.count("SELECT count(*) FROM outbox"), 0)
        status, _, data = self.d.request("GET", f"/v1/orders/{order_id}", headers=VIEWER)
        self.assertEqual(status, 200)
        view = json.loads(data)
        self.assertTrue(view["held"])
        self.assertEqual(view["findings"][0]["rule"], "currency_not_configured")
        self.assertEqual(view["order"]["currency"], "EUR")
        status, _, data = self.d.request("GET", "/v1/orders?held=true", headers=VIEWER)
        self.assertEqual([o["entity_id"] for o in json.loads(data)["items"]], [order_id])
        # A viewer cannot act, nobody without a token can read.
        self.assertEqual(self.d.request("POST", f"/v1/orders/{order_id}/release", body=b"{}", headers=VIEWER)[0], 403)
        self.assertEqual(self.d.request("GET", "/v1/orders")[0], 401)
        self.assertEqual(self.d.request("GET", "/v1/orders", headers={"Authorization": "Bearer nope"})[0], 401)
        status, _, data = self.d.request("POST", f"/v1/orders/{order_id}/release",
                                         body=json.dumps({"reason": "EUR order approved by finance"}), headers=OPS)
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["by"], "ops")
        self.assertEqual(self.count("SELECT count(*) FROM outbox"), 1)
        self.assertEqual(self.storage.query(self.d, "SELECT actor || '|' || action || '|' || reason FROM audit"),
                         "ops|release|EUR order approved by finance")
        status, _, data = self.d.request("GET", "/v1/audit", headers=VIEWER)
        self.assertEqual(status, 200)
        audit = json.loads(data)["items"]
        self.assertEqual([(a["actor"], a["action"], a["target"], a["reason"]) for a in audit],
                         [("ops", "release", order_id, "EUR order approved by finance")])
        self.assertTrue(audit[0]["at"].endswith("Z"))
        self.assertEqual(self.d.request("POST", f"/v1/orders/{order_id}/release", headers=OPS)[0], 409)
        self.assertEqual(self.d.request("POST", "/v1/orders/wc:main:999/release", headers=OPS)[0], 404)

    def test_list_pagination_and_filters(self):
        base = fixture("order_simple.json")
        for i in range(5):
            self.assertEqual(self.post(with_order_id(base, 8000 + i))[0], 202)
        seen, cursor = [], None
        while True:
            path = "/v1/orders?limit=2" + (f"&cursor={cursor}" if cursor else "")
            status, _, data = self.d.request("GET", path, headers=VIEWER)
            self.assertEqual(status, 200)
            page = json.loads(data)
            seen += [o["entity_id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, [f"wc:main:{8000 + i}" for i in reversed(range(5))])
        status, _, data = self.d.request("GET", "/v1/orders?status=cancelled", headers=VIEWER)
        self.assertEqual(json.loads(data)["items"], [])
        status, _, data = self.d.request("GET", "/v1/orders?status=ready_to_fulfil&store=main", headers=VIEWER)
        self.assertEqual(len(json.loads(data)["items"]), 5)
        self.assertEqual(self.d.request("GET", "/v1/orders?limit=0", headers=VIEWER)[0], 400)
        self.assertEqual(self.d.request("GET", "/v1/orders/wc:main:1", headers=VIEWER)[0], 404)

    def test_a_daemon_stops_when_a_newer_one_migrates_the_database_under_it(self):
        status, _ = self.post(with_order_id(fixture("order_simple.json"), 9101))
        self.assertEqual(status, 202)
        known = int(self.storage.query(self.d, "SELECT MAX(version) FROM schema_migrations"))
        # What a newer daemon's start (or its `orderbridge migrate`) leaves behind.
        self.storage.query(self.d, "INSERT INTO schema_migrations (version, applied_at) VALUES "
                                   f"({known + 1}, '2026-11-27T10:00:00.000Z')")
        self.assertEqual(self.d.wait(timeout=30), 1)
        self.d.stop()  # collects the rest of its log
        self.assertTrue(any(r.get("msg", "").startswith("the database schema is newer than this orderbridge knows")
                            and r.get("found") == known + 1 and r.get("known") == known for r in self.d.log_records()))
        self.assertIn("stopped cleanly", [r.get("msg") for r in self.d.log_records()])
        # Started again, it refuses the schema as it does at any start.
        self.d.start(wait=False)
        self.assertEqual(self.d.wait(timeout=30), 1)
        self.d.stop()
        self.assertTrue(any("is newer than this orderbridge knows" in r.get("error", "") for r in self.d.log_records()))
        self.assertEqual(self.count("SELECT COUNT(*) FROM entities WHERE entity_id = 'wc:main:9101'"), 1)


class IngestSqliteTest(IngestBase, unittest.TestCase):
    driver = "sqlite"


class IngestPostgresTest(IngestBase, unittest.TestCase):
    driver = "postgres"


if __name__ == "__main__":
    unittest.main()
