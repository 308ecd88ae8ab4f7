"""The `shipbob` connector end to end against tests/simulators/shipbob_sim.py (research/erp_3pl.md
section 5): orders created by reference_id (a 422 duplicate means it exists, and an order created
but never acknowledged is found, not created twice), cancellation while nothing has shipped, and
ShipBob's webhooks back (Standard Webhooks signature, events out of order ordered by event time)
completing the order in the WooCommerce simulator."""
import datetime
import json
import os
import sys
import unittest

from harness import Daemon, Storage, daemon_config, fixture, wait_for, with_full_refund, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from shipbob_sim import ShipBobSim  # noqa: E402
from woocommerce_sim import WooCommerceSim  # noqa: E402

SECRET = "wh-secret"
SIGNING = "whsec_" + "c2hpcGJvYi1zaWduaW5nLWtleS0wMTIzNDU2Nzg5"  # base64 of a test key
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}


def config(storage, sb_url, woo_url, token="pat-test", extra=""):
    return daemon_config(storage, f"""
stores:
  - id: main
    url: "{woo_url}"
    webhook_secrets: ["{SECRET}"]
    api: {{consumer_key: ck_test, consumer_secret: cs_test, rate_per_second: 50}}
connectors:
  - name: fulfil
    kind: shipbob
    base_url: "{sb_url}"
    auth: {{token: "{token}"}}
    channel_id: 1234
    shipping_method: Standard
    webhook_secret: "{SIGNING}"
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: 50, burst: 10, max_in_flight: 1}}
    retry: {{max_attempts: 8, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
{extra}""")


def order_body(order_id, status="processing", modified="2025-10-14T13:41:15"):
    body = with_order_id(fixture("order_simple.json"), order_id)
    body = body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())
    return body.replace(b'"status":"processing"', f'"status":"{status}"'.encode(), 1)


class ShipBobTest(unittest.TestCase):
    def setUp(self):
        self.sb = ShipBobSim(webhook_secret=SIGNING)
        self.woo = WooCommerceSim()
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.sb.url, self.woo.url)).start()
        self.sb.subscribe(f"http://127.0.0.1:{self.d.port}/webhooks/fulfil",
                          ["order.shipped", "order.shipment.delivered", "order.shipment.cancelled"])

    def tearDown(self):
        self.d.stop()
        self.sb.close()
        self.woo.close()

    def post(self, body, topic="order.created"):
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                      headers=woo_headers(body, SECRET, topic))
        self.assertIn(status, (200, 202))

    def deliveries(self, entity):
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}", headers=VIEWER)
        return json.loads(data)["deliveries"]

    def attempts(self, entity):
        """The ShipBob lane's attempt steps of the order's timeline, oldest first."""
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}/timeline", headers=VIEWER)
        return [s for s in json.loads(data)["steps"] if s["step"] == "attempt" and s["connector"] == "fulfil"]

    def lane(self):
        _, _, data = self.d.request("GET", "/v1/connectors", headers=VIEWER)
        return next(lane for lane in json.loads(data)["items"] if lane["name"] == "fulfil")

    def order_posts(self):
        return [c for c in self.sb.requests if c.method == "POST" and c.path == "/2025-07/order"]

    def dead(self, entity):
        wait_for(lambda: self.deliveries(entity) and self.deliveries(entity)[0]["state"] == "dead", timeout=20,
                 what="the dead letter")
        return self.deliveries(entity)[0]

    def test_orders_are_created_once_by_reference_id(self):
        self.sb.script({"reset": True, "commit": True, "match": {"method": "POST", "path_prefix": "/2025-07/order"}})
        self.post(order_body(61001))
        self.sb.wait_until(lambda s: "wc:main:61001" in s.orders, timeout=20, what="the order in ShipBob")
        wait_for(lambda: self.deliveries("wc:main:61001")[0]["state"] == "delivered", what="delivered")
        o = self.sb.orders["wc:main:61001"]
        self.assertEqual(o["order_number"], "61001")
        self.assertEqual([p["reference_id"] for p in o["products"]], ["POD-CER-WHT", "FLT-2-100"])
        self.assertEqual(o["recipient"]["address"]["country"], "US")
        # A later update of the same order: ShipBob answers 422 Duplicate reference ID, which is success.
        self.post(order_body(61001, modified="2025-10-14T14:00:00"), "order.updated")
        wait_for(lambda: self.deliveries("wc:main:61001")[0]["events"] == 2 and
                 self.deliveries("wc:main:61001")[0]["state"] == "delivered", what="the update delivered")
        self.assertEqual(len(self.sb.orders), 1)
        posts = [c for c in self.sb.requests if c.method == "POST" and c.path.endswith("/order")]
        self.assertEqual([c.status for c in posts], ["reset", 422])

    def test_a_cancelled_order_is_cancelled_while_nothing_has_shipped(self):
        self.post(order_body(61002))
        self.sb.wait_until(lambda s: "wc:main:61002" in s.orders, timeout=20, what="the order in ShipBob")
        self.post(order_body(61002, status="cancelled", modified="2025-10-15T08:00:00"), "order.updated")
        self.sb.wait_until(lambda s: s.orders["wc:main:61002"]["status"] == "Cancelled", timeout=20, what="cancelled")

    def test_a_full_refund_cancels_the_order_while_nothing_has_shipped(self):
        self.post(order_body(61003))
        self.sb.wait_until(lambda s: "wc:main:61003" in s.orders, timeout=20, what="the order in ShipBob")
        refunded = with_full_refund(order_body(61003, status="refunded", modified="2025-10-15T08:00:00"), 61004)
        self.post(refunded, "order.updated")
        self.sb.wait_until(lambda s: s.orders["wc:main:61003"]["status"] == "Cancelled", timeout=20, what="cancelled")

    def test_shipments_come_back_signed_and_in_event_time_order(self):
        self.woo.add_order(61003, status="processing")
        self.post(order_body(61003))
        self.sb.wait_until(lambda s: "wc:main:61003" in s.orders, timeout=20, what="the order in ShipBob")
        wait_for(lambda: self.deliveries("wc:main:61003")[0]["state"] == "delivered", what="delivered")
        # Shipped, then delivered; ShipBob sends them the other way round.
        self.sb.hold_events()
        self.sb.ship("wc:main:61003", "9400111899223", carrier="USPS", carrier_service="Priority")
        self.sb.deliver("wc:main:61003")
        self.sb.release_events(order="reverse")
        self.assertEqual([c.status for c in self.sb.webhook_log], [200, 200])
        wait_for(lambda: self.woo.order_status(61003) == "completed", timeout=20, what="the order completed")
        notes = [n["note"] for n in self.woo.order_notes(61003) if not n["note"].startswith("Order status changed")]
        self.assertEqual(len(notes), 1, notes)
        self.assertIn("9400111899223", notes[0])
        # The older event (shipped) arrived last and was recorded, not applied.
        _, _, data = self.d.request("GET", "/v1/orders/wc:main:61003", headers=VIEWER)
        shipments = json.loads(data)["shipments"]
        self.assertEqual([s["status"] for s in shipments], ["delivered"])
        # A retry of the same event adds nothing; a forged one is refused.
        self.assertEqual(self.sb.resend(self.sb.events[-1])[0].status, 200)
        status, _, _ = self.d.request("POST", "/webhooks/fulfil", body=b'{"reference_id":"wc:main:61003"}',
                                      headers={"webhook-id": "msg_x", "webhook-timestamp": "1",
                                               "webhook-signature": "v1,AAAA", "x-webhook-topic": "order.shipped"})
        self.assertEqual(status, 401)

    def test_a_429_is_waited_out_for_its_x_retry_after_and_the_order_created_once(self):
        self.sb.script({"status": 429, "retry_after": 1, "match": {"method": "POST", "path": "/2025-07/order"}})
        self.post(order_body(61101))
        wait_for(lambda: self.deliveries("wc:main:61101") and self.deliveries("wc:main:61101")[0]["state"] ==
                 "delivered", timeout=20, what="delivered after the 429")
        delivery = self.deliveries("wc:main:61101")[0]
        self.assertIsNone(delivery["error_class"], "created, not found as a duplicate")
        self.assertEqual(delivery["external_id"], str(self.sb.orders["wc:main:61101"]["id"]))
        self.assertEqual(delivery["attempts"], 1, "throttling does not use up attempts")
        self.assertEqual(list(self.sb.orders), ["wc:main:61101"])
        self.assertEqual([c.status for c in self.order_posts()], [429, 201])
        throttled, created = self.attempts("wc:main:61101")
        self.assertEqual((throttled["http_status"], created["http_status"]), (429, 201))
        self.assertIn("throttled", throttled["detail"])
        # The lane waited the x-retry-after second (retry.max_backoff is 300ms, so only the header explains it).
        at = [datetime.datetime.strptime(s["at"], "%Y-%m-%dT%H:%M:%S.%fZ") for s in (throttled, created)]
        self.assertGreaterEqual((at[1] - at[0]).total_seconds(), 0.95)

    def test_a_validation_error_is_a_permanent_dead_letter_in_shipbobs_words(self):
        # No city in the shipping address: ShipBob's 400 names the field (not the duplicate 422).
        shipping_city = b'"city":"New York","state":"NY","postcode":"10019","country":"US","phone"'
        body = order_body(61102)
        self.assertEqual(body.count(shipping_city), 1)
        self.post(body.replace(shipping_city, shipping_city.replace(b"New York", b"")))
        dead = self.dead("wc:main:61102")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("permanent", 400))
        self.assertIn("One or more validation errors occurred.", dead["reason"])
        self.assertIn("recipient.address.city", dead["reason"])
        self.assertIn("The city field is required.", dead["reason"])
        self.assertEqual(self.sb.orders, {})
        self.assertEqual([c.status for c in self.order_posts()], [400], "dead at once, not retried")

    def test_a_422_that_is_not_the_duplicate_answer_is_permanent(self):
        refusal = {"type": "https://tools.ietf.org/html/rfc4918#section-11.2", "title": "Unprocessable Entity",
                   "status": 422, "errors": {"products[1].reference_id": ["Product FLT-2-100 is inactive."]}}
        self.sb.script({"status": 422, "body": refusal, "match": {"method": "POST", "path": "/2025-07/order"}})
        self.post(order_body(61103))
        dead = self.dead("wc:main:61103")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("permanent", 422))
        self.assertIn("products[1].reference_id: Product FLT-2-100 is inactive.", dead["reason"])
        self.assertEqual(self.sb.orders, {})
        self.assertEqual([c.status for c in self.order_posts()], [422])

    def test_a_wrong_token_is_an_auth_dead_letter_and_nothing_is_created(self):
        self.d.stop()
        self.d = Daemon(config(Storage("sqlite"), self.sb.url, self.woo.url, token="pat-revoked")).start()
        self.post(order_body(61104))
        dead = self.dead("wc:main:61104")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("auth", 401))
        self.assertIn("Access token is missing or invalid", dead["reason"])
        self.assertEqual(self.sb.orders, {})
        self.assertEqual([c.status for c in self.order_posts()], [401], "dead at once, not retried")
        lane = self.lane()
        self.assertTrue(lane["auth_failed"])
        self.assertFalse(lane["healthy"])


class ShipBobStockTest(unittest.TestCase):
    """ShipBob's sellable stock polled into the shop (`stock_poll`, research/erp_3pl.md 5.5)."""

    def test_sellable_stock_is_polled_into_the_shop(self):
        sb = ShipBobSim(inventory={"MUG-RED": (40, 3, 2), "TEE-M": 7})
        woo = WooCommerceSim()
        self.addCleanup(sb.close)
        self.addCleanup(woo.close)
        woo.add_product(901, "MUG-RED", stock_quantity=0)
        woo.add_product(902, "TEE-M", stock_quantity=0)
        # More items than one page holds, so the poll must follow the pages.
        for n in range(260):
            sb.set_inventory(f"BULK-{n:03d}", 1)
        d = Daemon(config(Storage("sqlite"), sb.url, woo.url,
                          extra="    stock_poll: {enabled: true, interval: 200ms}\n")).start()
        self.addCleanup(d.stop)
        # Sellable = on hand - committed - exceptions.
        wait_for(lambda: woo.stock_of("MUG-RED") == 35 and woo.stock_of("TEE-M") == 7, timeout=20,
                 what="ShipBob's sellable stock in the shop")
        sb.set_inventory("MUG-RED", 40, committed=10)
        wait_for(lambda: woo.stock_of("MUG-RED") == 30, timeout=20, what="a change polled")
        pages = {c.query.get("Page") for c in sb.requests if c.path.lower().endswith("/inventory-level")}
        self.assertIn("2", pages, "the second page was read")
        _, _, metrics = d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_stock_poll_runs_total{connector="fulfil",result="ok"}', metrics)


if __name__ == "__main__":
    unittest.main()
