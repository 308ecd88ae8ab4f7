"""The `odoo` connector end to end against tests/simulators/odoo_sim.py (research/erp_3pl.md
section 2), over both transports: JSON-2 (real status codes) and the legacy JSON-RPC (errors inside
HTTP 200). A paid order becomes one confirmed sale.order (customer searched by email before it is
created, products by default_code, [0, 0, vals] lines, client_order_ref = the idempotency key, looked
up after an ambiguous failure); cancellation; refunds as posted credit notes; throttling, validation
and auth errors in the taxonomy; stock.quant levels polled into the shop's stock."""
import json
import os
import sys
import unittest

from harness import (Daemon, Storage, daemon_config, fixture, wait_for, with_order_id, woo_headers)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from odoo_sim import OdooSim  # noqa: E402
from shipstation_sim import ShipStationSim  # noqa: E402
from woocommerce_sim import WooCommerceSim  # noqa: E402

SECRET = "wh-secret"
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}
SKUS = ("POD-CER-WHT", "FLT-2-100", "GRD-BURR-01", "SHIP-WOO", "WOO-REFUND", "MUG-RED")


def config(storage, odoo_url, transport, woo_url=None, api_key="odoo-key", stock_poll=False,
           subscribe='["order.*", refund.created]', extra=""):
    store_api = f"""
    url: "{woo_url}"
    api:
      consumer_key: ck_test
      consumer_secret: cs_test
      rate_per_second: 50
      retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
      timeout: 2s""" if woo_url else ""
    return daemon_config(storage, f"""
inventory: {{coalesce_window: 50ms}}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]{store_api}
connectors:
  - name: odoo
    kind: odoo
    base_url: "{odoo_url}"
    transport: {transport}
    database: odoo
    auth: {{api_key: "{api_key}", username: "bot@example.com"}}
    shipping_product: SHIP-WOO
    refund_product: WOO-REFUND
    stock_poll: {{enabled: {str(stock_poll).lower()}, interval: 200ms}}
    subscribe: {subscribe}
    timeout: 2s
    rate_limit: {{per_second: 100, burst: 20, max_in_flight: 1}}
    retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
{extra}""")


def order_body(order_id, status="processing", modified="2025-10-14T13:41:15", name="order_simple.json", old_id=4101):
    body = with_order_id(fixture(name), order_id, old_id)
    body = body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())
    return body.replace(b'"status":"processing"', f'"status":"{status}"'.encode(), 1)


class OdooJson2Test(unittest.TestCase):
    transport = "json2"

    def start(self, **kw):
        self.odoo = OdooSim(products=SKUS)
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.odoo.url, self.transport, **kw)).start()

    def tearDown(self):
        self.d.stop()
        self.odoo.close()

    def post(self, body, topic="order.created"):
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                      headers=woo_headers(body, SECRET, topic))
        self.assertIn(status, (200, 202))

    def order(self, entity):
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}", headers=VIEWER)
        return json.loads(data)

    def delivery(self, entity):
        deliveries = self.order(entity)["deliveries"]
        return deliveries[0] if deliveries else {}

    def orders_with_ref(self, ref):
        return [so for so in self.odoo.sale_orders.values() if so["client_order_ref"] == ref]

    def calls(self, model, method):
        return [c for c in self.odoo.requests
                if (call := self.odoo.odoo_call(c)) and (call.model, call.method) == (model, method)]

    def test_a_paid_order_becomes_one_confirmed_sale_order(self):
        self.start()
        # An ambiguous failure: the order is created, the answer never arrives. The lane looks it up by
        # client_order_ref (Odoo does not keep it unique) and confirms the draft instead of creating another.
        self.odoo.ack_then_reset_next_sale_order()
        self.post(order_body(51001))
        wait_for(lambda: self.delivery("wc:main:51001").get("state") == "delivered", timeout=20, what="delivered")
        (so,) = self.orders_with_ref("wc:main:51001")
        self.assertEqual(so["state"], "sale")
        self.assertEqual(so["origin"], "WooCommerce #51001")
        # Sent in Odoo's UTC form (action_confirm then sets date_order to the confirmation time, as Odoo does).
        create = self.calls("sale.order", "create")[-1].body
        vals = (create["vals_list"] if "vals_list" in create else create["params"]["args"][5][0])[0]
        self.assertEqual(vals["date_order"], "2025-10-14 13:41:07")
        self.assertEqual(self.delivery("wc:main:51001")["external_id"], so["name"])
        lines = [self.odoo.sale_order_lines[i] for i in so["order_line"]]
        code = {p["id"]: p["default_code"] for p in self.odoo.products.values()}
        got = sorted((code[line["product_id"][0]], line["product_uom_qty"], line["price_unit"]) for line in lines)
        self.assertEqual(got, [("FLT-2-100", 1, 6.5), ("POD-CER-WHT", 2, 24.5), ("SHIP-WOO", 1, 7.95)])
        partner = self.odoo.partners[so["partner_id"][0]]
        self.assertEqual((partner["name"], partner["city"], partner["zip"]), ("Dana Whitfield", "New York", "10019"))
        self.assertEqual(so["partner_shipping_id"][0], partner["id"], "ships to the contact's own address")

        # A later update of the same order is the same sale.order (confirmed orders are not rewritten).
        self.post(order_body(51001, modified="2025-10-15T08:00:00"), "order.updated")
        wait_for(lambda: self.delivery("wc:main:51001").get("events") == 2 and
                 self.delivery("wc:main:51001").get("state") == "delivered", timeout=20, what="the update handled")
        self.assertEqual(self.delivery("wc:main:51001")["error_class"], "duplicate")
        self.assertEqual(len(self.orders_with_ref("wc:main:51001")), 1)

        # The same customer again: found by email, not created twice.
        self.post(order_body(51002))
        wait_for(lambda: self.delivery("wc:main:51002").get("state") == "delivered", timeout=20, what="second order")
        (so2,) = self.orders_with_ref("wc:main:51002")
        self.assertEqual(so2["partner_id"][0], partner["id"])
        self.assertEqual(len([p for p in self.odoo.partners.values() if p["email"] == partner["email"]]), 1)
        self.assertEqual(len(self.calls("sale.order", "create")), 2)

    def test_cancellation_while_nothing_was_delivered(self):
        self.start()
        for n in (52001, 52002):
            self.post(order_body(n))
        wait_for(lambda: all(self.delivery(f"wc:main:{n}").get("state") == "delivered" for n in (52001, 52002)),
                 timeout=20, what="both created")
        self.odoo.set_delivered(self.orders_with_ref("wc:main:52002")[0]["name"], status="partial")
        for n in (52001, 52002):
            self.post(order_body(n, status="cancelled", modified="2025-10-15T09:00:00"), "order.updated")
        wait_for(lambda: self.orders_with_ref("wc:main:52001")[0]["state"] == "cancel", timeout=20, what="cancelled")
        wait_for(lambda: self.delivery("wc:main:52002").get("state") == "dead", timeout=20, what="dead letter")
        self.assertEqual(self.orders_with_ref("wc:main:52002")[0]["state"], "sale")
        self.assertIn("partially delivered", self.delivery("wc:main:52002")["reason"])
        # Unpaid orders are not sent.
        self.post(order_body(52003, status="pending"))
        wait_for(lambda: self.delivery("wc:main:52003").get("state") == "delivered", timeout=20, what="handled")
        self.assertEqual(self.orders_with_ref("wc:main:52003"), [])

    def test_partial_refunds_become_posted_credit_notes_once(self):
        self.start()
        body = order_body(4110, name="order_refunds.json", old_id=4110)
        self.post(body)
        wait_for(lambda: all(d["state"] == "delivered" for r in self.order("wc:main:4110")["refunds"]
                             for d in (r["deliveries"] or [{"state": "none"}])) and
                 len(self.order("wc:main:4110")["refunds"]) == 2, timeout=30, what="refunds delivered")
        notes = sorted((m for m in self.odoo.moves.values() if m["move_type"] == "out_refund"),
                       key=lambda m: m["amount_total"])
        self.assertEqual([(m["state"], m["amount_total"]) for m in notes], [("posted", 8.66), ("posted", 26.67)])
        so = self.orders_with_ref("wc:main:4110")[0]
        self.assertTrue(all(m["invoice_origin"] == so["name"] and m["partner_id"][0] == so["partner_id"][0]
                            for m in notes))
        self.assertTrue(all(m["name"].startswith("RINV/") for m in notes))
        # The same refunds again: found by ref, nothing booked twice.
        later = body.replace(b'"date_modified_gmt":"2025-11-12T14:55:02"', b'"date_modified_gmt":"2025-11-13T08:00:00"')
        self.assertNotEqual(later, body)
        self.post(later, "order.updated")
        wait_for(lambda: self.delivery("wc:main:4110").get("events") == 2, timeout=20, what="update handled")
        self.assertEqual(len([m for m in self.odoo.moves.values() if m["move_type"] == "out_refund"]), 2)

    def test_throttling_validation_and_auth_errors(self):
        self.start()
        # The proxy in front throttles once: waited for, then delivered.
        self.odoo.script({"status": 429, "retry_after": "1", "match": {"model": "sale.order", "odoo_method": "create"}})
        self.post(order_body(53001))
        wait_for(lambda: self.delivery("wc:main:53001").get("state") == "delivered", timeout=20, what="delivered")
        self.assertEqual(len(self.orders_with_ref("wc:main:53001")), 1)
        # A SKU Odoo does not know: a dead letter that names it, nothing created.
        body = order_body(53002).replace(b'"sku":"FLT-2-100"', b'"sku":"NOT-IN-ODOO"')
        self.post(body)
        wait_for(lambda: self.delivery("wc:main:53002").get("state") == "dead", timeout=20, what="dead letter")
        d = self.delivery("wc:main:53002")
        self.assertEqual(d["error_class"], "permanent")
        self.assertIn("no product with default_code NOT-IN-ODOO", d["reason"])
        self.assertEqual(self.orders_with_ref("wc:main:53002"), [])
        # Odoo's own validation error for a create: permanent, with Odoo's words.
        self.odoo.script({"odoo_error": "ValidationError", "match": {"model": "sale.order", "odoo_method": "create"}})
        self.post(order_body(53003))
        wait_for(lambda: self.delivery("wc:main:53003").get("state") == "dead", timeout=20, what="dead letter")
        self.assertIn("ValidationError", self.delivery("wc:main:53003")["reason"])

    def test_a_wrong_api_key_is_an_auth_dead_letter(self):
        self.odoo = OdooSim(products=SKUS)
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.odoo.url, self.transport, api_key="revoked")).start()
        self.post(order_body(54001))
        wait_for(lambda: self.delivery("wc:main:54001").get("state") == "dead", timeout=20, what="dead letter")
        self.assertEqual(self.delivery("wc:main:54001")["error_class"], "auth")
        self.assertEqual(self.odoo.sale_orders, {})

    def test_stock_quants_are_polled_into_the_shop(self):
        woo = WooCommerceSim()
        self.addCleanup(woo.close)
        woo.add_product(801, "MUG-RED", stock_quantity=0)
        self.odoo = OdooSim(products=SKUS, stock={"MUG-RED": [9, 2]})
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.odoo.url, self.transport, woo_url=woo.url, stock_poll=True)).start()
        wait_for(lambda: woo.stock_of("MUG-RED") == 7, timeout=20, what="the first poll (every level) written")
        self.odoo.set_stock("MUG-RED", 15, reserved=0)
        wait_for(lambda: woo.stock_of("MUG-RED") == 15, timeout=20, what="a change written")
        polls = self.calls("stock.quant", "search_read")
        watermarked = [c for c in polls if "write_date" in json.dumps(c.body)]
        self.assertTrue(watermarked, "later polls ask only for quants changed since the watermark")
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_stock_poll_runs_total{connector="odoo",result="ok"}', metrics)


class OdooJsonRpcTest(OdooJson2Test):
    transport = "jsonrpc"

    def test_errors_inside_http_200_are_read(self):
        self.start()
        self.odoo.script({"odoo_error": "UserError", "match": {"model": "sale.order", "odoo_method": "action_confirm"}})
        self.post(order_body(55001))
        wait_for(lambda: self.delivery("wc:main:55001").get("state") == "dead", timeout=20, what="dead letter")
        d = self.delivery("wc:main:55001")
        self.assertEqual(d["error_class"], "permanent")
        self.assertIn("error inside HTTP 200", d["reason"])
        self.assertTrue(all(c.status == 200 for c in self.odoo.requests if c.path == "/jsonrpc"))


class OdooShipmentTest(unittest.TestCase):
    """A 3PL's shipments (ShipStation SHIP_NOTIFY) validate the sale order's delivery picking in Odoo:
    shipped quantities, the tracking number, the rest on a backorder; a repeat changes nothing; a voided
    label after validation is a dead letter for a person."""
    transport = "json2"

    def setUp(self):
        self.odoo = OdooSim(products=SKUS, services=("SHIP-WOO", "WOO-REFUND"))
        self.ss = ShipStationSim()
        self.storage = Storage("sqlite")
        extra = f"""  - name: 3pl
    kind: shipstation
    base_url: "{self.ss.url}"
    auth: {{api_key: "k", api_secret: "s"}}
    inbound_token: "tok-1"
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: 50, burst: 5, max_in_flight: 1}}
    retry: {{max_attempts: 6, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
"""
        self.d = Daemon(config(self.storage, self.odoo.url, self.transport,
                               subscribe='["order.*", "shipment.*"]', extra=extra)).start()
        self.hook = f"http://127.0.0.1:{self.d.port}/webhooks/3pl"

    def tearDown(self):
        self.d.stop()
        self.odoo.close()
        self.ss.close()

    def so(self, ref):
        return next(so for so in self.odoo.sale_orders.values() if so["client_order_ref"] == ref)

    def pickings_of(self, so):
        return sorted((p for p in self.odoo.pickings.values() if p["sale_id"] and p["sale_id"][0] == so["id"]),
                      key=lambda p: p["id"])

    def shipment_deliveries(self):
        _, _, data = self.d.request("GET", "/v1/orders/wc:main:56001", headers=VIEWER)
        return [d for s in json.loads(data).get("shipments", []) for d in (s.get("deliveries") or [])
                if d["connector"] == "odoo"]

    def test_shipments_validate_the_delivery_picking_with_a_backorder_for_the_rest(self):
        body = order_body(56001)
        self.assertEqual(self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                        headers=woo_headers(body, SECRET, "order.created"))[0], 202)
        key = "wc:main:56001"
        self.ss.wait_until(lambda s: key in s.orders, timeout=20, what="the order in ShipStation")
        wait_for(lambda: any(so["client_order_ref"] == key and so["state"] == "sale"
                             for so in self.odoo.sale_orders.values()), timeout=20, what="the sale.order confirmed")
        (picking,) = self.pickings_of(self.so(key))
        items = self.ss.orders[key]["items"]
        first = self.ss.ship(key, "TRACK-O-1", items=[{"lineItemKey": items[0]["lineItemKey"],
                                                        "quantity": items[0]["quantity"]}])
        self.assertEqual(self.ss.notify(self.hook, first.batch_id, token="tok-1")[0], 200)
        wait_for(lambda: self.odoo.pickings[picking["id"]]["state"] == "done", timeout=20, what="picking validated")
        done = self.odoo.pickings[picking["id"]]
        self.assertEqual(done["carrier_tracking_ref"], "TRACK-O-1")
        self.assertEqual(self.so(key)["delivery_status"], "partial")
        pickings = self.pickings_of(self.so(key))
        self.assertEqual(len(pickings), 2, "the rest waits on a backorder")
        backorder = pickings[1]
        self.assertEqual(backorder["backorder_id"][0], picking["id"])
        codes = {p["id"]: p["default_code"] for p in self.odoo.products.values()}
        rest = sorted((codes[m["product_id"][0]], m["product_uom_qty"]) for m in self.odoo.stock_moves.values()
                      if m["picking_id"] and m["picking_id"][0] == backorder["id"])
        self.assertEqual(rest, [(items[1]["sku"], items[1]["quantity"])])

        second = self.ss.ship(key, "TRACK-O-2", items=[{"lineItemKey": items[1]["lineItemKey"],
                                                         "quantity": items[1]["quantity"]}])
        self.assertEqual(self.ss.notify(self.hook, second.batch_id, token="tok-1")[0], 200)
        wait_for(lambda: self.so(key)["delivery_status"] == "full", timeout=20, what="fully delivered")
        self.assertEqual(self.odoo.pickings[backorder["id"]]["carrier_tracking_ref"], "TRACK-O-2")
        validations = len([c for c in self.odoo.requests
                           if (call := self.odoo.odoo_call(c)) and call.method == "button_validate"])
        self.assertEqual(validations, 2)

        # A voided label after validation: the goods are booked as gone, a person decides on a return.
        voided = self.ss.void(second["shipmentId"])
        self.assertEqual(self.ss.notify(self.hook, voided.batch_id, token="tok-1")[0], 200)
        wait_for(lambda: any(d["state"] == "dead" for d in self.shipment_deliveries()), timeout=20,
                 what="the void dead-lettered")
        dead = next(d for d in self.shipment_deliveries() if d["state"] == "dead")
        self.assertIn("return", dead["reason"])
        self.assertEqual(self.odoo.pickings[backorder["id"]]["state"], "done")


class OdooJsonRpcShipmentTest(OdooShipmentTest):
    transport = "jsonrpc"


if __name__ == "__main__":
    unittest.main()
