"""POST /v1/checkout/validate on the built binary: answers from the inventory cache (levels pushed to
POST /v1/inventory, the store's own stock from product webhooks), with the reasons of DESIGN section 3;
a live check against the ERPNext simulator within the budget, and the cache's answer marked stale
when the ERP is slower than the budget; the view survives a restart."""
import json
import os
import sys
import time
import unittest

from harness import Daemon, Storage, daemon_config, fixture, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from erpnext_sim import ErpNextSim  # noqa: E402

SECRET = "wh-secret"
OPS = {"Authorization": "Bearer operator-token-0123456789", "Content-Type": "application/json"}
VIEWER = {"Authorization": "Bearer viewer-token-0123456789", "Content-Type": "application/json"}


def config(storage, erp_url=None, budget="300ms"):
    live = ""
    erp = ""
    if erp_url:
        live = f"checkout: {{live_check: erp, budget: {budget}}}"
        erp = f"""connectors:
  - name: erp
    kind: erpnext
    base_url: "{erp_url}"
    auth: {{api_key: "k", api_secret: "s"}}
    subscribe: []
    company: "Acme Ltd"
    warehouse: "Stores - ACME"
"""
    return daemon_config(storage, f"""
inventory: {{coalesce_window: 20ms}}
{live}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]
    shipping_countries: [US, CA]
{erp}""", operator=True)


class CheckoutTest(unittest.TestCase):
    def tearDown(self):
        self.d.stop()

    def validate(self, lines, country="US"):
        body = json.dumps({"store": "main", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                           "shipping_country": country, "customer_email": "a@example.com"}).encode()
        started = time.monotonic()
        status, _, data = self.d.request("POST", "/v1/checkout/validate", body=body, headers=VIEWER)
        self.elapsed = time.monotonic() - started
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def test_answers_from_the_cache_with_reasons(self):
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage)).start()
        levels = {"levels": [{"sku": "MUG-RED", "location": "east", "on_hand": 4, "available": 3,
                              "as_of": "2026-11-20T10:00:00Z", "source": "wms"},
                             {"sku": "MUG-RED", "location": "west", "on_hand": 2, "available": 2,
                              "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]}
        self.assertEqual(self.d.request("POST", "/v1/inventory", body=json.dumps(levels).encode(), headers=OPS)[0], 202)
        product = fixture("product_simple.json")  # POD-CER-WHT, managed, 37 in stock
        status, _, _ = self.d.request("POST", "/webhooks/woocommerce/main", body=product,
                                      headers=woo_headers(product, SECRET, "product.updated"))
        self.assertEqual(status, 202)

        v = self.validate([("MUG-RED", 5), ("POD-CER-WHT", 2)])
        self.assertEqual(v, {"ok": True, "stale": False, "lines": [
            {"sku": "MUG-RED", "quantity": 5, "available": True, "available_quantity": 5, "reason": None},
            {"sku": "POD-CER-WHT", "quantity": 2, "available": True, "available_quantity": 37, "reason": None}]})
        v = self.validate([("MUG-RED", 6), ("NOPE", 1)])
        self.assertFalse(v["ok"])
        self.assertEqual([l["reason"] for l in v["lines"]], ["insufficient_stock", "unknown_sku"])
        v = self.validate([("MUG-RED", 1)], country="FR")
        self.assertEqual(v["lines"][0]["reason"], "not_shippable")

        # Bad carts name every problem; tokens are needed; unknown stores are 404.
        status, _, data = self.d.request("POST", "/v1/checkout/validate", headers=VIEWER,
                                         body=json.dumps({"store": "main", "lines": [{"sku": "A"}]}).encode())
        self.assertEqual(status, 400)
        self.assertIn("lines[0].quantity", json.loads(data)["error"]["message"])
        status, _, _ = self.d.request("POST", "/v1/checkout/validate", headers={"Content-Type": "application/json"},
                                      body=b'{"store":"main","lines":[{"sku":"A","quantity":1}]}')
        self.assertEqual(status, 401)
        status, _, _ = self.d.request("POST", "/v1/checkout/validate", headers=VIEWER,
                                      body=b'{"store":"other","lines":[{"sku":"A","quantity":1}]}')
        self.assertEqual(status, 404)

        # After a restart the view is loaded from the store.
        self.d.stop()
        self.d.start()
        v = self.validate([("MUG-RED", 5), ("POD-CER-WHT", 37)])
        self.assertTrue(v["ok"], v)
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertIn(b'orderbridge_checkout_verdicts_total{stale="false",store="main",verdict="ok"} 1', metrics)

    def test_a_live_check_within_the_budget_and_stale_answers_when_the_erp_is_slow(self):
        erp = ErpNextSim(items=("MUG-RED",), currency="USD")
        self.addCleanup(erp.close)
        erp.set_stock("MUG-RED", "Stores - ACME", 10, reserved_qty=8)
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, erp.url, budget="300ms")).start()
        levels = {"levels": [{"sku": "MUG-RED", "location": "east", "on_hand": 50, "available": 50,
                              "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]}
        self.assertEqual(self.d.request("POST", "/v1/inventory", body=json.dumps(levels).encode(), headers=OPS)[0], 202)

        # The ERP answers in time: its level (10 - 8 reserved) decides.
        v = self.validate([("MUG-RED", 3)])
        self.assertEqual((v["ok"], v["stale"], v["lines"][0]["available_quantity"]), (False, False, 2))
        self.assertTrue(any(c.path == "/api/resource/Bin" for c in erp.requests))

        # The ERP is slower than the budget: the cache answers, marked stale, within the budget.
        erp.script({"delay": 2.0, "count": None, "match": {"path_prefix": "/api/resource/Bin"}})
        v = self.validate([("MUG-RED", 3)])
        self.assertEqual((v["ok"], v["stale"], v["lines"][0]["available_quantity"]), (True, True, 50))
        self.assertLess(self.elapsed, 1.0)


if __name__ == "__main__":
    unittest.main()
