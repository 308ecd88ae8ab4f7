"""The `shipstation` connector end to end against tests/simulators/shipstation_sim.py
(research/erp_3pl.md section 4): orders upserted by orderKey, updates replacing the whole order,
shipped orders left alone, cancellation, Basic auth, and the 40-a-minute window read from the
X-Rate-Limit-* headers so that no 429 is provoked."""
import json
import os
import sys
import unittest

from harness import Daemon, Storage, fixture, wait_for, with_full_refund, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from shipstation_sim import ShipStationSim  # noqa: E402

SECRET = "wh-secret"
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}


def config(storage, url, per_second=50, secret="s"):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
  admin_tokens: [{{name: support, token: "viewer-token-0123456789", role: viewer}}]
log: {{level: info, format: json, access_log: false}}
{storage.config()}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]
connectors:
  - name: 3pl
    kind: shipstation
    base_url: "{url}"
    auth: {{api_key: "k", api_secret: "{secret}"}}
    store_id: 12345
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: {per_second}, burst: 5, max_in_flight: 1}}
    retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
"""


def order_body(order_id, status="processing", modified="2025-10-14T13:41:15"):
    body = with_order_id(fixture("order_simple.json"), order_id)
    body = body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())
    return body.replace(b'"status":"processing"', f'"status":"{status}"'.encode(), 1)


class ShipStationTest(unittest.TestCase):
    def start(self, **kw):
        self.sim = ShipStationSim(**kw.pop("sim", {}))
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.sim.url, **kw)).start()

    def tearDown(self):
        self.d.stop()
        self.sim.close()

    def post(self, body, topic="order.created"):
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                      headers=woo_headers(body, SECRET, topic))
        self.assertIn(status, (200, 202))

    def delivery(self, entity):
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}", headers=VIEWER)
        deliveries = json.loads(data)["deliveries"]
        return deliveries[0] if deliveries else {}

    def attempts(self, entity):
        """The lane's attempt steps of the order's timeline, oldest first."""
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}/timeline", headers=VIEWER)
        return [s for s in json.loads(data)["steps"] if s["step"] == "attempt" and s["connector"] == "3pl"]

    def createorder_calls(self):
        return [c for c in self.sim.requests if c.method == "POST" and c.path == "/orders/createorder"]

    def test_orders_are_upserted_by_order_key_and_shipped_ones_left_alone(self):
        self.start()
        self.post(order_body(41001))
        self.sim.wait_until(lambda s: "wc:main:41001" in s.orders, timeout=20)
        o = self.sim.orders["wc:main:41001"]
        self.assertEqual((o["orderNumber"], o["orderStatus"]), ("41001", "awaiting_shipment"))
        self.assertEqual(o["advancedOptions"]["storeId"], 12345)
        self.assertEqual([i["sku"] for i in o["items"]], ["POD-CER-WHT", "FLT-2-100"])
        self.assertTrue(all(i["lineItemKey"] for i in o["items"]))
        self.assertEqual(o["shipTo"]["country"], "US")
        wait_for(lambda: self.delivery("wc:main:41001").get("state") == "delivered", what="recorded")
        self.assertEqual(self.delivery("wc:main:41001")["external_id"], str(o["orderId"]))
        # An update replaces the order (same orderId): put on hold.
        self.post(order_body(41001, status="on-hold", modified="2025-10-15T08:00:00"), topic="order.updated")
        self.sim.wait_until(lambda s: s.orders["wc:main:41001"]["orderStatus"] == "on_hold", timeout=20)
        self.assertEqual(self.sim.orders["wc:main:41001"]["orderId"], o["orderId"])
        # Shipped in ShipStation: a later WooCommerce change does not touch it.
        self.sim.mark_shipped("wc:main:41001")
        self.post(order_body(41001, status="processing", modified="2025-10-16T08:00:00"), topic="order.updated")
        wait_for(lambda: self.delivery("wc:main:41001").get("events") == 3
                 and self.delivery("wc:main:41001").get("state") == "delivered", what="the third event handled")
        self.assertEqual(self.delivery("wc:main:41001")["error_class"], "duplicate")
        self.assertEqual(self.sim.orders["wc:main:41001"]["orderStatus"], "shipped")
        self.assertEqual(self.sim.status_counts().get("400", 0), 0, "no refused update was even tried")

    def test_cancellation_and_unpaid_orders(self):
        self.start()
        self.post(order_body(42001))
        self.sim.wait_until(lambda s: "wc:main:42001" in s.orders, timeout=20)
        self.post(order_body(42001, status="cancelled", modified="2025-10-15T09:00:00"), topic="order.updated")
        self.sim.wait_until(lambda s: s.orders["wc:main:42001"]["orderStatus"] == "cancelled", timeout=20)
        # An order cancelled before ShipStation ever had it is not created just to be cancelled.
        self.post(order_body(42002, status="cancelled"))
        wait_for(lambda: self.delivery("wc:main:42002").get("state") == "delivered", what="handled")
        self.assertNotIn("wc:main:42002", self.sim.orders)
        # Unpaid orders go in as awaiting_payment.
        self.post(order_body(42003, status="pending"))
        self.sim.wait_until(lambda s: "wc:main:42003" in s.orders, timeout=20)
        self.assertEqual(self.sim.orders["wc:main:42003"]["orderStatus"], "awaiting_payment")

    def test_a_full_refund_cancels_the_order_while_it_is_unshipped(self):
        self.start()
        for n in (43001, 43002):
            self.post(order_body(n))
        self.sim.wait_until(lambda s: {"wc:main:43001", "wc:main:43002"} <= set(s.orders), timeout=20)
        self.sim.mark_shipped("wc:main:43002")
        for n in (43001, 43002):
            refunded = with_full_refund(order_body(n, status="refunded", modified="2025-10-15T10:00:00"), n + 100)
            self.post(refunded, topic="order.updated")
        self.sim.wait_until(lambda s: s.orders["wc:main:43001"]["orderStatus"] == "cancelled", timeout=20)
        wait_for(lambda: self.delivery("wc:main:43002").get("events") == 2
                 and self.delivery("wc:main:43002").get("state") == "delivered", what="the refund handled")
        # Goods that have left are not cancelled: a return is a person's call.
        self.assertEqual(self.sim.orders["wc:main:43002"]["orderStatus"], "shipped")
        self.assertEqual(self.delivery("wc:main:43002")["error_class"], "duplicate")

    def test_the_rate_window_is_read_from_the_headers_and_no_429_is_provoked(self):
        self.start(sim={"limit_per_minute": 6, "window_seconds": 2})
        for i in range(43001, 43009):
            self.post(order_body(i))
        self.sim.wait_until(lambda s: len(s.orders) == 8, timeout=60)
        self.assertEqual(self.sim.status_counts().get("429", 0), 0)

    def test_wrong_credentials_are_an_auth_dead_letter(self):
        self.start(secret="wrong")
        self.post(order_body(44001))
        wait_for(lambda: self.delivery("wc:main:44001").get("state") == "dead", what="the dead letter")
        self.assertEqual((self.delivery("wc:main:44001")["error_class"], self.delivery("wc:main:44001")["http_status"]),
                         ("auth", 401))

    def test_a_validation_error_is_a_permanent_dead_letter_naming_the_field(self):
        self.start()
        refusal = {"Message": "The request is invalid.",
                   "ModelState": {"order.shipTo.postalCode": ["The postalCode field is required."],
                                  "order.items[1].quantity": ["The value '0' is not valid for quantity."]}}
        self.sim.script({"status": 400, "body": refusal, "match": {"method": "POST", "path": "/orders/createorder"}})
        self.post(order_body(45001))
        wait_for(lambda: self.delivery("wc:main:45001").get("state") == "dead", timeout=20, what="the dead letter")
        dead = self.delivery("wc:main:45001")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("permanent", 400))
        self.assertIn("The request is invalid.", dead["reason"])
        self.assertIn("order.shipTo.postalCode: The postalCode field is required.", dead["reason"])
        self.assertIn("order.items[1].quantity: The value '0' is not valid for quantity.", dead["reason"])
        self.assertEqual([c.status for c in self.createorder_calls()], [400], "dead at once, not retried")
        self.assertEqual(self.sim.orders, {})

    def test_an_order_upserted_but_never_acknowledged_is_there_once(self):
        self.start()
        # createorder is acted on, then the connection is reset: the answer is lost.
        self.sim.script({"reset": True, "commit": True, "match": {"method": "POST", "path": "/orders/createorder"}})
        self.post(order_body(46001))
        wait_for(lambda: self.delivery("wc:main:46001").get("state") == "delivered", timeout=20,
                 what="delivered after the reset")
        self.assertEqual(self.sim.pending_rules(), 0)
        self.assertEqual([c.status for c in self.createorder_calls()], ["reset", 200])
        # Exactly one ShipStation order with that orderKey (the retry upserted the same one).
        self.assertEqual(list(self.sim.orders), ["wc:main:46001"])
        o = self.sim.orders["wc:main:46001"]
        self.assertEqual((o["orderNumber"], o["orderStatus"]), ("46001", "awaiting_shipment"))
        self.assertEqual([c.body["orderKey"] for c in self.createorder_calls()], ["wc:main:46001"] * 2)
        delivery = self.delivery("wc:main:46001")
        self.assertEqual(delivery["external_id"], str(o["orderId"]))
        self.assertIsNone(delivery["error_class"])
        # The reset reached the lane as a failed attempt (the POST is not re-sent blindly by libcurl).
        failed, done = self.attempts("wc:main:46001")
        self.assertIn("transient", failed["detail"])
        self.assertIsNone(failed["http_status"])
        self.assertEqual(done["http_status"], 200)
        self.assertEqual(delivery["attempts"], 2)


if __name__ == "__main__":
    unittest.main()
