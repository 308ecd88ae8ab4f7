"""Self-test of the ShipBob simulator (Python standard library only): Bearer auth and the shipbob_channel_id
header, order creation with its validation, 422 on a duplicate reference_id, the ReferenceIds lookup and
paging, the sliding-window rate limit with x-retry-after / x-remaining-calls, cancel before and after
shipping, inventory levels (paging, derived quantities, one by id, 404) and token scopes, webhook
subscriptions, Standard-Webhooks-signed events (checked with an independent HMAC), held
events released out of order, redelivery with the same webhook-id, scripted faults, and the standalone
process through serve.py.

Run: cd tests/simulators && python3 -m unittest -v shipbob_sim_selftest
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import socket
import tempfile
import time
import unittest

from selftest_support import JsonClient, Receiver, Standalone, overridden
from shipbob_sim import Call, Event, ShipBobSim, WebhookCall

KEY = b"0123456789abcdef-signing-key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
V = "/2025-07"


def bearer(token="pat-test", channel="1234"):
    headers = {"Authorization": f"Bearer {token}"}
    if channel is not None:
        headers["shipbob_channel_id"] = channel
    return headers


def standard_signature(key, msg_id, timestamp, body):
    """Standard Webhooks v1, computed here independently of the simulator."""
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Client(JsonClient):
    """One keep-alive connection speaking to the simulator as the connector would."""

    @staticmethod
    def default_headers():
        return bearer()

    def create(self, order, headers=None):
        return self.request("POST", V + "/order", order, headers=headers)

    def get(self, path, **query):
        return self.request("GET", V + path, query=query or None)


def order(ref="wc:store1:10234", **overrides):
    body = {"reference_id": ref, "order_number": ref.rsplit(":", 1)[-1], "type": "DTC",
            "shipping_method": "Standard", "purchase_date": "2025-01-10T09:15:00Z",
            "recipient": {"name": "Jane Doe", "email": "jane@example.com", "phone_number": "+49 30 1234",
                          "address": {"address1": "Main St 1", "address2": "", "city": "Berlin", "state": "BE",
                                      "zip_code": "10115", "country": "DE"}},
            "products": [{"reference_id": "SKU-RED-M", "name": "T-shirt red M", "quantity": 2, "unit_price": 19.99,
                          "external_line_id": 551}],
            "financials": {"total_price": 48.68}}
    return overridden(body, overrides)


class SimTest(unittest.TestCase):
    limit, window, secret, version = 1000, 60, SECRET, "2025-07"

    def setUp(self):
        self.sim = ShipBobSim(limit_per_minute=self.limit, window_seconds=self.window, webhook_secret=self.secret,
                              version=self.version)
        self.client = Client(self.sim.port)

    def tearDown(self):
        self.client.close()
        self.sim.close()


class AuthTests(SimTest):
    def test_url_is_the_versioned_api_base(self):
        self.assertEqual(self.sim.url, f"http://127.0.0.1:{self.sim.port}/2025-07")
        status, _, body = self.client.get("/channel")
        self.assertEqual(status, 200)
        self.assertEqual(body[0]["id"], 1234)
        self.assertIn("orders_write", body[0]["scopes"])
        # another version's path is not served
        self.assertEqual(self.client.request("GET", "/2026-01/channel")[:3:2],
                         (404, {"statusCode": 404, "message": "Resource not found"}))

    def test_bearer_token_is_required(self):
        for headers in ({}, bearer("wrong"), {"Authorization": "pat-test"},
                        {"Authorization": "Basic cGF0LXRlc3Q6"}, {"Authorization": "Bearer "}):
            status, hdrs, body = self.client.request("GET", V + "/order", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertEqual(body, {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."})
            self.assertEqual(hdrs["www-authenticate"], "Bearer")
            self.assertEqual(hdrs["x-remaining-calls"], str(self.limit))
        status, hdrs, _ = self.client.request("GET", V + "/order", headers={"Authorization": "bearer pat-test"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["x-remaining-calls"], str(self.limit - 1))   # the 401s were not counted

    def test_writes_need_the_channel_header(self):
        status, hdrs, body = self.client.create(order(), headers=bearer(channel=None))
        self.assertEqual(status, 400)
        self.assertEqual((body["status"], list(body["errors"])), (400, ["shipbob_channel_id"]))
        self.assertIn("x-remaining-calls", hdrs)
        status, _, body = self.client.create(order(), headers=bearer(channel="abc"))
        self.assertEqual((status, list(body["errors"])), (400, ["shipbob_channel_id"]))
        status, _, body = self.client.create(order(), headers=bearer(channel="999"))
        self.assertEqual(status, 403)
        self.assertEqual(body["statusCode"], 403)
        self.assertIn("999", body["message"])
        status, _, _ = self.client.request("POST", V + "/webhook", {"topics": ["order.shipped"],
                                                                   "url": "http://127.0.0.1:9/x"},
                                           headers=bearer(channel=None))
        self.assertEqual(status, 400)
        self.assertEqual((self.sim.orders, self.sim.webhooks), ({}, {}))
        # reads do not need it; the right one lets the write through
        self.assertEqual(self.client.request("GET", V + "/order", headers=bearer(channel=None))[0], 200)
        self.assertEqual(self.client.create(order(), headers=bearer(channel=" 1234 "))[0], 201)


class OrderTests(SimTest):
    def test_create_duplicate_and_lookup(self):
        status, hdrs, created = self.client.create(order())
        self.assertEqual(status, 201)
        self.assertIn("x-remaining-calls", hdrs)
        self.assertEqual(created["id"], 100001)
        self.assertEqual((created["reference_id"], created["order_number"], created["status"], created["type"]),
                         ("wc:store1:10234", "10234", "Processing", "DTC"))
        self.assertEqual(created["channel"]["id"], 1234)
        self.assertTrue(created["created_date"].endswith("Z"))
        self.assertEqual(created["recipient"], order()["recipient"])
        (product,) = created["products"]
        self.assertIsInstance(product["id"], int)
        self.assertEqual((product["reference_id"], product["quantity"], product["external_line_id"]),
                         ("SKU-RED-M", 2, 551))
        (shipment,) = created["shipments"]
        self.assertIsInstance(shipment["id"], int)
        self.assertEqual((shipment["status"], shipment["tracking"]), ("Processing", None))
        self.assertEqual(self.sim.orders["wc:store1:10234"], created)

        status, _, body = self.client.create(order(order_number="other"))
        self.assertEqual(status, 422)
        self.assertEqual(body["title"], "Duplicate reference ID")
        self.assertIn("Duplicate reference ID", body["errors"]["reference_id"][0])
        self.assertEqual(len(self.sim.orders), 1)

        # a second order, a product SKU shared: the same product id; order_number defaults to the reference_id
        status, _, second = self.client.create(order("wc:store1:10235", order_number=None))
        self.assertEqual((status, second["id"], second["order_number"]), (201, 100002, "wc:store1:10235"))
        self.assertEqual(second["products"][0]["id"], product["id"])
        self.assertNotEqual(second["shipments"][0]["id"], shipment["id"])

        status, hdrs, body = self.client.get("/order", ReferenceIds="wc:store1:10235,wc:store1:10234,nope")
        self.assertEqual(status, 200)
        self.assertEqual([o["reference_id"] for o in body], ["wc:store1:10234", "wc:store1:10235"])
        self.assertEqual((hdrs["total-count"], hdrs["page-number"], hdrs["total-pages"]), ("2", "1", "1"))
        self.assertNotIn("next-page", hdrs)
        # the parameter repeated, any case
        status, _, body = self.client.request("GET", V + "/order?referenceids=wc:store1:10235&ReferenceIds=x")
        self.assertEqual([o["id"] for o in body], [100002])
        self.assertEqual(self.client.get("/order", ReferenceIds="nope")[2], [])
        # paging
        status, hdrs, body = self.client.get("/order", Limit="1")
        self.assertEqual(([o["id"] for o in body], hdrs["total-pages"]), ([100001], "2"))
        self.assertEqual(hdrs["next-page"], "/2025-07/order?Page=2&Limit=1")
        status, hdrs, body = self.client.get("/order", Page="2", Limit="1")
        self.assertEqual(([o["id"] for o in body], hdrs.get("next-page")), ([100002], None))
        for bad in ({"Limit": "251"}, {"Limit": "0"}, {"Page": "0"}, {"Limit": "x"}):
            status, _, body = self.client.get("/order", **bad)
            self.assertEqual(status, 400, bad)
            self.assertEqual(list(body["errors"]), list(bad))
        self.assertEqual(len(self.client.get("/order", Limit="250")[2]), 2)
        # one order by id; unknown 404
        self.assertEqual(self.client.get("/order/100002")[2], second)
        status, _, body = self.client.get("/order/999")
        self.assertEqual((status, body), (404, {"statusCode": 404, "message": "Order not found"}))

    def test_validation_names_every_failing_field(self):
        cases = [({"reference_id": None}, "reference_id"), ({"reference_id": ""}, "reference_id"),
                 ({"reference_id": "x" * 301}, "reference_id"), ({"reference_id": 10234}, "reference_id"),
                 ({"recipient": None}, "recipient"), ({"shipping_method": None}, "shipping_method"),
                 ({"type": None}, "type"), ({"type": "dtc"}, "type"), ({"products": None}, "products"),
                 ({"products": []}, "products"), ({"order_number": "x" * 401}, "order_number"),
                 ({"purchase_date": "yesterday"}, "purchase_date"), ({"location_id": "5"}, "location_id"),
                 ({"financials": {"total_price": "48.68"}}, "financials.total_price"),
                 ({"tags": [{"value": "x"}]}, "tags[0].name")]
        for overrides, field in cases:
            with self.subTest(overrides=overrides):
                status, hdrs, body = self.client.create(order(**overrides))
                self.assertEqual(status, 400)
                self.assertEqual((body["status"], body["title"]), (400, "One or more validation errors occurred."))
                self.assertIn(field, body["errors"])
                self.assertIsInstance(body["errors"][field][0], str)
                self.assertIn("x-remaining-calls", hdrs)
        # several at once, nested paths
        bad = order(recipient={"name": "", "address": {"address1": "Main St 1", "country": "Germany"}},
                    products=[{"reference_id": "A", "name": "A", "quantity": 0},
                              {"name": "B", "quantity": "2", "unit_price": "1.00", "external_line_id": "x"}])
        status, _, body = self.client.create(bad)
        self.assertEqual(status, 400)
        self.assertEqual(set(body["errors"]), {"recipient.name", "recipient.address.city", "recipient.address.country",
                                               "products[0].quantity", "products[1].reference_id",
                                               "products[1].quantity", "products[1].unit_price",
                                               "products[1].external_line_id"})
        status, _, body = self.client.create(b"{not json")
        self.assertEqual((status, list(body["errors"])), (400, ["$"]))
        self.assertEqual(self.sim.orders, {})
        # the limits themselves are fine; B2B, the optional fields
        ok = order("r" * 300, order_number="n" * 400, type="B2B", tags=[{"name": "a", "value": "b"}],
                   gift_message="hi", location_id=7, purchase_date="2025-01-10T09:15:00.1234567Z")
        self.assertEqual(self.client.create(ok)[0], 201)
        # an invalid duplicate is a 400 (validation comes first), a valid one 422
        self.assertEqual(self.client.create(order("r" * 300, type=None))[0], 400)
        self.assertEqual(self.client.create(order("r" * 300))[0], 422)

    def test_cancel_while_processing_then_not_after_shipping(self):
        a = self.client.create(order())[2]
        b = self.client.create(order("wc:store1:10235"))[2]
        status, hdrs, body = self.client.request("POST", f"{V}/order/{a['id']}:cancel")
        self.assertEqual(status, 200)
        self.assertIn("x-remaining-calls", hdrs)
        self.assertEqual(body["canceled_shipment_results"],
                         [{"shipment_id": a["shipments"][0]["id"], "action": "Cancel", "is_success": True,
                           "reason": None}])
        self.assertEqual((body["order"]["status"], body["order"]["shipments"][0]["status"]), ("Cancelled", "Cancelled"))
        self.assertEqual(self.sim.orders["wc:store1:10234"]["status"], "Cancelled")
        # cancelling again is refused (is_success false), still 200
        status, _, body = self.client.request("POST", f"{V}/order/{a['id']}:cancel")
        self.assertEqual(status, 200)
        self.assertFalse(body["canceled_shipment_results"][0]["is_success"])
        self.assertIn("already cancelled", body["canceled_shipment_results"][0]["reason"])

        self.sim.ship("wc:store1:10235", "9400111899223")
        status, _, body = self.client.request("POST", f"{V}/order/{b['id']}:cancel")
        self.assertEqual(status, 200)
        (result,) = body["canceled_shipment_results"]
        self.assertEqual((result["shipment_id"], result["action"], result["is_success"]),
                         (b["shipments"][0]["id"], "Cancel", False))
        self.assertIn("shipped", result["reason"])
        self.assertEqual(body["order"]["status"], "Fulfilled")
        self.assertEqual(self.sim.orders["wc:store1:10235"]["shipments"][0]["status"], "Completed")
        # unknown order; the 1.0 form is not served by a dated version; a cancel needs the channel header
        self.assertEqual(self.client.request("POST", f"{V}/order/999:cancel")[2],
                         {"statusCode": 404, "message": "Order not found"})
        self.assertEqual(self.client.request("POST", f"{V}/order/{b['id']}/cancel")[0], 404)
        self.assertEqual(self.client.request("POST", f"{V}/order/{b['id']}:cancel", headers=bearer(channel=None))[0],
                         400)
        self.assertEqual(self.sim.webhook_log, [])     # no subscriptions: nothing sent

    def test_unknown_routes_are_404(self):
        for method, path in (("GET", "/product"), ("PUT", "/order/100001"), ("DELETE", "/order"),
                             ("GET", "/order/abc"), ("POST", "/order/1:uncancel"), ("GET", "/webhook/1")):
            status, hdrs, body = self.client.request(method, V + path, {} if method in ("POST", "PUT") else None)
            self.assertEqual((status, body), (404, {"statusCode": 404, "message": "Resource not found"}),
                             (method, path))
            self.assertIn("x-remaining-calls", hdrs)


INVENTORY_KEYS = ["inventory_id", "sku", "name", "total_on_hand_quantity", "total_committed_quantity",
                  "total_fulfillable_quantity", "total_sellable_quantity", "total_awaiting_quantity",
                  "total_backordered_quantity", "total_exception_quantity", "total_internal_transfer_quantity"]


class InventoryTests(SimTest):
    def test_list_with_paging(self):
        status, hdrs, body = self.client.get("/inventory-level")
        self.assertEqual((status, body), (200, []))
        self.assertEqual((hdrs["total-count"], hdrs["page-number"], hdrs["total-pages"]), ("0", "1", "0"))
        self.assertIn("x-remaining-calls", hdrs)
        made = [self.sim.set_inventory(f"SKU-{i}", i * 10) for i in range(5)]
        self.assertEqual([m["inventory_id"] for m in made], [400001, 400002, 400003, 400004, 400005])
        status, hdrs, body = self.client.get("/inventory-level")
        self.assertEqual((status, body), (200, made))
        self.assertEqual((hdrs["total-count"], hdrs["total-pages"]), ("5", "1"))
        self.assertNotIn("next-page", hdrs)
        self.assertEqual(list(body[0]), INVENTORY_KEYS)
        pages, path = [], V + "/inventory-level?Limit=2"
        while path:
            status, hdrs, body = self.client.request("GET", path)
            self.assertEqual(status, 200)
            pages.append([i["inventory_id"] for i in body])
            path = hdrs.get("next-page")
        self.assertEqual(pages, [[400001, 400002], [400003, 400004], [400005]])
        status, hdrs, body = self.client.get("/inventory-level", Page="2", Limit="2")
        self.assertEqual(([i["sku"] for i in body], hdrs["page-number"], hdrs["total-pages"], hdrs["next-page"]),
                         (["SKU-2", "SKU-3"], "2", "3", "/2025-07/inventory-level?Page=3&Limit=2"))
        self.assertEqual(self.client.get("/inventory-level", Page="9")[2], [])
        # names bind case-insensitively; a trailing slash is ignored; Limit 250 is the most
        status, _, body = self.client.request("GET", V + "/Inventory-Level/?page=1&LIMIT=1")
        self.assertEqual((status, [i["inventory_id"] for i in body]), (200, [400001]))
        self.assertEqual(len(self.client.get("/inventory-level", Limit="250")[2]), 5)
        for bad in ({"Limit": "251"}, {"Limit": "0"}, {"Page": "0"}, {"Page": "x"}):
            status, _, body = self.client.get("/inventory-level", **bad)
            self.assertEqual((status, list(body["errors"])), (400, list(bad)), bad)
        # reads need no channel header
        self.assertEqual(self.client.request("GET", V + "/inventory-level", headers=bearer(channel=None))[0], 200)

    def test_derived_quantities_and_updates(self):
        item = self.sim.set_inventory("SKU-RED-M", 40, committed=3, exception=2)
        self.assertEqual(item, {"inventory_id": 400001, "sku": "SKU-RED-M", "name": "SKU-RED-M",
                                "total_on_hand_quantity": 40, "total_committed_quantity": 3,
                                "total_fulfillable_quantity": 37, "total_sellable_quantity": 35,
                                "total_awaiting_quantity": 0, "total_backordered_quantity": 0,
                                "total_exception_quantity": 2, "total_internal_transfer_quantity": 0})
        self.assertEqual(self.sim.inventory, {400001: item})
        # the same SKU again: the same id, every quantity set anew, the name kept
        again = self.sim.set_inventory("SKU-RED-M", 12, awaiting=5, backordered=1, internal_transfer=4)
        self.assertEqual((again["inventory_id"], again["name"], again["total_committed_quantity"],
                          again["total_fulfillable_quantity"], again["total_sellable_quantity"],
                          again["total_awaiting_quantity"], again["total_backordered_quantity"],
                          again["total_internal_transfer_quantity"]), (400001, "SKU-RED-M", 0, 12, 12, 5, 1, 4))
        # an explicit id (later automatic ids skip past it), a name; more committed than on hand: never below 0
        own = self.sim.set_inventory("SKU-BLUE-L", 2, committed=5, inventory_id=500000, name="T-shirt blue L")
        self.assertEqual((own["inventory_id"], own["name"], own["total_fulfillable_quantity"],
                          own["total_sellable_quantity"]), (500000, "T-shirt blue L", 0, 0))
        self.assertEqual(self.sim.set_inventory("SKU-NEW", 1)["inventory_id"], 500001)
        # by id the sku may change
        self.assertEqual(self.sim.set_inventory("SKU-BLUE-XL", 3, inventory_id=500000)["name"], "T-shirt blue L")
        self.assertEqual(self.sim.inventory[500000]["sku"], "SKU-BLUE-XL")
        for args, kwargs in ((("SKU-X", -1), {}), (("SKU-X", 1.5), {}), (("SKU-X", True), {}),
                             (("SKU-X", 1), {"committed": -1}), (("", 1), {}), ((None, 1), {}),
                             (("SKU-X", 1), {"inventory_id": 0}), (("SKU-X", 1), {"inventory_id": "1"}),
                             (("SKU-NEW", 1), {"inventory_id": 400001})):     # SKU-NEW is 500001
            with self.subTest(args=args, kwargs=kwargs), self.assertRaises(ValueError):
                self.sim.set_inventory(*args, **kwargs)
        self.assertEqual(sorted(self.sim.inventory), [400001, 500000, 500001])
        # the snapshot is a copy
        self.sim.inventory[400001]["total_on_hand_quantity"] = 999
        self.assertEqual(self.sim.inventory[400001]["total_on_hand_quantity"], 12)
        # the API shows what was set
        inventory = self.sim.inventory
        self.assertEqual(self.client.get("/inventory-level")[2], [inventory[i] for i in sorted(inventory)])

    def test_single_item_and_404(self):
        self.sim.set_inventory("SKU-A", 5)
        b = self.sim.set_inventory("SKU-B", 9, committed=4)
        status, hdrs, body = self.client.get("/inventory-level/400002")
        self.assertEqual((status, body), (200, b))
        self.assertIn("x-remaining-calls", hdrs)
        status, hdrs, body = self.client.get("/inventory-level/999")
        self.assertEqual((status, body), (404, {"statusCode": 404, "message": "Inventory not found"}))
        self.assertIn("x-remaining-calls", hdrs)
        self.assertEqual(self.client.get("/inventory-level/abc")[:3:2],
                         (404, {"statusCode": 404, "message": "Resource not found"}))
        self.assertEqual(self.client.request("POST", V + "/inventory-level", {})[0], 404)
        self.assertEqual(self.client.request("GET", "/2026-01/inventory-level")[0], 404)     # another version

    def test_auth_rate_limit_and_scripted_faults(self):
        self.sim.set_inventory("SKU-A", 5)
        for path in ("/inventory-level", "/inventory-level/400001"):
            for headers in ({}, bearer("wrong"), {"Authorization": "Basic cGF0LXRlc3Q6"}):
                status, hdrs, body = self.client.request("GET", V + path, headers=headers)
                self.assertEqual((status, body["statusCode"], hdrs["www-authenticate"]), (401, 401, "Bearer"))
        self.sim.script({"status": 503, "match": {"method": "GET", "path_prefix": V + "/inventory-level"}},
                        {"status": 429, "retry_after": 4})
        status, _, body = self.client.get("/inventory-level")
        self.assertEqual(status, 503)
        self.assertIn(b"503", body)
        status, hdrs, body = self.client.get("/inventory-level/400001")
        self.assertEqual((status, hdrs["x-retry-after"], body["statusCode"]), (429, "4", 429))
        self.assertEqual(self.client.get("/inventory-level")[0], 200)
        self.assertEqual([c.status for c in self.sim.requests[-3:]], [503, 429, 200])
        self.assertEqual(self.sim.requests[-1], Call("GET", V + "/inventory-level", {}, None, 200))


class ScopeTests(unittest.TestCase):
    def test_inventory_needs_inventory_read(self):
        with ShipBobSim(scopes=["orders_read", "orders_write", "channels_read"], inventory={"SKU-A": 3}) as sim:
            self.assertEqual(sim.scopes, ["orders_read", "orders_write", "channels_read"])
            c = Client(sim.port)
            for path in ("/inventory-level", "/inventory-level/400001", "/inventory-level/999"):
                status, hdrs, body = c.get(path)
                self.assertEqual((status, body), (403, {"statusCode": 403, "message": "Forbidden. The access token "
                                                        "does not have the required scope 'inventory_read'."}), path)
                self.assertIn("x-remaining-calls", hdrs)
            # no token at all is still 401 first; the other areas answer as before
            self.assertEqual(c.request("GET", V + "/inventory-level", headers={})[0], 401)
            self.assertEqual(c.get("/order")[0], 200)
            self.assertEqual(c.get("/channel")[2][0]["scopes"], ["orders_read", "orders_write", "channels_read"])
            # a scope refusal consumes no rule
            sim.script(503)
            self.assertEqual(c.get("/inventory-level")[0], 403)
            self.assertEqual(sim.pending_rules(), 1)
            c.close()
            self.assertEqual(sim.status_counts(), {"403": 4, "401": 1, "200": 2})

    def test_scopes_of_the_other_areas(self):
        with ShipBobSim(scopes="inventory_read") as sim:
            c = Client(sim.port)
            self.assertEqual(c.get("/inventory-level")[0], 200)
            for method, path, body in (("GET", "/order", None), ("POST", "/order", order()),
                                       ("POST", "/order/1:cancel", None), ("GET", "/webhook", None),
                                       ("POST", "/webhook", {"topics": ["order.shipped"], "url": "http://x/y"}),
                                       ("DELETE", "/webhook/1", None), ("GET", "/channel", None)):
                status, _, answer = c.request(method, V + path, body)
                self.assertEqual(status, 403, (method, path))
                self.assertIn("required scope", answer["message"])
            self.assertEqual(c.request("GET", V + "/product")[0], 404)      # no area: no scope, the 404
            c.close()
            self.assertEqual(sim.orders, {})
        # the default grants everything, inventory_read included
        with ShipBobSim() as sim:
            self.assertIn("inventory_read", sim.scopes)
            c = Client(sim.port)
            self.assertIn("inventory_read", c.get("/channel")[2][0]["scopes"])
            c.close()

    def test_constructor_inventory(self):
        with ShipBobSim(inventory={"SKU-A": 7, "SKU-B": (10, 4), "SKU-C": [10, 4, 1],
                                   "SKU-D": {"on_hand": 2, "name": "Dee", "inventory_id": 42}}) as sim:
            inv = sim.inventory
            self.assertEqual(sorted(inv), [42, 400001, 400002, 400003])
            got = {i["sku"]: (i["inventory_id"], i["total_on_hand_quantity"], i["total_committed_quantity"],
                              i["total_fulfillable_quantity"], i["total_sellable_quantity"]) for i in inv.values()}
            self.assertEqual(got, {"SKU-A": (400001, 7, 0, 7, 7), "SKU-B": (400002, 10, 4, 6, 6),
                                   "SKU-C": (400003, 10, 4, 6, 5), "SKU-D": (42, 2, 0, 2, 2)})
            self.assertEqual(inv[42]["name"], "Dee")
        for bad in ({"SKU-A": -1}, {"SKU-A": "7"}, {"SKU-A": (1, 2, 3, 4)}, {"": 1}, {"SKU-A": {"qty": 1}},
                    {"SKU-A": {"committed": 1}}):
            with self.subTest(inventory=bad), self.assertRaises(ValueError):
                ShipBobSim(inventory=bad)


class Version10Tests(SimTest):
    version = "1.0"

    def test_cancel_path_of_version_1_0(self):
        self.assertTrue(self.sim.url.endswith("/1.0"))
        created = self.client.request("POST", "/1.0/order", order())[2]
        self.assertEqual(self.client.request("POST", f"/1.0/order/{created['id']}:cancel")[0], 404)
        status, _, body = self.client.request("POST", f"/1.0/order/{created['id']}/cancel")
        self.assertEqual((status, body["canceled_shipment_results"][0]["is_success"]), (200, True))


class RateLimitTests(SimTest):
    limit, window = 3, 1.0

    def test_sliding_window_and_429(self):
        t0 = time.monotonic()
        remaining = [self.client.get("/order")[1]["x-remaining-calls"]]
        time.sleep(0.5)
        for _ in range(2):
            status, hdrs, _ = self.client.get("/order")
            self.assertEqual(status, 200)
            remaining.append(hdrs["x-remaining-calls"])
        self.assertEqual(remaining, ["2", "1", "0"])
        for _ in range(2):      # throttled requests are not counted
            status, hdrs, body = self.client.create(order())
            self.assertEqual(status, 429)
            self.assertEqual(body, {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."})
            self.assertEqual((hdrs["x-retry-after"], hdrs["x-remaining-calls"]), ("1", "0"))
        self.assertEqual(self.sim.orders, {})
        # a bad token is 401 (not 429) and shows the window without counting
        status, hdrs, _ = self.client.request("GET", V + "/order", headers=bearer("nope"))
        self.assertEqual((status, hdrs["x-remaining-calls"]), (401, "0"))
        # sliding: once the first request is older than the window, one call is free again, not three
        time.sleep(max(0.0, t0 + self.window + 0.05 - time.monotonic()))
        status, hdrs, _ = self.client.create(order())
        self.assertEqual((status, hdrs["x-remaining-calls"]), (201, "0"))
        self.assertEqual(self.client.get("/order")[0], 429)
        self.assertEqual(self.sim.status_counts(), {"200": 3, "429": 3, "401": 1, "201": 1})


class SharedWindowTests(SimTest):
    limit, window = 3, 30

    def test_inventory_counts_in_the_same_window(self):
        self.sim.set_inventory("SKU-A", 1)
        remaining = [self.client.get(path)[1]["x-remaining-calls"]
                     for path in ("/order", "/inventory-level", "/inventory-level/999")]
        self.assertEqual(remaining, ["2", "1", "0"])
        status, hdrs, body = self.client.get("/inventory-level")
        self.assertEqual((status, hdrs["x-remaining-calls"], body["statusCode"]), (429, "0", 429))
        self.assertGreaterEqual(int(hdrs["x-retry-after"]), 1)
        self.assertEqual(self.sim.status_counts(), {"200": 2, "404": 1, "429": 1})


class WebhookTests(SimTest):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver(body=b"ok")     # one for the class: closing one takes half a second

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()

    def setUp(self):
        super().setUp()
        self.receiver.received.clear()
        self.receiver.status = 200

    def subscribe_over_api(self, topics, path="/shipbob"):
        status, hdrs, body = self.client.request("POST", V + "/webhook", {"topics": topics,
                                                                         "url": self.receiver.url + path})
        self.assertEqual(status, 201, body)
        return body

    def assertSigned(self, hdrs, raw):
        self.assertEqual(hdrs["webhook-signature"], standard_signature(KEY, hdrs["webhook-id"],
                                                                       hdrs["webhook-timestamp"], raw))
        self.assertLessEqual(abs(int(hdrs["webhook-timestamp"]) - time.time()), 5)

    def test_subscriptions(self):
        sub = self.subscribe_over_api(["order.shipped", "order.shipment.delivered"])
        self.assertEqual((sub["id"], sub["topics"], sub["url"]),
                         (1, ["order.shipped", "order.shipment.delivered"], self.receiver.url + "/shipbob"))
        self.assertIn("created_at", sub)
        self.assertEqual(self.client.get("/webhook")[2], [sub])
        for bad in ({"topics": [], "url": "http://x/y"}, {"topics": ["order_shipped"], "url": "http://x/y"},
                    {"topics": ["order.shipped"], "url": "not a url"}, {"url": "http://x/y"}):
            status, _, body = self.client.request("POST", V + "/webhook", bad)
            self.assertEqual(status, 400, bad)
            self.assertTrue(set(body["errors"]) <= {"topics", "url"})
        helper = self.sim.subscribe(self.receiver.url + "/other", ["order.shipment.exception"])
        self.assertEqual(helper["id"], 2)
        with self.assertRaises(ValueError):
            self.sim.subscribe(self.receiver.url, ["order.nope"])
        self.assertEqual(self.client.request("DELETE", f"{V}/webhook/2")[0], 204)
        self.assertEqual(self.client.request("DELETE", f"{V}/webhook/2")[0], 404)
        self.assertEqual(list(self.sim.webhooks), [1])

    def test_ship_sends_a_signed_order_shipped(self):
        self.subscribe_over_api(["order.shipped"])
        self.sim.subscribe(self.receiver.url + "/delivered-only", ["order.shipment.delivered"])
        created = self.client.create(order())[2]
        event = self.sim.ship("wc:store1:10234", "9400111899223", carrier="USPS", carrier_service="Priority",
                              tracking_url="https://tools.usps.com/x?t=9400111899223")
        self.assertIsInstance(event, Event)
        self.assertTrue(event.webhook_id.startswith("msg_"))
        self.assertEqual(event.topic, "order.shipped")
        (path, hdrs, raw) = self.receiver.received[0]
        self.assertEqual(len(self.receiver.received), 1)          # the delivered-only subscription got nothing
        self.assertEqual(path, "/shipbob")
        self.assertEqual((hdrs["webhook-id"], hdrs["x-webhook-topic"], hdrs["content-type"]),
                         (event.webhook_id, "order.shipped", "application/json"))
        self.assertSigned(hdrs, raw)
        self.assertNotEqual(hdrs["webhook-signature"],
                            standard_signature(b"other key", hdrs["webhook-id"], hdrs["webhook-timestamp"], raw))
        payload = json.loads(raw)
        self.assertEqual(payload, dict(event))
        self.assertEqual(raw, event.body)
        self.assertEqual((payload["order_id"], payload["reference_id"], payload["shipment_id"], payload["status"],
                          payload["topic"]),
                         (created["id"], "wc:store1:10234", created["shipments"][0]["id"], "Completed",
                          "order.shipped"))
        self.assertEqual(payload["tracking"], {"carrier": "USPS", "carrier_service": "Priority",
                                               "tracking_id": "9400111899223",
                                               "tracking_url": "https://tools.usps.com/x?t=9400111899223"})
        when = datetime.datetime.strptime(payload["event_time"][:26], "%Y-%m-%dT%H:%M:%S.%f")
        self.assertTrue(payload["event_time"].endswith("Z"))
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.assertLess(abs((when - now).total_seconds()), 5)
        (call,) = self.sim.webhook_log
        self.assertEqual(call, WebhookCall(self.receiver.url + "/shipbob", call.headers, raw, 200, None))
        self.assertEqual(call.headers["webhook-id"], event.webhook_id)
        # the API shows the shipped state
        stored = self.client.get(f"/order/{created['id']}")[2]
        self.assertEqual(stored["status"], "Fulfilled")
        shipment = stored["shipments"][0]
        self.assertEqual((shipment["status"], shipment["tracking"]["tracking_number"]), ("Completed", "9400111899223"))
        self.assertEqual(self.client.get("/order", HasTracking="true")[2][0]["id"], created["id"])
        # illegal moves, unknown orders
        with self.assertRaises(ValueError):
            self.sim.ship("wc:store1:10234", "again")
        with self.assertRaises(ValueError):
            self.sim.exception("wc:store1:10234")
        with self.assertRaises(KeyError):
            self.sim.ship("nope", "x")
        self.sim.deliver("wc:store1:10234")
        self.assertEqual(self.receiver.received[-1][0], "/delivered-only")
        self.assertEqual(json.loads(self.receiver.received[-1][2])["status"], "Delivered")

    def test_hold_and_release_in_reverse_order(self):
        self.sim.subscribe(self.receiver.url + "/hook", ["order.shipped", "order.shipment.delivered",
                                                          "order.shipment.exception", "order.shipment.on_hold",
                                                          "order.shipment.cancelled"])
        self.client.create(order())
        self.client.create(order("wc:store1:10235"))
        self.sim.hold_events()
        exc = self.sim.exception("wc:store1:10234", reason="OutOfStock")
        shipped = self.sim.ship("wc:store1:10234", "T-1")
        delivered = self.sim.deliver("wc:store1:10234")
        held = self.sim.on_hold("wc:store1:10235")
        cancelled = self.sim.cancel_shipment("wc:store1:10235")
        self.assertEqual(self.receiver.received, [])
        self.assertEqual(self.sim.held_events, [exc, shipped, delivered, held, cancelled])
        # the state changed at once, only the sending waits
        self.assertEqual(self.sim.orders["wc:store1:10234"]["shipments"][0]["delivery_date"], delivered["event_time"])
        self.assertEqual(self.sim.orders["wc:store1:10235"]["status"], "Cancelled")
        times = [e["event_time"] for e in (exc, shipped, delivered, held, cancelled)]
        self.assertEqual(times, sorted(times))
        self.assertEqual(len(set(t[:23] for t in times)), 5)        # distinct even at millisecond precision
        sent = self.sim.release_events("reverse")
        self.assertEqual(sent, [cancelled, held, delivered, shipped, exc])
        got = [(h["x-webhook-topic"], h["webhook-id"]) for _, h, _ in self.receiver.received]
        self.assertEqual(got, [(e.topic, e.webhook_id) for e in sent])
        self.assertEqual([json.loads(raw)["status"] for _, _, raw in self.receiver.received],
                         ["Cancelled", "On Hold", "Delivered", "Completed", "Exception"])
        self.assertEqual(json.loads(self.receiver.received[-1][2])["status_details"][0]["name"], "OutOfStock")
        for _, hdrs, raw in self.receiver.received:
            self.assertSigned(hdrs, raw)
        self.assertEqual(len({h["webhook-id"] for _, h, _ in self.receiver.received}), 5)
        self.assertEqual(self.sim.held_events, [])
        # no longer holding; "as_is" keeps the order; explicit event times are sent as given
        self.client.create(order("wc:store1:10236"))
        first = self.sim.ship("wc:store1:10236", "T-3", event_time=datetime.datetime(2025, 1, 11, 10, 0, 0))
        self.assertEqual(first["event_time"], "2025-01-11T10:00:00.0000000Z")
        self.assertEqual(self.receiver.received[-1][1]["webhook-id"], first.webhook_id)
        self.sim.hold_events()
        a = self.sim.deliver("wc:store1:10236", event_time="2025-01-13T08:00:00Z")
        self.assertEqual(self.sim.release_events("as_is"), [a])
        self.assertEqual(json.loads(self.receiver.received[-1][2])["event_time"], "2025-01-13T08:00:00Z")
        with self.assertRaises(ValueError):
            self.sim.release_events("random")

    def test_resend_keeps_the_webhook_id(self):
        self.sim.subscribe(self.receiver.url + "/hook", ["order.shipped"])
        self.client.create(order())
        self.receiver.status = 500                 # the middleware fails: ShipBob will retry
        event = self.sim.ship("wc:store1:10234", "T-1")
        self.assertEqual(self.sim.webhook_log[-1].status, 500)
        self.receiver.status = 200
        calls = self.sim.resend(event)
        self.assertEqual([c.status for c in calls], [200])
        (_, first, raw1), (_, again, raw2) = self.receiver.received
        self.assertEqual(first["webhook-id"], again["webhook-id"])
        self.assertEqual(raw1, raw2)
        self.assertSigned(again, raw2)
        self.sim.resend(event, url=self.receiver.url + "/elsewhere")
        self.assertEqual(self.receiver.received[-1][0], "/elsewhere")
        self.assertEqual(self.receiver.received[-1][1]["webhook-id"], event.webhook_id)
        self.assertEqual([c.status for c in self.sim.webhook_log], [500, 200, 200])
        # a target that does not answer is recorded as an error
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
        (call,) = self.sim.resend(event, url=dead)
        self.assertEqual((call.url, call.status), (dead, "error"))
        self.assertEqual(self.sim.webhook_log[-1], call)

    def test_unsigned_without_a_secret(self):
        with ShipBobSim() as sim:
            sim.subscribe(self.receiver.url + "/hook", ["order.shipment.cancelled"])
            c = Client(sim.port)
            self.assertEqual(c.create(order())[0], 201)
            c.close()
            sim.cancel_shipment("wc:store1:10234")
        (_, hdrs, _) = self.receiver.received[0]
        self.assertNotIn("webhook-signature", hdrs)
        self.assertIn("webhook-id", hdrs)
        with self.assertRaises(ValueError):
            ShipBobSim(webhook_secret="whsec_!!!")


class ScriptTests(SimTest):
    def test_scripted_503_then_reset_after_commit(self):
        self.sim.script({"status": 503, "retry_after": 7, "match": {"method": "POST", "path": V + "/order"}},
                        {"reset": True, "commit": True})
        status, hdrs, body = self.client.create(order())
        self.assertEqual(status, 503)
        self.assertEqual(hdrs["x-retry-after"], "7")
        self.assertNotIn("retry-after", hdrs)
        self.assertIn("x-remaining-calls", hdrs)
        self.assertIn(b"503", body)
        self.assertEqual(self.sim.orders, {})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.client.create(order())
        self.assertIn("wc:store1:10234", self.sim.orders)       # created, answer lost
        c = Client(self.sim.port)
        self.assertEqual(c.create(order())[0], 422)              # the retry: a duplicate ...
        self.assertEqual(c.get("/order", ReferenceIds="wc:store1:10234")[2][0]["id"], 100001)   # ... look it up
        c.close()
        self.assertEqual(self.sim.requests[0], Call("POST", V + "/order", {}, order(), 503))
        self.assertEqual(self.sim.status_counts(), {"503": 1, "reset": 1, "422": 1, "200": 1})

    def test_canned_answers_hang_and_records(self):
        self.sim.script(429, {"status": 500, "count": 2}, {"status": 200, "body": {"x": 1},
                                                           "headers": {"x-remaining-calls": "0"}})
        status, hdrs, body = self.client.get("/order")
        self.assertEqual((status, hdrs["x-retry-after"]), (429, "1"))
        self.assertEqual(body, {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."})
        for _ in range(2):
            self.assertEqual(self.client.get("/order")[2], {"statusCode": 500, "message": "Internal server error"})
        status, hdrs, body = self.client.get("/order")
        self.assertEqual((status, body, hdrs["x-remaining-calls"]), (200, {"x": 1}, "0"))
        self.assertEqual(self.sim.pending_rules(), 0)
        self.sim.script({"hang": 0.3, "match": lambda r: r.method == "GET"})
        c = Client(self.sim.port, timeout=0.1)
        with self.assertRaises((socket.timeout, TimeoutError, OSError)):
            c.get("/order")
        c.close()
        self.sim.wait_until(lambda s: "hang" in s.status_counts(), timeout=2, what="the hang")
        with self.assertRaises(AssertionError):
            self.sim.wait_until(lambda s: len(s.requests) > 10, timeout=0.1)


class ProcessTests(unittest.TestCase):
    def test_standalone_process_through_serve_py(self):
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "state.json")
            with Standalone("serve.py shipbob", "--token", "t0k", "--channel-id", "77", "--version", "2026-01",
                            "--webhook-secret", SECRET, "--script", '[{"status": 503}]', "--dump", dump,
                            "--inventory", '{"SKU-A": [5, 2]}') as proc:
                c = Client(proc.port, headers=bearer("t0k", "77"))
                self.assertEqual(c.request("POST", "/2026-01/order", order())[0], 503)
                self.assertEqual(c.request("POST", "/2026-01/order", order())[0], 201)
                self.assertEqual(c.request("GET", "/2026-01/order", headers=bearer())[0], 401)
                status, _, body = c.request("GET", "/2026-01/inventory-level")
                self.assertEqual((status, body[0]["sku"], body[0]["total_fulfillable_quantity"]), (200, "SKU-A", 3))
                c.close()
            self.assertEqual(proc.returncode, 0)
            self.assertEqual(proc.summary, {"requests": 4, "orders": 1, "webhooks": 0,
                                            "status_counts": {"200": 1, "201": 1, "401": 1, "503": 1}})
            with open(dump) as f:
                state = json.load(f)
            self.assertEqual(state["orders"]["wc:store1:10234"]["channel"]["id"], 77)
            self.assertEqual(state["inventory"]["400001"]["total_committed_quantity"], 2)
            self.assertEqual([r["status"] for r in state["requests"]], [503, 201, 401, 200])

    def test_standalone_scopes(self):
        with Standalone("serve.py shipbob", "--scopes", "orders_read, channels_read") as proc:
            c = Client(proc.port)
            self.assertEqual(c.get("/inventory-level")[0], 403)
            self.assertEqual(c.get("/channel")[2][0]["scopes"], ["orders_read", "channels_read"])
            c.close()
        self.assertEqual(proc.summary["status_counts"], {"200": 1, "403": 1})


if __name__ == "__main__":
    unittest.main()
