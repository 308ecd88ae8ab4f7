"""The `erpnext` connector end to end against tests/simulators/erpnext_sim.py (research/erp_3pl.md
section 1): a paid order becomes one submitted Sales Order keyed by po_no, with the customer found
by email before one is created; a 417 validation error (double-encoded `_server_messages`) is a
dead letter with ERPNext's words; an order created but never acknowledged (connection reset) is
found by po_no instead of created twice; 429 with Retry-After is waited out; cancellations cancel
while nothing was delivered; unpaid orders are not sent."""
import json
import os
import sys
import unittest

from harness import Daemon, Storage, fixture, wait_for, with_order_id, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from erpnext_sim import ErpNextSim  # noqa: E402

SECRET = "wh-secret"
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}
SKUS = ("POD-CER-WHT", "FLT-2-100")


def config(storage, erp_url, subscribe='["order.*"]', extra="", api_secret="s"):
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
  - name: erp
    kind: erpnext
    base_url: "{erp_url}"
    auth: {{api_key: "k", api_secret: "{api_secret}"}}
    subscribe: {subscribe}
    company: "Acme Ltd"
    warehouse: "Stores - ACME"
    delivery_days: 3
    shipping_account: "Freight - ACME"
    timeout: 1s
    retry: {{max_attempts: 10, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
{extra}"""


def order_body(order_id, status="processing", modified="2025-10-14T13:41:15"):
    body = with_order_id(fixture("order_simple.json"), order_id)
    body = body.replace(b'"date_modified_gmt":"2025-10-14T13:41:15"', f'"date_modified_gmt":"{modified}"'.encode())
    return body.replace(b'"status":"processing"', f'"status":"{status}"'.encode(), 1)


class ErpNextTest(unittest.TestCase):
    def setUp(self):
        self.erp = ErpNextSim(items=SKUS, currency="USD")
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.erp.url)).start()

    def tearDown(self):
        self.d.stop()
        self.erp.close()

    def post(self, body, topic="order.created"):
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                      headers=woo_headers(body, SECRET, topic))
        self.assertIn(status, (200, 202))

    def orders_for(self, key):
        return [so for so in self.erp.sales_orders.values() if so.get("po_no") == key]

    def delivery_state(self, entity):
        _, _, data = self.d.request("GET", f"/v1/orders/{entity}", headers=VIEWER)
        deliveries = json.loads(data)["deliveries"]
        return deliveries[0] if deliveries else None

    def test_a_paid_order_becomes_one_submitted_sales_order_and_customers_are_not_duplicated(self):
        self.post(order_body(31001))
        self.erp.wait_until(lambda e: any(so["docstatus"] == 1 for so in e.sales_orders.values()), timeout=20)
        [so] = self.orders_for("wc:main:31001")
        self.assertEqual((so["docstatus"], so["company"], so["set_warehouse"]), (1, "Acme Ltd", "Stores - ACME"))
        self.assertEqual([i["item_code"] for i in so["items"]], list(SKUS))
        self.assertEqual((so["transaction_date"], so["delivery_date"]), ("2025-10-14", "2025-10-17"))
        self.assertIn("Freight - ACME", [t["account_head"] for t in so.get("taxes", [])])
        # The same buyer again: found by email, not created a second time (ERPNext would rename it).
        self.post(order_body(31002))
        self.erp.wait_until(lambda e: len([s for s in e.sales_orders.values() if s["docstatus"] == 1]) == 2, timeout=20)
        self.assertEqual(len(self.erp.customers), 1)
        self.assertEqual(self.orders_for("wc:main:31002")[0]["customer"], so["customer"])
        wait_for(lambda: (self.delivery_state("wc:main:31002") or {}).get("state") == "delivered", what="recorded")
        self.assertEqual(self.delivery_state("wc:main:31002")["external_id"], self.orders_for("wc:main:31002")[0]["name"])
        # A repeat of the same event (replay) finds the submitted order: no second Sales Order.
        self.post(order_body(31002, modified="2025-10-15T08:00:00"), topic="order.updated")
        wait_for(lambda: self.delivery_state("wc:main:31002")["events"] == 2
                 and self.delivery_state("wc:main:31002")["state"] == "delivered", what="the update recorded")
        self.assertEqual(len(self.orders_for("wc:main:31002")), 1)

    def test_a_validation_error_is_a_dead_letter_in_erpnexts_words(self):
        body = order_body(32001).replace(b"FLT-2-100", b"NO-SUCH-SKU")
        self.post(body)
        wait_for(lambda: (self.delivery_state("wc:main:32001") or {}).get("state") == "dead", what="the dead letter")
        dead = self.delivery_state("wc:main:32001")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("permanent", 417))
        self.assertIn("NO-SUCH-SKU", dead["reason"])
        self.assertNotIn("<", dead["reason"], "HTML is stripped from Frappe's messages")
        self.assertEqual(self.orders_for("wc:main:32001"), [])

    def test_an_order_created_but_never_acknowledged_is_found_not_created_twice(self):
        self.erp.ack_then_reset_next_sales_order()
        self.post(order_body(33001))
        wait_for(lambda: (self.delivery_state("wc:main:33001") or {}).get("state") == "delivered", timeout=20,
                 what="delivered after the reset")
        [so] = self.orders_for("wc:main:33001")
        self.assertEqual(so["docstatus"], 1)

    def test_throttling_is_waited_out(self):
        self.erp.script({"status": 429, "retry_after": "1", "match": {"method": "GET"}})
        self.post(order_body(34001))
        wait_for(lambda: (self.delivery_state("wc:main:34001") or {}).get("state") == "delivered", timeout=20,
                 what="delivered after the 429")
        self.assertEqual(len(self.orders_for("wc:main:34001")), 1)

    def test_cancellation_cancels_only_what_has_not_been_delivered(self):
        self.post(order_body(35001))
        self.post(order_body(35002))
        self.erp.wait_until(lambda e: len([s for s in e.sales_orders.values() if s["docstatus"] == 1]) == 2, timeout=20)
        self.erp.set_delivered(self.orders_for("wc:main:35002")[0]["name"])
        for i in (35001, 35002):
            self.post(order_body(i, status="cancelled", modified="2025-10-16T09:00:00"), topic="order.updated")
        self.erp.wait_until(lambda e: self.orders_for("wc:main:35001")[0]["docstatus"] == 2, timeout=20)
        wait_for(lambda: self.delivery_state("wc:main:35002")["state"] == "dead", what="the refused cancellation")
        self.assertIn("Delivered", self.delivery_state("wc:main:35002")["reason"])
        self.assertEqual(self.orders_for("wc:main:35002")[0]["docstatus"], 1)

    def test_an_unpaid_order_is_not_sent_until_it_is_paid(self):
        self.post(order_body(36001, status="pending"))
        wait_for(lambda: (self.delivery_state("wc:main:36001") or {}).get("state") == "delivered",
                 what="the unpaid order handled")
        self.assertEqual(self.orders_for("wc:main:36001"), [])
        self.post(order_body(36001, status="processing", modified="2025-10-15T10:00:00"), topic="order.updated")
        self.erp.wait_until(lambda e: len(self.orders_for("wc:main:36001")) == 1, timeout=20)

    def test_a_wrong_api_secret_is_an_auth_dead_letter_and_nothing_is_created(self):
        self.d.stop()
        self.d = Daemon(config(Storage("sqlite"), self.erp.url, api_secret="rotated")).start()
        self.post(order_body(37001))
        wait_for(lambda: (self.delivery_state("wc:main:37001") or {}).get("state") == "dead", timeout=20,
                 what="the dead letter")
        dead = self.delivery_state("wc:main:37001")
        self.assertEqual((dead["error_class"], dead["http_status"]), ("auth", 401))
        self.assertEqual(dead["attempts"], 1, "dead at once, not retried")
        self.assertEqual(self.erp.sales_orders, {})
        self.assertEqual(self.erp.customers, {})
        self.assertEqual({c.status for c in self.erp.requests}, {401}, "the first call was refused, nothing written")
        _, _, data = self.d.request("GET", "/v1/connectors", headers=VIEWER)
        lane = next(lane for lane in json.loads(data)["items"] if lane["name"] == "erp")
        self.assertTrue(lane["auth_failed"])


class RefundTest(unittest.TestCase):
    """refund.created becomes a money-only credit note (research/erp_3pl.md 1.6; choices in
    docs/connectors.md): a return Sales Invoice keyed by the refund's po_no, for the customer of the
    order's Sales Order, booked once."""

    def setUp(self):
        self.erp = ErpNextSim(items=("GRD-BURR-01", "POD-CER-WHT", "FLT-2-100", "WOO-REFUND"),
                              non_stock_items=("WOO-REFUND",), currency="USD")
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.erp.url, subscribe='["order.*", refund.created]',
                               extra='    refund_item: "WOO-REFUND"')).start()

    def tearDown(self):
        self.d.stop()
        self.erp.close()

    def notes(self):
        return {i.get("po_no"): i for i in self.erp.sales_invoices.values() if i.get("is_return") == 1}

    def test_partial_refunds_become_credit_notes_once(self):
        body = fixture("order_refunds.json")  # order 4110, refunds 4111 (26.67) and 4112 (8.66)
        for topic in ("order.created", "order.updated"):  # the repeat books nothing more
            status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                          headers=woo_headers(body, SECRET, topic))
            self.assertIn(status, (200, 202))
        self.erp.wait_until(lambda e: len([i for i in self.notes().values() if i["docstatus"] == 1]) == 2,
                            timeout=20, what="two submitted credit notes")
        notes = self.notes()
        self.assertEqual(sorted(notes), ["wc:main:r4111", "wc:main:r4112"])
        so = [s for s in self.erp.sales_orders.values() if s.get("po_no") == "wc:main:4110"][0]
        note = notes["wc:main:r4111"]
        self.assertEqual(note["customer"], so["customer"])
        self.assertEqual(note["update_stock"], 0)
        self.assertEqual([(i["item_code"], i["qty"], i["rate"]) for i in note["items"]], [("WOO-REFUND", -1, 26.67)])
        self.assertAlmostEqual(note["grand_total"], -26.67)
        self.assertIn("Dripper arrived cracked", note["remarks"])
        self.assertAlmostEqual(notes["wc:main:r4112"]["grand_total"], -8.66)
        wait_for(lambda: all(d["state"] == "delivered" for d in self.refund_deliveries()), what="delivered")
        self.assertEqual(len(self.notes()), 2)
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_refund_completion_seconds_count{connector="erp"} 2', metrics)

    def test_a_credit_note_created_but_never_acknowledged_is_found_not_booked_twice(self):
        self.erp.script({"reset": True, "commit": True, "match": {"method": "POST",
                                                                  "path_prefix": "/api/resource/Sales Invoice"}})
        body = fixture("order_refunds.json")
        self.d.request("POST", "/webhooks/woocommerce/main", body=body, headers=woo_headers(body, SECRET))
        self.erp.wait_until(lambda e: len([i for i in self.notes().values() if i["docstatus"] == 1]) == 2,
                            timeout=20, what="two submitted credit notes")
        wait_for(lambda: all(d["state"] == "delivered" for d in self.refund_deliveries()), what="delivered")
        self.assertEqual(len(self.notes()), 2)
        self.assertEqual(self.erp.pending_rules(), 0)

    def refund_deliveries(self):
        """The ERP lane's delivery state of each refund of the order (GET /v1/orders/{id} lists them)."""
        _, _, data = self.d.request("GET", "/v1/orders/wc:main:4110", headers=VIEWER)
        refunds = json.loads(data)["refunds"]
        self.assertEqual(sorted(r["entity_id"] for r in refunds), ["wc:main:refund:4111", "wc:main:refund:4112"])
        return [d for r in refunds for d in (r["deliveries"] or [{"state": "none"}])]


if __name__ == "__main__":
    unittest.main()
