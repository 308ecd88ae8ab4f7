"""What flows back into WooCommerce, end to end on the built binary with the simulators
(research/erp_3pl.md 1.7, 1.10, 4.5; research/woocommerce.md 3.1-3.3):

- a WooCommerce order reaches ShipStation; a label made there comes back as SHIP_NOTIFY, the shipments
  are fetched from ShipStation, and the store's implicit `woo:main` lane (OAuth 1.0a over plain http)
  adds the tracking note and completes the order; a partial shipment only adds a note; a voided label
  reopens the order;
- SHIP_NOTIFY without the connector's token is refused, and a resource_url on another host is never fetched;
- stock levels pushed to POST /v1/inventory (two locations) and an ERPNext Bin webhook (signed) end as
  the summed stock_quantity in the store, through the batch endpoints, variations included."""
import json
import os
import re
import sys
import unittest

from harness import Daemon, Storage, daemon_config, fixture, wait_for, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from erpnext_sim import ErpNextSim  # noqa: E402
from shipstation_sim import ShipStationSim  # noqa: E402
from woocommerce_sim import WooCommerceSim  # noqa: E402

SECRET = "wh-secret"
OPERATOR = {"Authorization": "Bearer operator-token-0123456789", "Content-Type": "application/json"}
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}
TOKEN = "inbound-token-42"
BIN_SECRET = "bin-secret"


def config(storage, woo_url, ss_url, erp_url, erp_subscribe="[]", erp_extra=""):
    return daemon_config(storage, f"""
inventory: {{coalesce_window: 50ms}}
stores:
  - id: main
    url: "{woo_url}"
    webhook_secrets: ["{SECRET}"]
    api:
      consumer_key: ck_test
      consumer_secret: cs_test
      rate_per_second: 50
      retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
      timeout: 2s
connectors:
  - name: 3pl
    kind: shipstation
    base_url: "{ss_url}"
    auth: {{api_key: "k", api_secret: "s"}}
    inbound_token: "{TOKEN}"
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: 50, burst: 5, max_in_flight: 1}}
    retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
  - name: erp
    kind: erpnext
    base_url: "{erp_url}"
    auth: {{api_key: "k", api_secret: "s"}}
    webhook_secret: "{BIN_SECRET}"
    subscribe: {erp_subscribe}
    company: "Acme Ltd"
    warehouse: "Stores - ACME"
    timeout: 2s
    retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
{erp_extra}""", operator=True)


def order_body(order_id):
    return with_order_id(fixture("order_simple.json"), order_id)


class FlowBackTest(unittest.TestCase):
    erp_config = {}

    def setUp(self):
        self.woo = WooCommerceSim()
        self.ss = ShipStationSim()
        self.erp = ErpNextSim(items=("POD-CER-WHT", "FLT-2-100", "MUG-RED"), warehouses=("Stores - ACME", "Backroom - ACME"))
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.woo.url, self.ss.url, self.erp.url, **self.erp_config)).start()
        self.hook = f"http://127.0.0.1:{self.d.port}/webhooks/3pl"

    def tearDown(self):
        self.d.stop()
        for sim in (self.woo, self.ss, self.erp):
            sim.close()

    def place_order(self, order_id):
        body = order_body(order_id)
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                      headers=woo_headers(body, SECRET, "order.created"))
        self.assertEqual(status, 202)
        key = f"wc:main:{order_id}"
        self.ss.wait_until(lambda s: key in s.orders, timeout=20, what="the order in ShipStation")
        self.woo.add_order(order_id, status="processing")
        return key

    def notes(self, order_id):
        """The order's notes without the ones WooCommerce adds itself on a status change."""
        return [n for n in self.woo.order_notes(order_id) if not n["note"].startswith("Order status changed")]

    def test_a_shipment_completes_the_order_with_its_tracking_note(self):
        key = self.place_order(52001)
        shipment = self.ss.ship(key, "1Z999AA10123456784", carrier_code="ups", service_code="ups_ground")
        status, body = self.ss.notify(self.hook, shipment.batch_id, token=TOKEN)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["shipments"], 1)
        wait_for(lambda: self.woo.order_status(52001) == "completed", timeout=20, what="order completed")
        notes = self.notes(52001)
        self.assertEqual(len(notes), 1, notes)
        # The order's timeline shows the shipment and what was written back, after the delivery to ShipStation.
        # (the attempt is recorded just after WooCommerce answered)
        def timeline():
            return json.loads(self.d.request("GET", f"/v1/orders/{key}/timeline", headers=VIEWER)[2])["steps"]
        wait_for(lambda: "writeback" in [s["step"] for s in timeline()], timeout=10, what="the writeback step")
        steps = timeline()
        names = [s["step"] for s in steps]
        self.assertIn("shipment", names)
        self.assertIn("writeback", names)
        self.assertLess(names.index("delivered"), names.index("shipment"))
        self.assertLess(names.index("shipment"), names.index("writeback"))
        writeback = steps[names.index("writeback")]
        self.assertEqual(writeback["connector"], "woo:main")
        self.assertIn("completed", writeback["detail"])
        self.assertIn("1Z999AA10123456784", steps[names.index("shipment")]["detail"])
        _, _, metrics = self.d.request("GET", "/metrics")
        for series in (b'orderbridge_order_shipped_seconds_count{store="main"} 1',
                       b'orderbridge_fulfilment_ack_seconds_count{connector="3pl"} 1',
                       b'orderbridge_webhook_last_received_timestamp_seconds{store="main",topic="order.created"}'):
            self.assertIn(series, metrics)
        self.assertIn("1Z999AA10123456784", notes[0]["note"])
        self.assertIn("ups", notes[0]["note"])
        self.assertTrue(notes[0]["customer_note"])
        # Over plain http the lane signs with OAuth 1.0a (Basic would be ignored by WordPress).
        woo_calls = [c for c in self.woo.requests if c.path.startswith("/wp-json/wc/v3/orders/52001")]
        self.assertTrue(woo_calls)
        self.assertTrue(all(c.status in (200, 201) for c in woo_calls), [c.status for c in woo_calls])

        # The same notification again changes nothing: no second note.
        status, _ = self.ss.notify(self.hook, shipment.batch_id, token=TOKEN)
        self.assertEqual(status, 200)
        self.assertEqual(len(self.notes(52001)), 1)

        # A voided label reopens the order with a private note.
        voided = self.ss.void(shipment["shipmentId"])
        status, _ = self.ss.notify(self.hook, voided.batch_id, token=TOKEN)
        self.assertEqual(status, 200)
        wait_for(lambda: self.woo.order_status(52001) == "processing", timeout=20, what="order reopened")
        notes = self.notes(52001)
        self.assertEqual(len(notes), 2)
        self.assertIn("voided", notes[1]["note"])
        self.assertFalse(notes[1]["customer_note"])

    def test_a_partial_shipment_adds_a_note_and_the_rest_completes(self):
        key = self.place_order(52002)
        first_item = self.ss.orders[key]["items"][0]
        part = self.ss.ship(key, "TRACK-PART-1", items=[{"lineItemKey": first_item["lineItemKey"],
                                                        "quantity": first_item["quantity"]}])
        self.assertEqual(self.ss.notify(self.hook, part.batch_id, token=TOKEN)[0], 200)
        wait_for(lambda: len(self.notes(52002)) == 1, timeout=20, what="the partial note")
        self.assertIn("Part of your order", self.notes(52002)[0]["note"])
        self.assertEqual(self.woo.order_status(52002), "processing")

        rest = [{"lineItemKey": i["lineItemKey"], "quantity": i["quantity"]} for i in self.ss.orders[key]["items"][1:]]
        second = self.ss.ship(key, "TRACK-PART-2", items=rest)
        self.assertEqual(self.ss.notify(self.hook, second.batch_id, token=TOKEN)[0], 200)
        wait_for(lambda: self.woo.order_status(52002) == "completed", timeout=20, what="order completed")
        self.assertIn("TRACK-PART-2", self.notes(52002)[1]["note"])

    def test_notifications_without_the_token_or_from_another_host_are_refused(self):
        key = self.place_order(52003)
        shipment = self.ss.ship(key, "TRACK-X")
        self.assertEqual(self.ss.notify(self.hook, shipment.batch_id, token="wrong")[0], 401)
        self.assertEqual(self.ss.notify(self.hook, shipment.batch_id)[0], 401)
        foreign = json.dumps({"resource_url": f"{self.woo.url}/shipments?batchId=1",
                              "resource_type": "SHIP_NOTIFY"}).encode()
        status, _, _ = self.d.request("POST", f"/webhooks/3pl?token={TOKEN}", body=foreign,
                                      headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertFalse([c for c in self.woo.requests if c.path.startswith("/shipments")])
        status, _, _ = self.d.request("POST", "/webhooks/nope", body=b"{}")
        self.assertEqual(status, 404)

    def test_the_write_back_lane_can_be_paused_by_its_name(self):
        self.woo.add_product(711, "CUP-BLUE", stock_quantity=0)
        lane = "/v1/connectors/woo:main"
        self.assertEqual(self.d.request("POST", f"{lane}/pause", body=b'{"reason":"shop maintenance"}',
                                        headers=OPERATOR)[0], 200)
        level = {"levels": [{"sku": "CUP-BLUE", "location": "east", "on_hand": 4, "available": 4,
                             "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]}
        self.assertEqual(self.d.request("POST", "/v1/inventory", body=json.dumps(level).encode(),
                                        headers=OPERATOR)[0], 202)
        _, _, data = self.d.request("GET", "/v1/connectors", headers=VIEWER)
        woo = [l for l in json.loads(data)["items"] if l["name"] == "woo:main"][0]
        self.assertTrue(woo["paused"])
        wait_for(lambda: [l for l in json.loads(self.d.request("GET", "/v1/connectors", headers=VIEWER)[2])["items"]
                          if l["name"] == "woo:main"][0]["backlog"] == 1, what="the write waiting")
        self.assertEqual(self.woo.stock_of("CUP-BLUE"), 0)
        self.assertEqual(self.d.request("POST", "/v1/connectors/woo%3Amain/resume", body=b'{"reason":"done"}',
                                        headers=OPERATOR)[0], 200)
        wait_for(lambda: self.woo.stock_of("CUP-BLUE") == 4, timeout=20, what="the write after resume")

    def test_stock_levels_reach_the_store_summed_over_locations(self):
        self.woo.add_product(701, "MUG-RED", stock_quantity=0)
        self.woo.add_product(702, "TEE", stock_quantity=0, manage_stock=False, type="variable")
        self.woo.add_variation(702, 7021, "TEE-M", stock_quantity=1)
        levels = {"levels": [
            {"sku": "MUG-RED", "location": "east", "on_hand": 7, "available": 5, "reserved": 2,
             "as_of": "2026-11-20T10:00:00Z", "source": "wms"},
            {"sku": "MUG-RED", "location": "west", "on_hand": 3, "available": 3, "as_of": "2026-11-20T10:00:01Z",
             "source": "wms"},
            {"sku": "TEE-M", "location": "east", "on_hand": 9, "available": 9, "as_of": "2026-11-20T10:00:00Z",
             "source": "wms"},
            {"sku": "NOT-IN-SHOP", "location": "east", "on_hand": 1, "available": 1,
             "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]}
        status, _, _ = self.d.request("POST", "/v1/inventory", body=json.dumps(levels).encode(), headers=OPERATOR)
        self.assertEqual(status, 202)
        wait_for(lambda: self.woo.stock_of("MUG-RED") == 8 and self.woo.stock_of("TEE-M") == 9, timeout=20,
                 what="stock written")
        batches = [c for c in self.woo.requests if c.method == "POST" and c.path.endswith("/batch")]
        self.assertTrue(any(c.path == "/wp-json/wc/v3/products/batch" for c in batches))
        self.assertTrue(any(c.path == "/wp-json/wc/v3/products/702/variations/batch" for c in batches))

        # An older level for a location changes nothing; bad levels are refused with every problem named.
        stale = {"levels": [{"sku": "MUG-RED", "location": "west", "on_hand": 0, "available": 0,
                             "as_of": "2026-11-19T00:00:00Z", "source": "wms"}]}
        self.assertEqual(self.d.request("POST", "/v1/inventory", body=json.dumps(stale).encode(),
                                        headers=OPERATOR)[0], 202)
        bad = {"levels": [{"sku": "", "on_hand": "x", "available": 1, "as_of": "yesterday", "source": "wms"}]}
        status, _, data = self.d.request("POST", "/v1/inventory", body=json.dumps(bad).encode(), headers=OPERATOR)
        self.assertEqual(status, 400)
        message = json.loads(data)["error"]["message"]
        for part in ("levels[0].sku", "levels[0].on_hand", "levels[0].as_of"):
            self.assertIn(part, message)
        self.assertEqual(self.d.request("POST", "/v1/inventory", body=json.dumps(stale).encode(),
                                        headers=dict(VIEWER, **{"Content-Type": "application/json"}))[0], 403)

        # A stock change in the ERP (Bin webhook, signed) reaches the store too.
        self.erp.configure_stock_webhook(f"http://127.0.0.1:{self.d.port}/webhooks/erp", BIN_SECRET)
        self.erp.set_stock("MUG-RED", "Stores - ACME", 20, reserved_qty=4)
        self.assertEqual(self.erp.webhook_log[-1].status, 200)
        wait_for(lambda: self.woo.stock_of("MUG-RED") == 24, timeout=20, what="ERP stock written")
        self.assertEqual(self.woo.stock_of("MUG-RED"), 5 + 3 + 16)
        _, _, metrics = self.d.request("GET", "/metrics")
        # The series exists from the start: its count says the writes were measured.
        count = re.search(rb'orderbridge_inventory_sync_delay_seconds_count\{connector="woo:main"\} (\S+)', metrics)
        self.assertIsNotNone(count)
        self.assertGreaterEqual(float(count.group(1)), 2)

        # A Bin webhook with a wrong signature is refused.
        self.erp.configure_stock_webhook(f"http://127.0.0.1:{self.d.port}/webhooks/erp", "other-secret")
        self.erp.set_stock("MUG-RED", "Stores - ACME", 1)
        self.assertEqual(self.erp.webhook_log[-1].status, 401)


class ErpShipmentsTest(FlowBackTest):
    """What a 3PL ships reaches ERPNext as Delivery Notes (subscribe `shipment.*`), and ERPNext's stock
    can be polled instead of pushed (`stock_poll`)."""
    erp_config = {"erp_subscribe": '["order.*", "shipment.*"]',
                  "erp_extra": "    stock_poll: {enabled: true, interval: 200ms}"}

    def so(self, key):
        sos = [so for so in self.erp.sales_orders.values() if so["po_no"] == key and so["docstatus"] == 1]
        return sos[0] if sos else None

    def notes_of(self, key):
        return [dn for dn in self.erp.delivery_notes_by_name.values() if dn.get("po_no") == key]

    def test_shipments_become_delivery_notes_and_a_voided_label_cancels_its_note(self):
        key = self.place_order(52101)
        self.erp.wait_until(lambda e: self.so(key) is not None, timeout=20)
        first_item = self.ss.orders[key]["items"][0]
        # The first Delivery Note is inserted and submitted, then the connection is reset: looked up by
        # po_no + lr_no, not made twice (a blind retry would over-deliver).
        self.erp.ack_then_reset_next_delivery_note()
        part = self.ss.ship(key, "TRACK-DN-1", items=[{"lineItemKey": first_item["lineItemKey"],
                                                       "quantity": first_item["quantity"]}])
        self.assertEqual(self.ss.notify(self.hook, part.batch_id, token=TOKEN)[0], 200)
        self.erp.wait_until(lambda e: self.so(key)["delivery_status"] == "Partly Delivered", timeout=20)
        (dn,) = self.notes_of(key)
        self.assertEqual((dn["docstatus"], dn["lr_no"]), (1, "TRACK-DN-1"))
        self.assertEqual([(i["item_code"], i["qty"]) for i in dn["items"]], [(first_item["sku"], first_item["quantity"])])
        self.assertTrue(all(i["against_sales_order"] == self.so(key)["name"] for i in dn["items"]))

        rest = [{"lineItemKey": i["lineItemKey"], "quantity": i["quantity"]} for i in self.ss.orders[key]["items"][1:]]
        second = self.ss.ship(key, "TRACK-DN-2", items=rest)
        self.assertEqual(self.ss.notify(self.hook, second.batch_id, token=TOKEN)[0], 200)
        self.erp.wait_until(lambda e: self.so(key)["delivery_status"] == "Fully Delivered", timeout=20)
        self.assertEqual(self.so(key)["status"], "To Bill")
        self.assertEqual(len([so for so in self.erp.sales_orders.values() if so["po_no"] == key]), 1,
                         "the order reached ERPNext once")
        wait_for(lambda: self.woo.order_status(52101) == "completed", timeout=20, what="the shop's order completed")

        # The second label is voided: its Delivery Note is cancelled, the order partly delivered again.
        voided = self.ss.void(second["shipmentId"])
        self.assertEqual(self.ss.notify(self.hook, voided.batch_id, token=TOKEN)[0], 200)
        self.erp.wait_until(lambda e: self.so(key)["delivery_status"] == "Partly Delivered", timeout=20)
        states = sorted((dn["lr_no"], dn["docstatus"]) for dn in self.notes_of(key))
        self.assertEqual(states, [("TRACK-DN-1", 1), ("TRACK-DN-2", 2)])

    def test_erp_stock_is_polled_into_the_shop(self):
        self.woo.add_product(711, "MUG-RED", stock_quantity=0)
        self.erp.set_stock("MUG-RED", "Stores - ACME", 12, reserved_qty=2)
        self.erp.set_stock("MUG-RED", "Backroom - ACME", 3)
        wait_for(lambda: self.woo.stock_of("MUG-RED") == 13, timeout=20, what="polled stock written")
        self.erp.set_stock("MUG-RED", "Backroom - ACME", 8)
        wait_for(lambda: self.woo.stock_of("MUG-RED") == 18, timeout=20, what="a change polled")
        bin_lists = [c for c in self.erp.requests if c.method == "GET" and c.path == "/api/resource/Bin"]
        self.assertTrue(any("modified" in (c.query.get("filters") or "") for c in bin_lists))
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_stock_poll_runs_total{connector="erp",result="ok"}', metrics)


if __name__ == "__main__":
    unittest.main()
