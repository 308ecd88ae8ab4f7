"""Self-test of the ShipStation V1 simulator (Python standard library only): Basic auth, the fixed-window
rate limit and its headers, the orderKey upsert and its validation, the refusal to update shipped or
cancelled orders, lookup and paging, soft delete, shipments (partial, full, voided) with GET /shipments and
the SHIP_NOTIFY POST, scripted faults, and the standalone process.

Run: cd tests/simulators && python3 -m unittest -v shipstation_sim_selftest
"""
import base64
import http.client
import json
import os
import socket
import tempfile
import time
import unittest
import urllib.parse

from selftest_support import JsonClient, Receiver, Standalone, overridden
from shipstation_sim import Call, Shipment, ShipStationSim


def basic(key="k", secret="s"):
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


class Client(JsonClient):
    """One keep-alive connection speaking to the simulator as the connector would."""

    @staticmethod
    def default_headers():
        return basic()

    def upsert(self, order):
        return self.request("POST", "/orders/createorder", order)

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)


def order(number="10234", key="wc:store1:10234", **overrides):
    body = {"orderNumber": number, "orderKey": key, "orderDate": "2025-01-10T09:15:00.000Z",
            "paymentDate": "2025-01-10T09:16:00.000Z", "orderStatus": "awaiting_shipment",
            "customerEmail": "jane@example.com", "billTo": {"name": "Jane Doe"},
            "shipTo": {"name": "Jane Doe", "street1": "Main St 1", "city": "Berlin", "postalCode": "10115",
                       "country": "DE", "residential": True},
            "items": [{"lineItemKey": "wc-line-551", "sku": "SKU-RED-M", "name": "T-shirt red M", "quantity": 2,
                       "unitPrice": 19.99, "taxAmount": 3.80, "weight": {"value": 200, "units": "grams"}}],
            "amountPaid": 48.68, "taxAmount": 7.60, "shippingAmount": 4.90,
            "advancedOptions": {"storeId": 12345, "customField1": key}}
    if key is None:
        del body["orderKey"]
    return overridden(body, overrides)


class SimTest(unittest.TestCase):
    limit, window = 1000, 60

    def setUp(self):
        self.sim = ShipStationSim(limit_per_minute=self.limit, window_seconds=self.window)
        self.client = Client(self.sim.port)

    def tearDown(self):
        self.client.close()
        self.sim.close()

    def assertRateHeaders(self, hdrs):
        for h in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            self.assertIn(h, hdrs)
        self.assertGreaterEqual(int(hdrs["x-rate-limit-reset"]), 1)


class OrderTests(SimTest):
    def test_auth(self):
        for headers in ({}, basic("k", "wrong"), {"Authorization": "Basic !!!"}, {"Authorization": "token k:s"}):
            status, hdrs, body = self.client.request("GET", "/orders", headers=headers)
            self.assertEqual(status, 401)
            self.assertEqual(body, {"message": "Invalid API credentials"})
            self.assertRateHeaders(hdrs)
        status, hdrs, _ = self.client.get("/orders")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["x-rate-limit-remaining"], str(self.limit - 1))  # 401s were not counted
        self.assertEqual(int(hdrs["content-length"]) > 0, True)

    def test_create_then_update_by_order_key(self):
        status, _, created = self.client.upsert(order())
        self.assertEqual(status, 200)
        self.assertIsInstance(created["orderId"], int)
        self.assertEqual(created["orderKey"], "wc:store1:10234")
        self.assertEqual(created["orderNumber"], "10234")
        self.assertEqual(created["orderStatus"], "awaiting_shipment")
        self.assertEqual(created["createDate"], created["modifyDate"])
        self.assertEqual(created["amountPaid"], 48.68)
        self.assertIsInstance(created["items"][0]["orderItemId"], int)
        time.sleep(0.01)
        status, _, updated = self.client.upsert(order(items=[], amountPaid=10.0, customerEmail=None))
        self.assertEqual(status, 200)
        self.assertEqual(updated["orderId"], created["orderId"])
        self.assertEqual(updated["createDate"], created["createDate"])
        self.assertNotEqual(updated["modifyDate"], created["modifyDate"])
        stored = self.sim.orders["wc:store1:10234"]
        self.assertEqual(stored["items"], [])
        self.assertNotIn("customerEmail", stored)       # whole order replaced, no partial update
        self.assertEqual(len(self.sim.orders), 1)
        # the stored orderId may be sent on update, another one may not
        self.assertEqual(self.client.upsert(order(orderId=created["orderId"]))[0], 200)
        status, _, body = self.client.upsert(order(orderId=created["orderId"] + 1))
        self.assertEqual(status, 400)
        self.assertIn("order.orderId", body["ModelState"])

    def test_without_order_key_is_not_idempotent(self):
        a = self.client.upsert(order(key=None))[2]
        b = self.client.upsert(order(key=None))[2]
        self.assertNotEqual(a["orderKey"], b["orderKey"])
        self.assertNotEqual(a["orderId"], b["orderId"])
        self.assertEqual(len(self.sim.orders), 2)

    def test_validation(self):
        cases = [({"orderNumber": None}, "order.orderNumber"), ({"orderNumber": "x" * 51}, "order.orderNumber"),
                 ({"orderNumber": 10234}, "order.orderNumber"), ({"orderDate": None}, "order.orderDate"),
                 ({"orderDate": "yesterday"}, "order.orderDate"), ({"orderStatus": None}, "order.orderStatus"),
                 ({"orderStatus": "processing"}, "order.orderStatus"), ({"billTo": None}, "order.billTo"),
                 ({"shipTo": None}, "order.shipTo"), ({"shipTo": "Berlin"}, "order.shipTo"),
                 ({"orderId": 5}, "order.orderId"), ({"amountPaid": "48.68"}, "order.amountPaid"),
                 ({"items": [{"sku": "A", "quantity": 1, "unitPrice": "1.00"}]}, "order.items[0].unitPrice")]
        for overrides, path in cases:
            with self.subTest(overrides=overrides):
                status, hdrs, body = self.client.upsert(order(**overrides))
                self.assertEqual(status, 400)
                self.assertEqual(body["Message"], "The request is invalid.")
                self.assertIn(path, body["ModelState"])
                self.assertIsInstance(body["ModelState"][path][0], str)
                self.assertRateHeaders(hdrs)
        self.assertEqual(self.client.upsert(order(orderNumber="x" * 50, orderDate="2025-01-10T09:15:00.1234567"))[0],
                         200)
        status, _, body = self.client.request("POST", "/orders/createorder", b"{not json")
        self.assertEqual((status, list(body["ModelState"])), (400, ["order"]))
        for status_value in ("awaiting_payment", "on_hold", "pending_fulfillment", "rejected_fulfillment"):
            self.assertEqual(self.client.upsert(order(orderStatus=status_value))[0], 200)

    def test_shipped_and_cancelled_cannot_be_updated(self):
        self.client.upsert(order())
        self.client.upsert(order("10235", "wc:store1:10235"))
        self.sim.mark_shipped("wc:store1:10234")
        self.sim.mark_cancelled("wc:store1:10235")
        for key, number, was in (("wc:store1:10234", "10234", "shipped"), ("wc:store1:10235", "10235", "cancelled")):
            status, _, body = self.client.upsert(order(number, key, orderStatus="cancelled"))
            self.assertEqual(status, 400)
            self.assertIn(was, body["ModelState"]["order.orderStatus"][0])
            self.assertEqual(self.sim.orders[key]["orderStatus"], was)
        # cancelling an open order through the upsert works, then it is frozen too
        self.client.upsert(order("10236", "wc:store1:10236"))
        self.assertEqual(self.client.upsert(order("10236", "wc:store1:10236", orderStatus="cancelled"))[0], 200)
        self.assertEqual(self.client.upsert(order("10236", "wc:store1:10236"))[0], 400)
        with self.assertRaises(KeyError):
            self.sim.mark_shipped("nope")

    def test_list_filters_and_paging(self):
        for n in range(5):
            self.client.upsert(order(f"20{n}", f"wc:s:{n}", orderStatus="on_hold" if n % 2 else "awaiting_shipment"))
        status, _, body = self.client.get("/orders", orderNumber="202")
        self.assertEqual((status, body["total"], body["page"], body["pages"]), (200, 1, 1, 1))
        self.assertEqual(body["orders"][0]["orderKey"], "wc:s:2")
        body = self.client.get("/orders", orderStatus="on_hold")[2]
        self.assertEqual([o["orderNumber"] for o in body["orders"]], ["201", "203"])
        body = self.client.get("/orders", page="2", pageSize="2")[2]
        self.assertEqual(([o["orderNumber"] for o in body["orders"]], body["total"], body["pages"]),
                         (["202", "203"], 5, 3))
        self.assertEqual(self.client.get("/orders", orderNumber="999")[2],
                         {"orders": [], "total": 0, "page": 1, "pages": 0})
        self.assertEqual(self.client.get("/orders", pageSize="1000")[2]["total"], 5)
        self.assertEqual(self.client.get("/orders", page="x")[0], 400)
        self.assertEqual(self.client.get("/Orders/")[0], 200)   # routes ignore case and a trailing slash

    def test_soft_delete(self):
        created = self.client.upsert(order())[2]
        oid = created["orderId"]
        status, hdrs, body = self.client.request("DELETE", f"/orders/{oid}")
        self.assertEqual((status, body), (200, {"success": True, "message": "The requested order has been deleted."}))
        self.assertRateHeaders(hdrs)
        self.assertEqual(self.client.get("/orders", orderNumber="10234")[2]["total"], 0)
        self.assertIn("wc:store1:10234", self.sim.orders)        # still in the database
        self.assertEqual(self.sim.inactive, {"wc:store1:10234"})
        self.assertEqual(self.client.get(f"/orders/{oid}")[2]["orderId"], oid)
        status, _, body = self.client.request("DELETE", "/orders/999")
        self.assertEqual((status, body), (404, {"message": "Resource not found"}))
        self.assertEqual(self.client.request("DELETE", "/orders/abc")[2], {"message": "Invalid request parameters"})
        # an upsert on the same key reactivates it (assumption) with the same orderId
        self.assertEqual(self.client.upsert(order())[2]["orderId"], oid)
        self.assertEqual(self.sim.inactive, set())

    def test_unknown_routes_are_404(self):
        for method, path in (("POST", "/shipments"), ("POST", "/orders/createorders"), ("GET", "/orders/createorder"),
                             ("PUT", "/orders/1"), ("GET", "/orders/1"), ("POST", "/webhooks/subscribe")):
            status, hdrs, body = self.client.request(method, path, {} if method in ("POST", "PUT") else None)
            self.assertEqual((status, body), (404, {"message": "Resource not found"}), (method, path))
            self.assertRateHeaders(hdrs)

    def test_scripted_faults_and_records(self):
        self.sim.script({"status": 500, "match": {"method": "POST", "path_prefix": "/orders/createorder"}},
                        {"status": 503, "retry_after": "3"}, 429)
        status, hdrs, body = self.client.upsert(order())
        self.assertEqual(status, 500)
        self.assertEqual(set(body), {"Message", "ExceptionMessage", "ExceptionType", "StackTrace"})
        self.assertRateHeaders(hdrs)
        status, hdrs, _ = self.client.get("/orders")
        self.assertEqual((status, hdrs["retry-after"]), (503, "3"))
        self.assertRateHeaders(hdrs)
        status, hdrs, body = self.client.get("/orders")
        self.assertEqual((status, body), (429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}))
        self.assertEqual(self.sim.pending_rules(), 0)
        self.assertEqual(self.sim.orders, {})
        self.sim.script({"status": 200, "body": {"x": 1}, "headers": {"X-Rate-Limit-Remaining": "0"}})
        status, hdrs, body = self.client.get("/orders")
        self.assertEqual((status, body, hdrs["x-rate-limit-remaining"]), (200, {"x": 1}, "0"))
        self.assertEqual(self.client.get("/orders", orderNumber="1")[0], 200)
        calls = self.sim.requests
        self.assertEqual(calls[0], Call("POST", "/orders/createorder", {}, order(), 500))
        self.assertEqual(calls[-1], Call("GET", "/orders", {"orderNumber": "1"}, None, 200))
        self.assertEqual(self.sim.status_counts(), {"500": 1, "503": 1, "429": 1, "200": 2})

    def test_commit_then_reset_and_hang(self):
        self.sim.script({"reset": True, "commit": True}, {"hang": 0.3, "count": 1})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.client.upsert(order())
        self.assertIn("wc:store1:10234", self.sim.orders)      # created, answer lost
        c = Client(self.sim.port, timeout=0.1)
        with self.assertRaises((socket.timeout, TimeoutError, OSError)):
            c.get("/orders")
        c.close()
        c = Client(self.sim.port)
        self.assertEqual(c.upsert(order())[0], 200)               # safe to retry blindly: still one order
        c.close()
        self.assertEqual(len(self.sim.orders), 1)
        self.sim.wait_until(lambda s: "hang" in s.status_counts(), timeout=2)
        self.assertEqual(self.sim.status_counts()["reset"], 1)

    def test_keep_alive_and_wait_until(self):
        for _ in range(5):
            self.assertEqual(self.client.get("/orders")[0], 200)
        self.assertEqual(len(self.sim.requests), 5)
        self.sim.wait_until(lambda s: len(s.requests) == 5, timeout=1)
        with self.assertRaises(AssertionError):
            self.sim.wait_until(lambda s: len(s.requests) == 6, timeout=0.1)


def two_line_order():
    return order(items=[{"lineItemKey": "wc-line-551", "sku": "SKU-RED-M", "name": "T-shirt red M", "quantity": 2,
                         "unitPrice": 19.99, "weight": {"value": 200, "units": "grams"}},
                        {"lineItemKey": "wc-line-552", "sku": "SKU-BLUE-L", "name": "T-shirt blue L", "quantity": 1,
                         "unitPrice": 21.0, "weight": {"value": 250, "units": "grams"}}])


class ShipmentTests(SimTest):
    def test_ship_then_list_by_batch_with_and_without_items(self):
        created = self.client.upsert(two_line_order())[2]
        shipment = self.sim.ship("wc:store1:10234", "1Z999AA10123456784", ship_date="2025-01-11")
        self.assertIsInstance(shipment, Shipment)
        self.assertIsInstance(shipment.batch_id, int)
        self.assertEqual(shipment["shipmentId"], 200000001)
        self.assertEqual((shipment["orderId"], shipment["orderKey"], shipment["orderNumber"]),
                         (created["orderId"], "wc:store1:10234", "10234"))
        self.assertEqual((shipment["shipDate"], shipment["carrierCode"], shipment["serviceCode"]),
                         ("2025-01-11", "ups", "ups_ground"))
        self.assertEqual((shipment["voided"], shipment["voidDate"], shipment["isReturnLabel"]), (False, None, False))
        self.assertEqual(shipment["shipTo"], created["shipTo"])
        self.assertEqual(shipment["weight"], {"value": 650, "units": "grams"})
        self.assertEqual(shipment["advancedOptions"]["storeId"], 12345)
        for field in ("createDate", "shipmentCost", "insuranceCost", "batchNumber", "packageCode", "confirmation",
                      "warehouseId", "marketplaceNotified", "notifyErrorMessage", "dimensions", "insuranceOptions",
                      "labelData", "formData"):
            self.assertIn(field, shipment)
        lines = shipment["shipmentItems"]
        self.assertEqual([(i["lineItemKey"], i["sku"], i["quantity"]) for i in lines],
                         [("wc-line-551", "SKU-RED-M", 2), ("wc-line-552", "SKU-BLUE-L", 1)])
        self.assertEqual(lines[0]["orderItemId"], created["items"][0]["orderItemId"])
        self.assertEqual(set(lines[0]), {"orderItemId", "lineItemKey", "sku", "name", "imageUrl", "weight", "quantity",
                                         "unitPrice", "taxAmount", "shippingAmount", "warehouseLocation", "options",
                                         "productId", "fulfillmentSku", "adjustment", "upc"})
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "shipped")

        # the resource_url form: includeShipmentItems=False leaves the lines out
        status, hdrs, body = self.client.get("/shipments", batchId=str(shipment.batch_id),
                                             includeShipmentItems="False")
        self.assertEqual((status, body["total"], body["page"], body["pages"]), (200, 1, 1, 1))
        self.assertRateHeaders(hdrs)
        (listed,) = body["shipments"]
        self.assertIsNone(listed["shipmentItems"])
        self.assertEqual({k: v for k, v in listed.items() if k != "shipmentItems"},
                         {k: v for k, v in shipment.items() if k != "shipmentItems"})
        self.assertIsNone(self.client.get("/shipments", batchId=str(shipment.batch_id))[2]["shipments"][0]
                          ["shipmentItems"])                                     # the default: no lines
        for flag in ("true", "True"):
            body = self.client.get("/shipments", batchid=str(shipment.batch_id), includeShipmentItems=flag)[2]
            self.assertEqual(body["shipments"][0]["shipmentItems"], shipment["shipmentItems"])
        self.assertEqual(self.client.get("/shipments", batchId="99")[2],
                         {"shipments": [], "total": 0, "page": 1, "pages": 0})
        self.assertEqual(self.client.get("/shipments", batchId="x")[0], 400)
        # Basic auth as everywhere
        self.assertEqual(self.client.request("GET", "/shipments", headers={})[0], 401)

    def test_filters_and_paging(self):
        self.client.upsert(order())
        self.client.upsert(order("10235", "wc:store1:10235", advancedOptions={"storeId": 777}))
        a = self.sim.ship("wc:store1:10234", "T-A", ship_date="2025-01-10")
        b = self.sim.ship("wc:store1:10235", "T-B", carrier_code="fedex", service_code="fedex_ground",
                          ship_date="2025-01-12", warehouse_id=55)
        self.assertNotEqual(a.batch_id, b.batch_id)
        self.assertEqual(b["warehouseId"], 55)

        def ids(**query):
            status, _, body = self.client.get("/shipments", **query)
            self.assertEqual(status, 200, body)
            return [s["shipmentId"] for s in body["shipments"]]
        A, B = a["shipmentId"], b["shipmentId"]
        self.assertEqual(ids(), [A, B])
        self.assertEqual(ids(orderNumber="10235"), [B])
        self.assertEqual(ids(orderId=str(a["orderId"])), [A])
        self.assertEqual(ids(trackingNumber="T-A"), [A])
        self.assertEqual(ids(carrierCode="fedex"), [B])
        self.assertEqual(ids(storeId="777"), [B])
        self.assertEqual(ids(shipDateStart="2025-01-11"), [B])
        self.assertEqual(ids(shipDateEnd="2025-01-10"), [A])
        self.assertEqual(ids(shipDateStart="2025-01-10", shipDateEnd="2025-01-12"), [A, B])
        self.assertEqual(ids(voidDateStart="2000-01-01"), [])
        body = self.client.get("/shipments", page="2", pageSize="1")[2]
        self.assertEqual(([s["shipmentId"] for s in body["shipments"]], body["total"], body["pages"]), ([B], 2, 2))
        self.assertEqual(self.client.get("/shipments", pageSize="1000")[2]["total"], 2)
        self.assertEqual(self.client.get("/shipments", shipDateStart="someday")[0], 400)
        voided = self.sim.void(B)
        self.assertEqual(ids(voidDateStart="2000-01-01"), [B])
        self.assertEqual(ids(voidDateEnd=voided["voidDate"][:10]), [B])

    def test_partial_shipments_keep_the_order_open_until_all_is_shipped(self):
        self.client.upsert(two_line_order())
        first = self.sim.ship("wc:store1:10234", "T-1", items=[{"lineItemKey": "wc-line-551", "quantity": 1}])
        self.assertEqual([(i["lineItemKey"], i["quantity"]) for i in first["shipmentItems"]], [("wc-line-551", 1)])
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "awaiting_shipment")
        self.assertEqual(self.client.upsert(two_line_order())[0], 200)   # still open, still updatable
        second = self.sim.ship("wc:store1:10234", "T-2", items=[{"sku": "SKU-BLUE-L"}])   # its full quantity
        self.assertEqual(second["shipmentItems"][0]["quantity"], 1)
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "awaiting_shipment")
        third = self.sim.ship("wc:store1:10234", "T-3", items=[{"lineItemKey": "wc-line-551", "quantity": 1}])
        stored = self.sim.orders["wc:store1:10234"]
        self.assertEqual((stored["orderStatus"], stored["shipDate"]), ("shipped", third["shipDate"]))
        self.assertEqual(len({first.batch_id, second.batch_id, third.batch_id}), 3)
        body = self.client.get("/shipments", orderNumber="10234")[2]
        self.assertEqual(body["total"], 3)
        self.assertEqual(self.client.upsert(two_line_order())[0], 400)   # shipped: frozen
        for bad in ([{"sku": "NOPE"}], [{"lineItemKey": "wc-line-551", "quantity": 0}], [{"quantity": 1}], []):
            with self.assertRaises(ValueError):
                self.sim.ship("wc:store1:10234", "T-X", items=bad)
        with self.assertRaises(KeyError):
            self.sim.ship("nope", "T-X")
        self.client.upsert(order("10236", "wc:store1:10236", orderStatus="cancelled"))
        with self.assertRaises(ValueError):
            self.sim.ship("wc:store1:10236", "T-X")

    def test_void_flips_voided_and_reopens_the_order(self):
        self.client.upsert(order())
        shipment = self.sim.ship("wc:store1:10234", "T-1")
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "shipped")
        voided = self.sim.void(shipment["shipmentId"])
        self.assertNotEqual(voided.batch_id, shipment.batch_id)
        self.assertTrue(voided["voided"])
        self.assertIsNotNone(voided["voidDate"])
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "awaiting_shipment")
        self.assertEqual(self.sim.batches, {shipment.batch_id: [shipment["shipmentId"]],
                                            voided.batch_id: [shipment["shipmentId"]]})
        # both batches list the shipment as it is now: voided
        for batch in (shipment.batch_id, voided.batch_id):
            (listed,) = self.client.get("/shipments", batchId=str(batch))[2]["shipments"]
            self.assertEqual((listed["voided"], listed["voidDate"]), (True, voided["voidDate"]))
        with self.assertRaises(ValueError):
            self.sim.void(shipment["shipmentId"])
        with self.assertRaises(KeyError):
            self.sim.void(1)
        # a new label ships it again
        self.sim.ship("wc:store1:10234", "T-2")
        self.assertEqual(self.sim.orders["wc:store1:10234"]["orderStatus"], "shipped")
        self.assertEqual(len(self.sim.shipments), 2)

    def test_notify_posts_ship_notify_with_token(self):
        self.client.upsert(order())
        shipment = self.sim.ship("wc:store1:10234", "T-1")
        receiver = Receiver(body=b"ok")
        try:
            status, body = self.sim.notify(receiver.url + "/webhooks/shipstation/main", shipment.batch_id,
                                           token="s3cr3t t0ken")
            self.assertEqual((status, body), (200, b"ok"))
            (path, hdrs, raw) = receiver.received[0]
            split = urllib.parse.urlsplit(path)
            self.assertEqual(split.path, "/webhooks/shipstation/main")
            self.assertEqual(urllib.parse.parse_qs(split.query), {"token": ["s3cr3t t0ken"]})
            self.assertEqual(hdrs["content-type"], "application/json")
            payload = json.loads(raw)
            self.assertEqual(payload, {"resource_url": f"{self.sim.url}/shipments?batchId={shipment.batch_id}"
                                                       f"&includeShipmentItems=False",
                                       "resource_type": "SHIP_NOTIFY"})
            self.assertLessEqual(len(payload["resource_url"]), 200)
            # without a token the URL is left as it is; a URL with a query gets "&token="
            self.sim.notify(receiver.url + "/hook", shipment.batch_id)
            self.sim.notify(receiver.url + "/hook?store=main", shipment.batch_id, token="t")
            self.assertEqual([p for p, _, _ in receiver.received[1:]], ["/hook", "/hook?store=main&token=t"])
        finally:
            receiver.close()
        # what the receiver does next: GET the resource_url with the same Basic credentials
        split = urllib.parse.urlsplit(payload["resource_url"])
        status, _, body = self.client.request("GET", split.path + "?" + split.query)
        self.assertEqual((status, body["shipments"][0]["shipmentId"]), (200, shipment["shipmentId"]))
        self.assertEqual(self.client.request("GET", split.path + "?" + split.query, headers={})[0], 401)
        with self.assertRaises(OSError):
            self.sim.notify(receiver.url + "/gone", shipment.batch_id, timeout=2)

    def test_scripted_faults_apply_to_shipments(self):
        self.sim.script({"status": 500, "match": {"method": "GET", "path_prefix": "/shipments"}})
        self.assertEqual(self.client.get("/shipments")[0], 500)
        self.assertEqual(self.client.get("/shipments")[0], 200)


class RateLimitTests(SimTest):
    limit, window = 5, 2

    def test_fixed_window(self):
        remaining = []
        for _ in range(5):
            status, hdrs, _ = self.client.get("/orders")
            self.assertEqual(status, 200)
            self.assertEqual(hdrs["x-rate-limit-limit"], "5")
            self.assertIn(hdrs["x-rate-limit-reset"], ("1", "2"))
            remaining.append(hdrs["x-rate-limit-remaining"])
        self.assertEqual(remaining, ["4", "3", "2", "1", "0"])
        for _ in range(2):     # throttled requests do not count, and still carry the headers
            status, hdrs, body = self.client.upsert(order())
            self.assertEqual((status, body), (429, {"statusCode": 429,
                                                    "message": "ThrottlerException: Too Many Requests"}))
            self.assertEqual(hdrs["x-rate-limit-remaining"], "0")
            self.assertRateHeaders(hdrs)
        self.assertEqual(self.sim.orders, {})
        # a wrong key gets 401 (with headers), not 429
        status, hdrs, _ = self.client.request("GET", "/orders", headers=basic("x", "y"))
        self.assertEqual(status, 401)
        self.assertRateHeaders(hdrs)
        time.sleep(int(hdrs["x-rate-limit-reset"]) + 0.05)
        status, hdrs, _ = self.client.upsert(order())
        self.assertEqual((status, hdrs["x-rate-limit-remaining"]), (200, "4"))


class ProcessTests(unittest.TestCase):
    def test_standalone_process(self):
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "state.json")
            with Standalone("shipstation_sim.py", "--script", '[{"status": 503}]', "--dump", dump) as proc:
                c = Client(proc.port)
                self.assertEqual(c.upsert(order())[0], 503)
                self.assertEqual(c.upsert(order())[0], 200)
                c.close()
            self.assertEqual(proc.returncode, 0)
            summary = proc.summary
            self.assertEqual(summary, {"requests": 2, "orders": 1, "status_counts": {"200": 1, "503": 1}})
            with open(dump) as f:
                state = json.load(f)
            self.assertIn("wc:store1:10234", state["orders"])
            self.assertEqual((state["shipments"], state["batches"]), ({}, {}))


if __name__ == "__main__":
    unittest.main()
