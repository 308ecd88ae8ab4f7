"""Self-test of the ERPNext (Frappe v15) REST simulator (Python standard library only): authentication,
Customer naming, Sales Order validations and totals, listing, docstatus moves, cancellation, scripted faults,
the acknowledged-then-reset create, Sales Invoice credit notes (negative quantities, return rules, lookup by
po_no, create-then-reset), Delivery Notes (make_delivery_note, partial shipments, over-delivery, cancelling,
lookup by po_no and lr_no, create-then-reset), stock levels (Bin listing, the signed Bin webhook), and the
standalone process.

Run: cd tests/simulators && python3 -m unittest -v erpnext_sim_selftest
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import tempfile
import threading
import time
import unittest
import urllib.parse

from erpnext_sim import Call, ErpNextSim, WebhookCall
from selftest_support import Receiver, Standalone

TOKEN = {"Authorization": "token k:s"}
SO_PATH = "/api/resource/Sales Order"
SI_PATH = "/api/resource/Sales Invoice"
DN_PATH = "/api/resource/Delivery Note"
MAKE_DN = "/api/method/erpnext.selling.doctype.sales_order.sales_order.make_delivery_note"
CANCEL = "/api/method/frappe.client.cancel"


def quote_path(path):
    return urllib.parse.quote(path, safe="/:")


class Client:
    """One keep-alive connection speaking to the simulator as the connector would."""

    def __init__(self, port, timeout=5.0, headers=TOKEN):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.headers = dict(headers)

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, query=None, headers=None):
        """Returns (status, lower-case headers, parsed JSON body or raw bytes)."""
        url = quote_path(path)
        if query:
            url += "?" + urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v)
                                                 for k, v in query.items()})
        hdrs = dict(self.headers if headers is None else headers)
        raw = None
        if body is not None:
            raw = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self.conn.request(method, url, body=raw, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if hdrs.get("content-type", "").startswith("application/json"):
            data = json.loads(data)
        return resp.status, hdrs, data

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def post(self, path, body):
        return self.request("POST", path, body)

    def put(self, path, body):
        return self.request("PUT", path, body)


def server_messages(body):
    """_server_messages decoded twice: a JSON string holding a list of JSON strings."""
    outer = body["_server_messages"]
    assert isinstance(outer, str), outer
    inner = json.loads(outer)
    assert all(isinstance(m, str) for m in inner), inner
    return [json.loads(m) for m in inner]


def signature(secret, raw):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def order(**overrides):
    body = {"customer": "Jane Doe", "company": "Acme Ltd", "transaction_date": "2025-01-10",
            "delivery_date": "2025-01-14", "po_no": "wc:store1:10234", "currency": "EUR",
            "set_warehouse": "Stores - ACME", "items": [{"item_code": "SKU-1", "qty": 2, "rate": 19.99}]}
    body.update(overrides)
    return body


def credit_note(**overrides):
    """A money-only refund: a submitted return without goods, on a non-stock item."""
    body = {"customer": "Jane Doe", "company": "Acme Ltd", "is_return": 1, "po_no": "wc:store1:refund:77",
            "currency": "EUR", "remarks": "WooCommerce refund 77 of order 10234", "docstatus": 1,
            "items": [{"item_code": "WOO-REFUND", "qty": -1, "rate": 12.5}]}
    body.update(overrides)
    return body


def invoice(**overrides):
    body = {"customer": "Jane Doe", "po_no": "wc:store1:10234", "items": [{"item_code": "SKU-1", "qty": 2,
                                                                             "rate": 10}]}
    body.update(overrides)
    return body


class ErpNextSimTest(unittest.TestCase):
    def setUp(self):
        self.erp = ErpNextSim(items=("SKU-1", "SKU-2", "SKU-3"), non_stock_items=("SHIP", "WOO-REFUND"),
                              custom_fields=("woo_order_id",))
        self.c = Client(self.erp.port)
        self.assertEqual(self.c.post("/api/resource/Customer", {"customer_name": "Jane Doe"})[0], 200)

    def tearDown(self):
        self.c.close()
        self.erp.close()

    def assert_417(self, response, exc_type, text):
        status, headers, body = response
        self.assertEqual(status, 417, body)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(body["exc_type"], exc_type)
        self.assertIn(text, body["exception"])
        self.assertTrue(body["exception"].endswith(exc_type + ": " + body["exception"].split(": ", 1)[1]))
        self.assertIsInstance(json.loads(body["exc"]), list)
        messages = server_messages(body)
        self.assertTrue(any(text in m["message"] for m in messages), messages)
        return messages

    # --- auth ------------------------------------------------------------------------------------------
    def test_auth_token_basic_and_401(self):
        basic = {"Authorization": "Basic " + base64.b64encode(b"k:s").decode()}
        self.assertEqual(self.c.request("GET", "/api/resource/Customer", headers=basic)[0], 200)
        for headers in ({}, {"Authorization": "token k:wrong"}, {"Authorization": "Bearer k:s"},
                        {"Authorization": "Basic !!notbase64"}):
            status, _, body = self.c.request("GET", "/api/resource/Customer", headers=headers)
            self.assertEqual(status, 401)
            self.assertEqual(body["exc_type"], "AuthenticationError")
            self.assertEqual(body["exception"], "frappe.exceptions.AuthenticationError: Invalid API key or secret")
            self.assertEqual(server_messages(body)[0]["indicator"], "red")
        self.assertEqual([c.status for c in self.erp.requests[-5:]], [200, 401, 401, 401, 401])

    # --- Customer --------------------------------------------------------------------------------------
    def test_customer_duplicate_name_is_renamed_with_a_note_on_200(self):
        status, _, body = self.c.post("/api/resource/Customer",
                                      {"customer_name": "Jane Doe", "email_id": "jane@example.com",
                                       "customer_type": "Individual"})
        self.assertEqual(status, 200)
        self.assertEqual(body["data"]["name"], "Jane Doe - 1")
        self.assertEqual(body["data"]["email_id"], "jane@example.com")
        (note,) = server_messages(body)
        self.assertEqual(note["message"], "Changed customer name to 'Jane Doe - 1' as 'Jane Doe' already exists.")
        self.assertEqual((note["title"], note["indicator"]), ("Note", "yellow"))
        # case-insensitive, as MariaDB compares names
        status, _, body = self.c.post("/api/resource/Customer", {"customer_name": "JANE DOE"})
        self.assertEqual(body["data"]["name"], "JANE DOE - 2")
        self.assertEqual(sorted(self.erp.customers), ["JANE DOE - 2", "Jane Doe", "Jane Doe - 1"])
        self.assertEqual(self.erp.add_customer("Jane Doe"), "Jane Doe - 3")
        self.assertEqual(self.erp.add_customer("John Roe", email_id="j@example.com"), "John Roe")
        self.assertEqual(self.erp.customers["John Roe"]["email_id"], "j@example.com")

    def test_customer_name_is_mandatory(self):
        status, _, body = self.c.post("/api/resource/Customer", {"customer_type": "Company"})
        self.assertEqual(status, 417)
        self.assertEqual(body["exc_type"], "MandatoryError")
        self.assertEqual(server_messages(body)[0]["message"], "Error: Value missing for Customer: Customer Name")

    def test_get_single_and_404_without_exception(self):
        status, _, body = self.c.get("/api/resource/Customer/Jane Doe")
        self.assertEqual((status, body["data"]["customer_name"]), (200, "Jane Doe"))
        status, _, body = self.c.get("/api/resource/Sales Order/SAL-ORD-2025-09999")
        self.assertEqual(status, 404)
        self.assertEqual(body["exc_type"], "DoesNotExistError")
        self.assertNotIn("exception", body)
        self.assertEqual(server_messages(body)[0]["message"], "Sales Order SAL-ORD-2025-09999 not found")
        for method, path in (("GET", "/api/resource/Foo"), ("DELETE", SO_PATH + "/X"), ("GET", "/nothing"),
                             ("POST", "/api/method/frappe.client.unknown")):
            status, _, body = self.c.request(method, path)
            self.assertEqual(status, 404, (method, path))
            self.assertEqual(body["exc_type"], "DoesNotExistError")

    # --- Sales Order create ----------------------------------------------------------------------------
    def test_create_sales_order_totals_and_defaults(self):
        body = order(taxes=[{"charge_type": "On Net Total", "account_head": "VAT 19% - ACME", "rate": 19},
                            {"charge_type": "Actual", "account_head": "Freight - ACME", "tax_amount": 4.90}],
                     woo_order_id="10234", unknown_field="dropped")
        status, _, resp = self.c.post(SO_PATH, body)
        self.assertEqual(status, 200)
        doc = resp["data"]
        self.assertEqual(doc["name"], "SAL-ORD-2025-00001")
        self.assertEqual((doc["docstatus"], doc["status"], doc["delivery_status"], doc["billing_status"]),
                         (0, "Draft", "Not Delivered", "Not Billed"))
        self.assertEqual((doc["total"], doc["net_total"], doc["total_taxes_and_charges"], doc["grand_total"]),
                         (39.98, 39.98, 12.5, 52.48))
        self.assertEqual([t["tax_amount"] for t in doc["taxes"]], [7.6, 4.9])
        self.assertEqual(doc["items"][0]["warehouse"], "Stores - ACME")
        self.assertEqual(doc["items"][0]["delivery_date"], "2025-01-14")
        self.assertEqual(doc["items"][0]["amount"], 39.98)
        self.assertEqual(doc["customer_name"], "Jane Doe")
        self.assertEqual(doc["woo_order_id"], "10234")
        self.assertNotIn("unknown_field", doc)
        self.assertEqual(self.erp.sales_orders["SAL-ORD-2025-00001"]["grand_total"], 52.48)
        self.assertEqual(self.c.post(SO_PATH, order(po_no="wc:store1:2"))[2]["data"]["name"], "SAL-ORD-2025-00002")

    def test_discounts_inclusive_tax_and_rounding(self):
        taxes = [{"charge_type": "On Net Total", "account_head": "VAT - ACME", "rate": 19},
                 {"charge_type": "Actual", "account_head": "Freight - ACME", "tax_amount": 4.90}]
        doc = self.c.post(SO_PATH, order(po_no="a", taxes=taxes, discount_amount=5))[2]["data"]
        self.assertEqual((doc["net_total"], doc["grand_total"], doc["rounding_adjustment"]), (35.78, 47.48, 0.0))
        doc = self.c.post(SO_PATH, order(po_no="b", taxes=taxes, discount_amount=5,
                                         apply_discount_on="Net Total"))[2]["data"]
        self.assertEqual((doc["net_total"], doc["taxes"][0]["tax_amount"], doc["grand_total"]), (34.98, 6.65, 46.53))
        inclusive = [{"charge_type": "On Net Total", "account_head": "VAT - ACME", "rate": 19,
                      "included_in_print_rate": 1}]
        doc = self.c.post(SO_PATH, order(po_no="c", taxes=inclusive,
                                         items=[{"item_code": "SKU-1", "qty": 3, "rate": 9.99}]))[2]["data"]
        self.assertEqual((doc["total"], doc["net_total"], doc["grand_total"]), (29.97, 25.18, 29.97))
        doc = self.c.post(SO_PATH, order(po_no="d", currency="CHF",
                                         items=[{"item_code": "SKU-1", "qty": 1, "rate": 10.02}]))[2]["data"]
        self.assertEqual((doc["grand_total"], doc["rounded_total"], doc["rounding_adjustment"]), (10.02, 10.0, -0.02))
        doc = self.c.post(SO_PATH, order(po_no="e", items=[{"item_code": "SKU-1", "qty": 1, "rate": 1.005}]))[2]
        self.assertEqual(doc["data"]["grand_total"], 1.01)               # flt(): half up at 2 decimals
        self.assert_417(self.c.post(SO_PATH, order(po_no="f", taxes=[{"charge_type": "Actual", "account_head": "X",
                                                                     "tax_amount": 1, "included_in_print_rate": 1}])),
                        "ValidationError", "Actual type tax cannot be included in Item rate in row 1")

    def test_link_errors_are_one_message(self):
        messages = self.assert_417(self.c.post(SO_PATH, order(customer="Nobody", company="Other Ltd", items=[
            {"item_code": "SKU-1", "qty": 1, "rate": 1}, {"item_code": "NOPE", "qty": 1, "rate": 1}])),
            "LinkValidationError", "Could not find Customer: Nobody, Company: Other Ltd, Row #2: Item Code: NOPE")
        self.assertEqual(messages[0]["indicator"], "red")
        self.assertEqual(messages[0]["raise_exception"], 1)
        self.assertEqual(self.erp.sales_orders, {})

    def test_delivery_date_rules(self):
        self.assert_417(self.c.post(SO_PATH, order(delivery_date=None)), "ValidationError",
                        "Please enter Delivery Date")
        self.assert_417(self.c.post(SO_PATH, order(delivery_date=None, items=[
            {"item_code": "SKU-1", "qty": 1, "rate": 1}, {"item_code": "SKU-2", "qty": 1, "rate": 1}])),
            "ValidationError", "Please enter Delivery Date")
        messages = self.assert_417(self.c.post(SO_PATH, order(delivery_date="2025-01-09")), "ValidationError",
                                   "Expected Delivery Date should be after Sales Order Date")
        self.assertEqual((messages[0]["title"], messages[0]["indicator"]), ("Invalid Delivery Date", "orange"))
        status, _, body = self.c.post(SO_PATH, order(delivery_date=None, items=[
            {"item_code": "SKU-1", "qty": 1, "rate": 1, "delivery_date": "2025-01-20"},
            {"item_code": "SKU-2", "qty": 1, "rate": 1, "delivery_date": "2025-01-15"}]))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["data"]["delivery_date"], "2025-01-20")     # the latest item date
        # an item without a date takes the header's (itself the latest item date when items have one)
        status, _, body = self.c.post(SO_PATH, order(po_no="mixed", delivery_date=None, items=[
            {"item_code": "SKU-1", "qty": 1, "rate": 1, "delivery_date": "2025-01-12"},
            {"item_code": "SKU-2", "qty": 1, "rate": 1}]))
        self.assertEqual([i["delivery_date"] for i in body["data"]["items"]], ["2025-01-12", "2025-01-12"])

    def test_warehouse_required_for_stock_items_only(self):
        self.assert_417(self.c.post(SO_PATH, order(set_warehouse=None)), "WarehouseRequired",
                        "Delivery warehouse required for stock item SKU-1")
        status, _, body = self.c.post(SO_PATH, order(set_warehouse=None, items=[
            {"item_code": "SHIP", "qty": 1, "rate": 4.9}]))
        self.assertEqual(status, 200, body)
        status, _, body = self.c.post(SO_PATH, order(po_no="x", set_warehouse=None, items=[
            {"item_code": "sku-1", "qty": 1, "rate": 1, "warehouse": "stores - acme"}]))
        self.assertEqual(status, 200, body)
        self.assertEqual((body["data"]["items"][0]["item_code"], body["data"]["set_warehouse"]),
                         ("SKU-1", "Stores - ACME"))

    def test_zero_qty_and_mandatory(self):
        self.assert_417(self.c.post(SO_PATH, order(items=[{"item_code": "SKU-1", "qty": 0, "rate": 1}])),
                        "InvalidQtyError", "Row #1: Item quantity cannot be zero")
        status, _, body = self.c.post(SO_PATH, order(customer=None))
        self.assertEqual((status, body["exc_type"]), (417, "MandatoryError"))
        self.assertEqual([m["message"] for m in server_messages(body)],
                         ["Error: Value missing for Sales Order: Customer"])
        status, _, body = self.c.post(SO_PATH, order(items=[]))
        self.assertEqual(server_messages(body)[0]["message"], "Error: Data missing in table: Items")

    def test_duplicate_po_no_per_customer(self):
        first = self.c.post(SO_PATH, order())[2]["data"]["name"]
        messages = self.assert_417(self.c.post(SO_PATH, order()), "ValidationError",
                                   f"Sales Order <strong>{first}</strong> already exists against Customer's "
                                   f"Purchase Order <strong>wc:store1:10234</strong>")
        self.assertIn("Selling Settings", messages[0]["message"])
        # compared like MariaDB: case-insensitive
        self.assertEqual(self.c.post(SO_PATH, order(po_no="WC:STORE1:10234"))[0], 417)
        # another customer may reuse it
        self.erp.add_customer("Other Co")
        self.assertEqual(self.c.post(SO_PATH, order(customer="Other Co"))[0], 200)
        # a cancelled order does not count
        self.c.put(f"{SO_PATH}/{first}", {"docstatus": 1})
        self.c.post("/api/method/frappe.client.cancel", {"doctype": "Sales Order", "name": first})
        self.assertEqual(self.c.post(SO_PATH, order())[0], 200)

    def test_duplicate_po_no_allowed_warns_on_200(self):
        with ErpNextSim(allow_against_multiple_purchase_orders=True) as erp:
            c = Client(erp.port)
            erp.add_customer("Jane Doe")
            self.assertEqual(c.post(SO_PATH, order())[0], 200)
            status, _, body = c.post(SO_PATH, order())
            self.assertEqual(status, 200)
            (warning,) = server_messages(body)
            self.assertTrue(warning["message"].startswith("Warning: Sales Order <strong>SAL-ORD-2025-00001</strong>"))
            self.assertEqual(len(erp.sales_orders), 2)
            c.close()

    # --- listing ---------------------------------------------------------------------------------------
    def test_list_filters_fields_and_paging(self):
        for i in range(25):
            self.assertEqual(self.c.post(SO_PATH, order(po_no=f"wc:s:{i}"))[0], 200)
        status, _, body = self.c.get(SO_PATH)
        self.assertEqual(status, 200)
        self.assertEqual(len(body["data"]), 20)                           # default page length
        self.assertEqual(body["data"][0], {"name": "SAL-ORD-2025-00025"})  # only name, newest first
        self.assertEqual(len(self.c.get(SO_PATH, limit_page_length="0")[2]["data"]), 25)
        page = self.c.get(SO_PATH, limit_start="20", limit_page_length="10", order_by="name asc")[2]["data"]
        self.assertEqual([d["name"] for d in page], [f"SAL-ORD-2025-000{n}" for n in range(21, 26)])
        found = self.c.get(SO_PATH, filters=[["po_no", "=", "wc:s:7"], ["docstatus", "<", 2]],
                           fields=["name", "docstatus", "status", "po_no"])[2]["data"]
        self.assertEqual(found, [{"name": "SAL-ORD-2025-00008", "docstatus": 0, "status": "Draft", "po_no": "wc:s:7"}])
        self.assertEqual(self.c.get(SO_PATH, filters={"po_no": "WC:S:7"})[2]["data"], [{"name": "SAL-ORD-2025-00008"}])
        self.assertEqual(len(self.c.get(SO_PATH, filters=[["Sales Order", "po_no", "in", ["wc:s:1", "wc:s:2"]]],
                                        limit_page_length="0")[2]["data"]), 2)
        self.assertEqual(len(self.c.get(SO_PATH, filters=[["po_no", "!=", "wc:s:1"]], limit_page_length="0")[2]
                             ["data"]), 24)
        self.assertEqual(len(self.c.get(SO_PATH, filters=[["item_code", "=", "SKU-1"]], limit_page_length="0")[2]
                             ["data"]), 25)                               # through the child table
        self.assertEqual(self.c.get(SO_PATH, filters=[["docstatus", ">", 0]])[2]["data"], [])
        everything = self.c.get(SO_PATH, fields=["*"], limit_page_length="1")[2]["data"][0]
        self.assertEqual(everything["grand_total"], 39.98)
        self.assertNotIn("items", everything)
        status, _, body = self.c.get(SO_PATH, filters=[["po_number", "=", "x"]])
        self.assertEqual((status, body["exc_type"]), (500, "OperationalError"))
        customers = self.c.get("/api/resource/Customer", filters=[["customer_name", "like", "jane%"]],
                               fields=["name", "customer_name"])[2]["data"]
        self.assertEqual(customers, [{"name": "Jane Doe", "customer_name": "Jane Doe"}])
        self.assertEqual(self.c.get("/api/resource/Item", filters={"item_code": "SKU-2"})[2]["data"],
                         [{"name": "SKU-2"}])

    # --- stock levels ----------------------------------------------------------------------------------
    def test_set_stock_posts_a_signed_bin_document(self):
        receiver = Receiver()
        try:
            self.erp.configure_stock_webhook(receiver.url + "/webhooks/erpnext/stock", secret="whsec-1")
            doc = self.erp.set_stock("SKU-1", "Stores - ACME", 12, reserved_qty=2, ordered_qty=5)
            self.assertEqual(len(receiver.received), 1)              # set_stock returned after the POST
            path, headers, raw = receiver.received[0]
            self.assertEqual(path, "/webhooks/erpnext/stock")
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(headers["x-frappe-webhook-signature"], signature("whsec-1", raw))
            payload = json.loads(raw)
            self.assertEqual(list(payload), ["doctype", "name", "item_code", "warehouse", "actual_qty",
                                             "reserved_qty", "ordered_qty", "indented_qty", "planned_qty",
                                             "projected_qty", "reserved_qty_for_production",
                                             "reserved_qty_for_sub_contract", "stock_uom", "modified", "creation"])
            self.assertEqual(raw, json.dumps(payload).encode())      # serialised as Frappe's json.dumps does
            self.assertEqual((payload["doctype"], payload["name"], payload["item_code"], payload["warehouse"]),
                             ("Bin", "MAT-BIN-2025-00001", "SKU-1", "Stores - ACME"))
            self.assertEqual((payload["actual_qty"], payload["reserved_qty"], payload["ordered_qty"],
                              payload["projected_qty"], payload["stock_uom"]), (12.0, 2.0, 5.0, 15.0, "Nos"))
            self.assertRegex(payload["modified"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
            self.assertEqual(payload["modified"], payload["creation"])
            self.assertEqual(doc["modified"], payload["modified"])
            (call,) = self.erp.webhook_log
            self.assertIsInstance(call, WebhookCall)
            self.assertEqual((call.url, call.body, call.status, call.error),
                             (receiver.url + "/webhooks/erpnext/stock", raw, 200, None))
            # the next change: same Bin, later modified, quantities not given are 0 again
            doc = self.erp.set_stock("sku-1", "stores - acme", 7)
            payload = json.loads(receiver.received[1][2])
            self.assertEqual((payload["name"], payload["actual_qty"], payload["reserved_qty"],
                              payload["ordered_qty"], payload["projected_qty"]),
                             ("MAT-BIN-2025-00001", 7.0, 0.0, 0.0, 7.0))
            self.assertGreater(payload["modified"], payload["creation"])
            self.assertEqual(list(self.erp.bins), ["MAT-BIN-2025-00001"])
            # without a secret: no signature header
            self.erp.configure_stock_webhook(receiver.url + "/plain")
            self.erp.set_stock("SKU-2", "Stores - ACME", 1)
            self.assertNotIn("x-frappe-webhook-signature", receiver.received[2][1])
            # without a webhook: nothing is sent
            self.erp.configure_stock_webhook(None)
            self.erp.set_stock("SKU-2", "Stores - ACME", 2)
            self.assertEqual(len(receiver.received), 3)
            # a refusing receiver and a dead one are recorded, not raised
            receiver.status = 500
            self.erp.configure_stock_webhook(receiver.url + "/x", secret="s")
            self.erp.set_stock("SKU-3", "Stores - ACME", 3, wait=False)
            self.assertTrue(self.erp.wait_webhooks(timeout=5))
            self.assertEqual(self.erp.webhook_log[-1].status, 500)
        finally:
            receiver.close()
        self.erp.set_stock("SKU-3", "Stores - ACME", 4)
        self.assertEqual(self.erp.webhook_log[-1].status, "error")
        self.assertIsNotNone(self.erp.webhook_log[-1].error)
        with self.assertRaises(KeyError):
            self.erp.set_stock("NOPE", "Stores - ACME", 1)
        with self.assertRaises(KeyError):
            self.erp.set_stock("SKU-1", "Nowhere", 1)
        with self.assertRaises(ValueError):
            self.erp.set_stock("SHIP", "Stores - ACME", 1)           # a non-stock item has no Bin
        with self.assertRaises(TypeError):
            self.erp.set_stock("SKU-1", "Stores - ACME", "5")

    def test_webhook_from_constructor_and_wait_until(self):
        receiver = Receiver()
        try:
            with ErpNextSim(stock_webhook=receiver.url + "/hook", stock_webhook_secret="k2") as erp:
                erp.set_stock("SKU-1", "Stores - ACME", 3, wait=False)
                erp.wait_until(lambda e: len(e.webhook_log) == 1, timeout=5)
                (path, headers, raw), = receiver.received
                self.assertEqual(headers["x-frappe-webhook-signature"], signature("k2", raw))
        finally:
            receiver.close()

    def test_bin_listing(self):
        with ErpNextSim(warehouses=("Stores - ACME", "Shop - ACME")) as erp:
            c = Client(erp.port)
            try:
                self.assertEqual(c.get("/api/resource/Bin", filters=[["item_code", "=", "SKU-1"]])[2], {"data": []})
                erp.set_stock("SKU-1", "Stores - ACME", 10, reserved_qty=3)
                erp.set_stock("SKU-1", "Shop - ACME", 2)
                erp.set_stock("SKU-2", "Stores - ACME", 8)
                fields = ["warehouse", "actual_qty", "reserved_qty", "projected_qty"]
                status, _, body = c.get("/api/resource/Bin", filters=[["item_code", "=", "SKU-1"]], fields=fields,
                                        order_by="warehouse asc")
                self.assertEqual(status, 200)
                self.assertEqual(body["data"], [
                    {"warehouse": "Shop - ACME", "actual_qty": 2.0, "reserved_qty": 0.0, "projected_qty": 2.0},
                    {"warehouse": "Stores - ACME", "actual_qty": 10.0, "reserved_qty": 3.0, "projected_qty": 7.0}])
                body = c.get("/api/resource/Bin", filters=[["item_code", "in", ["SKU-1", "SKU-2"]],
                                                           ["warehouse", "=", "Stores - ACME"]],
                             fields=["item_code", "modified"], limit_page_length="1")[2]
                self.assertEqual([d["item_code"] for d in body["data"]], ["SKU-2"])   # newest modified first
                self.assertEqual(len(c.get("/api/resource/Bin", limit_page_length="0")[2]["data"]), 3)
                (only,) = c.get("/api/resource/Bin", filters={"item_code": "SKU-2"})[2]["data"]
                name = only["name"]
                status, _, body = c.get(f"/api/resource/Bin/{name}")
                self.assertEqual((status, body["data"]["doctype"], body["data"]["actual_qty"]), (200, "Bin", 8.0))
                self.assertEqual(c.request("GET", "/api/resource/Bin", headers={})[0], 401)
                status, _, body = c.get("/api/resource/Bin", filters=[["bin_qty", "=", 1]])
                self.assertEqual((status, body["exc_type"]), (500, "OperationalError"))
            finally:
                c.close()

    # --- docstatus -------------------------------------------------------------------------------------
    def test_submit_and_docstatus_rules(self):
        name = self.c.post(SO_PATH, order())[2]["data"]["name"]
        path = f"{SO_PATH}/{name}"
        self.assert_417(self.c.put(path, {"docstatus": 2}), "DocstatusTransitionError",
                        "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
        status, _, body = self.c.put(path, {"po_date": "2025-01-09"})       # 0 -> 0
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["po_date"]), (200, 0, "2025-01-09"))
        status, _, body = self.c.put(path, {"docstatus": 1})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["status"]), (200, 1, "To Deliver and Bill"))
        self.assert_417(self.c.put(path, {"docstatus": 0}), "DocstatusTransitionError",
                        "Cannot change docstatus from 1 (Submitted) to 0 (Draft)")
        self.assertEqual(self.c.put(path, {"po_no": "wc:store1:10234-b"})[0], 200)   # allow_on_submit
        self.assert_417(self.c.put(path, {"items": [{"item_code": "SKU-1", "qty": 3, "rate": 19.99}]}),
                        "UpdateAfterSubmitError", "Row #1: Not allowed to change <strong>Quantity</strong>")
        status, _, body = self.c.put(path, {"docstatus": 2})
        self.assertEqual((status, body["data"]["status"]), (200, "Cancelled"))
        self.assert_417(self.c.put(path, {"docstatus": 2}), "ValidationError", "Cannot edit cancelled document")
        so = self.erp.sales_orders[name]
        self.assertEqual((so["docstatus"], so["status"]), (2, "Cancelled"))
        # docstatus 1 in the POST submits at once
        body = self.c.post(SO_PATH, order(po_no="direct", docstatus=1))[2]["data"]
        self.assertEqual((body["docstatus"], body["status"]), (1, "To Deliver and Bill"))

    def test_cancel_rules(self):
        name = self.c.post(SO_PATH, order())[2]["data"]["name"]
        cancel = {"doctype": "Sales Order", "name": name}
        self.assert_417(self.c.post("/api/method/frappe.client.cancel", cancel), "DocstatusTransitionError",
                        "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
        self.c.put(f"{SO_PATH}/{name}", {"docstatus": 1})
        with self.assertRaises(KeyError):
            self.erp.set_delivered("SAL-ORD-2025-09999")
        dn = self.erp.set_delivered(name)
        self.assertEqual(dn, "MAT-DN-2025-00001")
        so = self.erp.sales_orders[name]
        self.assertEqual((so["delivery_status"], so["status"], so["per_delivered"]), ("Fully Delivered", "To Bill",
                                                                                      100.0))
        self.assert_417(self.c.post("/api/method/frappe.client.cancel", cancel), "LinkExistsError",
                        f"Cannot delete or cancel because Sales Order")
        self.assertEqual(self.c.get(f"{SO_PATH}/{name}")[2]["data"]["docstatus"], 1)
        other = self.c.post(SO_PATH, order(po_no="other", docstatus=1))[2]["data"]["name"]
        self.assertEqual(self.c.request("GET", "/api/method/frappe.client.cancel")[0], 403)
        status, _, body = self.c.post("/api/method/frappe.client.cancel", {"doctype": "Sales Order", "name": other})
        self.assertEqual((status, body["message"]["status"], body["message"]["docstatus"]), (200, "Cancelled", 2))
        self.assert_417(self.c.post("/api/method/frappe.client.cancel", {"doctype": "Sales Order", "name": other}),
                        "ValidationError", "Cannot edit cancelled document")

    # --- Delivery Notes --------------------------------------------------------------------------------
    def submitted_order(self, **overrides):
        """A submitted Sales Order of 3 x SKU-1 and 1 x SKU-2 with a shipping charge; its doc."""
        body = order(docstatus=1, po_date="2025-01-09",
                     items=[{"item_code": "SKU-1", "qty": 3, "rate": 10}, {"item_code": "SKU-2", "qty": 1, "rate": 5}],
                     taxes=[{"charge_type": "Actual", "account_head": "Freight - ACME", "tax_amount": 4.9}])
        body.update(overrides)
        status, _, answer = self.c.post(SO_PATH, body)
        self.assertEqual(status, 200, answer)
        return answer["data"]

    def assert_no_items(self, response):
        """The MandatoryError of a Delivery Note without rows (the exception names the field, the message the
        table's label)."""
        status, _, body = response
        self.assertEqual((status, body["exc_type"]), (417, "MandatoryError"), body)
        self.assertTrue(body["exception"].endswith("]: items"), body["exception"])
        self.assertEqual([m["message"] for m in server_messages(body)],
                         ["Error: Data missing in table: Delivery Note Item"])

    def mapped(self, so_name):
        status, _, body = self.c.post(MAKE_DN, {"source_name": so_name})
        self.assertEqual(status, 200, body)
        return body["message"]

    def test_delivery_note_partial_shipment_then_the_rest(self):
        so = self.submitted_order()
        sku1, sku2 = (row["name"] for row in so["items"])
        dn = self.mapped(so["name"])
        self.assertEqual((dn["doctype"], dn["__islocal"], dn["docstatus"], dn["naming_series"]),
                         ("Delivery Note", 1, 0, "MAT-DN-.YYYY.-"))
        self.assertNotIn("name", dn)
        self.assertEqual((dn["customer"], dn["customer_name"], dn["company"], dn["currency"], dn["po_no"],
                          dn["po_date"], dn["set_warehouse"]),
                         ("Jane Doe", "Jane Doe", "Acme Ltd", "EUR", "wc:store1:10234", "2025-01-09", "Stores - ACME"))
        self.assertEqual(dn["posting_date"], datetime.date.today().isoformat())
        self.assertEqual([(r["item_code"], r["qty"], r["stock_qty"], r["uom"], r["rate"], r["amount"], r["warehouse"],
                           r["against_sales_order"], r["so_detail"], r["__islocal"]) for r in dn["items"]],
                         [("SKU-1", 3.0, 3.0, "Nos", 10.0, 30.0, "Stores - ACME", so["name"], sku1, 1),
                          ("SKU-2", 1.0, 1.0, "Nos", 5.0, 5.0, "Stores - ACME", so["name"], sku2, 1)])
        self.assertEqual((dn["total"], dn["grand_total"]), (35.0, 39.9))     # the whole shipping charge is mapped
        # the 3PL shipped 2 x SKU-1: trim the rows, add the tracking, insert and submit in one call
        dn["items"] = dn["items"][:1]
        dn["items"][0]["qty"] = 2
        dn.update(docstatus=1, lr_no="1Z999AA10123456784", lr_date="2025-01-12", transporter_name="UPS",
                  instructions="ShipBob shipment 777", no_such_field="dropped")
        status, _, body = self.c.post(DN_PATH, dn)
        self.assertEqual(status, 200, body)
        first = body["data"]
        self.assertEqual((first["name"], first["doctype"], first["docstatus"], first["status"]),
                         ("MAT-DN-2025-00001", "Delivery Note", 1, "To Bill"))
        self.assertEqual((first["lr_no"], first["lr_date"], first["transporter_name"], first["instructions"],
                          first["po_no"], first["total_qty"]),
                         ("1Z999AA10123456784", "2025-01-12", "UPS", "ShipBob shipment 777", "wc:store1:10234", 2.0))
        self.assertNotIn("no_such_field", first)
        self.assertNotIn("__islocal", first)
        self.assertEqual([(r["so_detail"], r["qty"], r["docstatus"], r["parent"]) for r in first["items"]],
                         [(sku1, 2.0, 1, "MAT-DN-2025-00001")])
        so_now = self.erp.sales_orders[so["name"]]
        self.assertEqual((so_now["delivery_status"], so_now["per_delivered"], so_now["status"]),
                         ("Partly Delivered", 50.0, "To Deliver and Bill"))
        self.assertEqual([r["delivered_qty"] for r in so_now["items"]], [2.0, 0.0])
        self.assertEqual(list(self.erp.delivery_notes_by_name), ["MAT-DN-2025-00001"])
        # the rest: mapped with what is left, inserted as a draft, then submitted
        rest = self.mapped(so["name"])
        self.assertEqual([(r["item_code"], r["qty"], r["so_detail"]) for r in rest["items"]],
                         [("SKU-1", 1.0, sku1), ("SKU-2", 1.0, sku2)])
        status, _, body = self.c.post(DN_PATH, {**rest, "lr_no": "1Z999AA10123456795"})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["status"]), (200, 0, "Draft"), body)
        second = body["data"]["name"]
        self.assertEqual(self.erp.sales_orders[so["name"]]["delivery_status"], "Partly Delivered")  # drafts count not
        status, _, body = self.c.put(f"{DN_PATH}/{second}", {"docstatus": 1})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["status"]), (200, 1, "To Bill"), body)
        so_now = self.erp.sales_orders[so["name"]]
        self.assertEqual((so_now["delivery_status"], so_now["per_delivered"], so_now["status"]),
                         ("Fully Delivered", 100.0, "To Bill"))
        self.assertEqual([r["delivered_qty"] for r in so_now["items"]], [3.0, 1.0])
        # nothing left: the mapped note has no rows, and inserting it fails on the mandatory table
        empty = self.mapped(so["name"])
        self.assertEqual(empty["items"], [])
        self.assert_no_items(self.c.post(DN_PATH, {**empty, "docstatus": 1}))
        self.assertEqual(len(self.erp.delivery_notes_by_name), 2)

    def test_delivery_note_over_delivery(self):
        so = self.submitted_order()
        dn = self.mapped(so["name"])
        dn["items"] = dn["items"][:1]
        dn["items"][0]["qty"] = 2
        self.assertEqual(self.c.post(DN_PATH, {**dn, "docstatus": 1})[0], 200)
        again = self.mapped(so["name"])
        again["items"][0]["qty"] = 3            # 1 is left of SKU-1
        messages = self.assert_417(self.c.post(DN_PATH, {**again, "docstatus": 1}), "OverAllowanceError",
                                   "This document is over limit by <strong>Qty</strong> <strong>2.0</strong> for item "
                                   "<strong>SKU-1</strong>. Are you making another <strong>Delivery Note</strong> "
                                   "against the same <strong>Sales Order Item</strong>?<br><br>To allow over receipt "
                                   "/ delivery, update \"Over Receipt/Delivery Allowance\" in Stock Settings or the "
                                   "Item.")
        self.assertEqual(messages[-1]["title"], "Limit Crossed")
        self.assertEqual(list(self.erp.delivery_notes_by_name), ["MAT-DN-2025-00001"])   # nothing kept
        self.assertEqual(self.erp.sales_orders[so["name"]]["items"][0]["delivered_qty"], 2.0)
        # ERPNext checks it on submit only: the draft is kept, its submit refused
        status, _, body = self.c.post(DN_PATH, again)
        self.assertEqual((status, body["data"]["name"]), (200, "MAT-DN-2025-00002"))
        self.assert_417(self.c.put(f"{DN_PATH}/MAT-DN-2025-00002", {"docstatus": 1}), "OverAllowanceError",
                        "over limit by <strong>Qty</strong> <strong>2.0</strong>")
        self.assertEqual(self.erp.delivery_notes_by_name["MAT-DN-2025-00002"]["docstatus"], 0)

    def test_cancelling_delivery_notes_reopens_the_order(self):
        so = self.submitted_order()
        dn = self.mapped(so["name"])
        dn["items"] = dn["items"][:1]
        first = self.c.post(DN_PATH, {**dn, "docstatus": 1})[2]["data"]["name"]
        second = self.c.post(DN_PATH, {**self.mapped(so["name"]), "docstatus": 1})[2]["data"]["name"]
        self.assertEqual(self.erp.sales_orders[so["name"]]["delivery_status"], "Fully Delivered")
        cancel_so = {"doctype": "Sales Order", "name": so["name"]}
        self.assert_417(self.c.post(CANCEL, cancel_so), "LinkExistsError",
                        f"Cannot delete or cancel because Sales Order")
        status, _, body = self.c.post(CANCEL, {"doctype": "Delivery Note", "name": second})
        self.assertEqual((status, body["message"]["docstatus"], body["message"]["status"]), (200, 2, "Cancelled"))
        so_now = self.erp.sales_orders[so["name"]]
        self.assertEqual((so_now["delivery_status"], so_now["per_delivered"], so_now["status"]),
                         ("Partly Delivered", 75.0, "To Deliver and Bill"))
        self.assertEqual([r["delivered_qty"] for r in so_now["items"]], [3.0, 0.0])
        messages = self.assert_417(self.c.post(CANCEL, cancel_so), "LinkExistsError", "is linked with Delivery Note")
        self.assertIn(first, messages[-1]["message"])                   # the cancelled note no longer blocks
        self.assert_417(self.c.post(CANCEL, {"doctype": "Delivery Note", "name": second}), "ValidationError",
                        "Cannot edit cancelled document")
        status, _, body = self.c.put(f"{DN_PATH}/{first}", {"docstatus": 2})       # cancel by PUT
        self.assertEqual((status, body["data"]["status"]), (200, "Cancelled"))
        so_now = self.erp.sales_orders[so["name"]]
        self.assertEqual((so_now["delivery_status"], so_now["per_delivered"]), ("Not Delivered", 0.0))
        status, _, body = self.c.post(CANCEL, cancel_so)
        self.assertEqual((status, body["message"]["status"]), (200, "Cancelled"))
        # a cancelled order can be mapped no more
        self.assert_417(self.c.post(MAKE_DN, {"source_name": so["name"]}), "ValidationError",
                        "Cannot map because following condition fails: docstatus=1")

    def test_delivery_note_lookup_by_po_no_and_lr_no(self):
        so = self.submitted_order()
        other = self.submitted_order(po_no="wc:store1:10235")
        for so_name, lr_no in ((so["name"], "TRK-1"), (other["name"], "TRK-2")):
            self.assertEqual(self.c.post(DN_PATH, {**self.mapped(so_name), "lr_no": lr_no, "docstatus": 1})[0], 200)
        status, _, body = self.c.get(DN_PATH, filters=[["po_no", "=", "wc:store1:10234"], ["lr_no", "=", "TRK-1"],
                                                       ["docstatus", "=", 1]],
                                     fields=["name", "lr_no", "customer", "docstatus", "status"])
        self.assertEqual((status, body["data"]), (200, [{"name": "MAT-DN-2025-00001", "lr_no": "TRK-1",
                                                         "customer": "Jane Doe", "docstatus": 1,
                                                         "status": "To Bill"}]))
        self.assertEqual(self.c.get(DN_PATH, filters={"customer": "Jane Doe", "lr_no": "TRK-3"})[2]["data"], [])
        by_order = self.c.get(DN_PATH, filters=[["Delivery Note Item", "against_sales_order", "=", other["name"]]])
        self.assertEqual(by_order[2]["data"], [{"name": "MAT-DN-2025-00002"}])
        status, _, body = self.c.get(f"{DN_PATH}/MAT-DN-2025-00002")
        self.assertEqual((status, body["data"]["lr_no"], len(body["data"]["items"])), (200, "TRK-2", 2))
        self.assertEqual(self.c.get(f"{DN_PATH}/MAT-DN-2025-09999")[0], 404)
        self.assertEqual(self.c.get(DN_PATH, filters=[["tracking_no", "=", "x"]])[0], 500)    # no such column
        # lr_no cannot change once submitted (po_no can: allow_on_submit)
        self.assert_417(self.c.put(f"{DN_PATH}/MAT-DN-2025-00001", {"lr_no": "TRK-9"}), "UpdateAfterSubmitError",
                        "Not allowed to change <strong>Transport Receipt No</strong> after submission")
        status, _, body = self.c.put(f"{DN_PATH}/MAT-DN-2025-00001", {"po_no": "wc:store1:10234-b"})
        self.assertEqual((status, body["data"]["po_no"], body["data"]["lr_no"]), (200, "wc:store1:10234-b", "TRK-1"))

    def test_make_delivery_note_arguments_and_refusals(self):
        draft = self.c.post(SO_PATH, order())[2]["data"]["name"]
        messages = self.assert_417(self.c.post(MAKE_DN, {"source_name": draft}), "ValidationError",
                                   "Cannot map because following condition fails: docstatus=1")
        self.assertEqual(messages[-1]["message"], "Cannot map because following condition fails: docstatus=1")
        status, _, body = self.c.post(MAKE_DN, {"source_name": "SAL-ORD-2025-09999"})
        self.assertEqual((status, body["exc_type"]), (404, "DoesNotExistError"))
        status, _, body = self.c.post(MAKE_DN, {})
        self.assertEqual((status, body["exc_type"]), (500, "TypeError"))
        so = self.submitted_order(po_no="other")
        status, _, body = self.c.request("POST", MAKE_DN, query={"source_name": so["name"]})     # query string
        self.assertEqual((status, body["message"]["items"][0]["against_sales_order"]), (200, so["name"]))
        conn = http.client.HTTPConnection("127.0.0.1", self.erp.port, timeout=5)                 # form-encoded
        conn.request("POST", MAKE_DN, body=urllib.parse.urlencode({"source_name": so["name"]}),
                     headers={**TOKEN, "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        self.assertEqual((resp.status, len(json.loads(resp.read())["message"]["items"])), (200, 2))
        conn.close()
        self.assertEqual(self.erp.delivery_notes_by_name, {})          # mapping saves nothing

    def test_delivery_note_validations(self):
        so = self.submitted_order()
        dn = self.mapped(so["name"])
        sku1 = dn["items"][0]["so_detail"]

        def with_row(**row):
            return {**dn, "docstatus": 1, "items": [{**dn["items"][0], **row}]}
        self.assert_no_items(self.c.post(DN_PATH, {**dn, "items": []}))
        self.assert_417(self.c.post(DN_PATH, with_row(qty=0)), "InvalidQtyError",
                        "Row #1: Item quantity cannot be zero")
        self.assert_417(self.c.post(DN_PATH, with_row(qty=-1)), "ValidationError",
                        "For an item SKU-1, quantity must be positive number")
        self.assert_417(self.c.post(DN_PATH, with_row(so_detail="nosuchrow")), "ValidationError",
                        "Invalid reference Sales Order Item nosuchrow")
        other = self.submitted_order(po_no="other")
        self.assert_417(self.c.post(DN_PATH, with_row(so_detail=other["items"][0]["name"])), "ValidationError",
                        f"Invalid reference Sales Order Item {other['items'][0]['name']}")
        messages = self.assert_417(self.c.post(DN_PATH, with_row(so_detail=None)), "ValidationError",
                                   "'Sales Order Item' reference (<strong>so_detail</strong>) is missing in row "
                                   "<strong>1</strong>")
        self.assertEqual(messages[-1]["title"], "References to Sales Orders are Incomplete")
        self.assert_417(self.c.post(DN_PATH, with_row(item_code="SKU-2")), "ValidationError",
                        "Incorrect value in row 1: Item Code must be = SKU-1")
        self.erp.add_customer("John Roe")
        self.assert_417(self.c.post(DN_PATH, {**with_row(), "customer": "John Roe"}), "ValidationError",
                        "Incorrect value: Customer must be = Jane Doe")
        self.assert_417(self.c.post(DN_PATH, with_row(against_sales_order="SAL-ORD-2025-09999")),
                        "LinkValidationError", "Could not find Row #1: Against Sales Order: SAL-ORD-2025-09999")
        self.assert_417(self.c.post(DN_PATH, {**with_row(warehouse=None), "set_warehouse": None}), "ValidationError",
                        "Warehouse required for stock Item SKU-1")
        self.assert_417(self.c.post(DN_PATH, {**dn, "transporter": "UPS"}), "LinkValidationError",
                        "Could not find Transporter: UPS")
        self.assert_417(self.c.post(DN_PATH, {**dn, "naming_series": "DN-"}), "ValidationError",
                        'Series cannot be "DN-"')
        # a note against a draft order: kept as a draft, refused when submitted
        draft = self.c.post(SO_PATH, order(po_no="draft"))[2]["data"]
        row = {"item_code": "SKU-1", "qty": 1, "rate": 19.99, "warehouse": "Stores - ACME",
               "against_sales_order": draft["name"], "so_detail": draft["items"][0]["name"]}
        status, _, body = self.c.post(DN_PATH, {"customer": "Jane Doe", "items": [row]})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["po_no"]), (200, 0, "draft"), body)
        self.assert_417(self.c.put(f"{DN_PATH}/{body['data']['name']}", {"docstatus": 1}), "ValidationError",
                        f"Sales Order {draft['name']} is not submitted")
        self.assertEqual([r["delivered_qty"] for r in self.erp.sales_orders[so["name"]]["items"]], [0.0, 0.0])
        self.assertEqual(sku1, self.erp.sales_orders[so["name"]]["items"][0]["name"])

    def test_set_delivered_makes_a_real_delivery_note(self):
        so = self.submitted_order()
        dn = self.mapped(so["name"])
        dn["items"] = dn["items"][:1]
        dn["items"][0]["qty"] = 1
        self.c.post(DN_PATH, {**dn, "docstatus": 1})
        name = self.erp.set_delivered(so["name"])                       # the rest
        self.assertEqual(name, "MAT-DN-2025-00002")
        note = self.erp.delivery_notes_by_name[name]
        self.assertEqual([(r["item_code"], r["qty"], r["against_sales_order"]) for r in note["items"]],
                         [("SKU-1", 2.0, so["name"]), ("SKU-2", 1.0, so["name"])])
        self.assertEqual(self.erp.sales_orders[so["name"]]["delivery_status"], "Fully Delivered")
        self.assertEqual(self.erp.set_delivered(so["name"]), name)      # nothing left: no new note
        self.assertEqual(len(self.erp.delivery_notes_by_name), 2)
        draft = self.c.post(SO_PATH, order(po_no="draft"))[2]["data"]["name"]
        with self.assertRaises(ValueError):
            self.erp.set_delivered(draft)

    def test_ack_then_reset_next_delivery_note(self):
        so = self.submitted_order()
        self.erp.ack_then_reset_next_delivery_note()
        dn = {**self.mapped(so["name"]), "lr_no": "TRK-1", "docstatus": 1}
        self.assert_no_items(self.c.post(DN_PATH, {**dn, "items": []}))     # a refused note does not use it up
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.post(DN_PATH, dn)
        self.c.close()
        self.assertEqual(self.erp.requests[-1].status, "reset")
        self.assertEqual(self.erp.sales_orders[so["name"]]["delivery_status"], "Fully Delivered")
        # what a client must do next: look the note up by po_no and lr_no, and not make it again
        found = self.c.get(DN_PATH, filters=[["po_no", "=", "wc:store1:10234"], ["lr_no", "=", "TRK-1"],
                                             ["docstatus", "<", 2]], fields=["name", "docstatus"])[2]["data"]
        self.assertEqual(found, [{"name": "MAT-DN-2025-00001", "docstatus": 1}])
        self.assert_417(self.c.post(DN_PATH, dn), "OverAllowanceError", "over limit")   # a blind retry
        # the same through a scripted rule: served (committed), then reset
        other = self.submitted_order(po_no="other")
        self.erp.script({"reset": True, "commit": True, "match": {"method": "POST", "path_prefix": DN_PATH}})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.post(DN_PATH, {**self.mapped(other["name"]), "docstatus": 1})
        self.c.close()
        self.assertEqual((self.erp.pending_rules(), len(self.erp.delivery_notes_by_name)), (0, 2))
        self.assertEqual(self.erp.sales_orders[other["name"]]["delivery_status"], "Fully Delivered")
        third = self.submitted_order(po_no="third")                      # both are used up: answered again
        self.assertEqual(self.c.post(DN_PATH, {**self.mapped(third["name"]), "docstatus": 1})[0], 200)

    # --- Sales Invoice (credit notes) -----------------------------------------------------------------
    def test_credit_note_submitted_in_the_insert_and_found_by_po_no(self):
        status, _, body = self.c.post(SI_PATH, credit_note(unknown_field="dropped"))
        self.assertEqual(status, 200, body)
        doc = body["data"]
        self.assertEqual((doc["name"], doc["doctype"], doc["naming_series"]),
                         ("ACC-SINV-2025-00001", "Sales Invoice", "ACC-SINV-.YYYY.-"))
        self.assertEqual((doc["docstatus"], doc["status"], doc["is_return"], doc["update_stock"]), (1, "Return", 1, 0))
        self.assertEqual((doc["total"], doc["grand_total"], doc["outstanding_amount"]), (-12.5, -12.5, -12.5))
        (row,) = doc["items"]
        self.assertEqual((row["item_code"], row["qty"], row["rate"], row["amount"], row["uom"]),
                         ("WOO-REFUND", -1.0, 12.5, -12.5, "Nos"))
        self.assertEqual((row["parenttype"], row["doctype"], row["docstatus"]),
                         ("Sales Invoice", "Sales Invoice Item", 1))
        self.assertEqual((doc["customer"], doc["customer_name"], doc["company"], doc["currency"]),
                         ("Jane Doe", "Jane Doe", "Acme Ltd", "EUR"))
        self.assertEqual((doc["po_no"], doc["remarks"]),
                         ("wc:store1:refund:77", "WooCommerce refund 77 of order 10234"))
        self.assertEqual(doc["posting_date"], datetime.date.today().isoformat())
        self.assertNotIn("unknown_field", doc)
        self.assertIsNone(doc.get("return_against"))
        self.assertEqual(self.erp.sales_invoices["ACC-SINV-2025-00001"]["status"], "Return")
        # the lookup a connector makes before creating (and after an ambiguous failure)
        fields = ["name", "docstatus", "status", "grand_total", "is_return"]
        found = self.c.get(SI_PATH, filters=[["po_no", "=", "wc:store1:refund:77"], ["docstatus", "<", 2]],
                           fields=fields)[2]["data"]
        self.assertEqual(found, [{"name": "ACC-SINV-2025-00001", "docstatus": 1, "status": "Return",
                                  "grand_total": -12.5, "is_return": 1}])
        self.assertEqual(self.c.get(SI_PATH, filters={"po_no": "WC:STORE1:REFUND:77"})[2]["data"],
                         [{"name": "ACC-SINV-2025-00001"}])
        self.assertEqual(len(self.c.get(SI_PATH, filters=[["item_code", "=", "WOO-REFUND"]])[2]["data"]), 1)
        self.assertEqual(self.c.get(SI_PATH, filters=[["po_no", "=", "other"]])[2]["data"], [])
        # the path URL-encoded as a client sends it, and one document by name
        conn = http.client.HTTPConnection("127.0.0.1", self.erp.port, timeout=5)
        query = urllib.parse.urlencode({"filters": json.dumps([["po_no", "=", "wc:store1:refund:77"]])})
        conn.request("GET", "/api/resource/Sales%20Invoice?" + query, headers=TOKEN)
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["data"]), (200, [{"name": "ACC-SINV-2025-00001"}]))
        conn.request("GET", "/api/resource/Sales%20Invoice/ACC-SINV-2025-00001", headers=TOKEN)
        resp = conn.getresponse()
        self.assertEqual(json.loads(resp.read())["data"]["grand_total"], -12.5)
        conn.close()
        status, _, body = self.c.get(SI_PATH + "/ACC-SINV-2025-09999")
        self.assertEqual((status, body["exc_type"]), (404, "DoesNotExistError"))
        # a duplicate po_no is not refused on Sales Invoices: the lookup above is the client's only guard
        status, _, body = self.c.post(SI_PATH, credit_note())
        self.assertEqual((status, body["data"]["name"]), (200, "ACC-SINV-2025-00002"))
        self.assertEqual(len(self.c.get(SI_PATH, filters={"po_no": "wc:store1:refund:77"})[2]["data"]), 2)

    def test_credit_note_totals_and_taxes(self):
        taxes = [{"charge_type": "On Net Total", "account_head": "VAT 19% - ACME", "rate": 19}]
        doc = self.c.post(SI_PATH, credit_note(taxes=taxes, items=[
            {"item_code": "WOO-REFUND", "qty": -3, "rate": 9.99}, {"item_code": "SHIP", "qty": -1, "rate": 4.9}]))[2]
        doc = doc["data"]
        self.assertEqual([r["amount"] for r in doc["items"]], [-29.97, -4.9])
        self.assertEqual((doc["total"], doc["total_taxes_and_charges"], doc["grand_total"], doc["outstanding_amount"]),
                         (-34.87, -6.63, -41.5, -41.5))
        # numbers sent as text are read as Frappe's flt() reads them
        doc = self.c.post(SI_PATH, credit_note(items=[{"item_code": "WOO-REFUND", "qty": "-2", "rate": "1.005"}]))[2]
        self.assertEqual((doc["data"]["items"][0]["amount"], doc["data"]["grand_total"]), (-2.02, -2.02))

    def test_credit_note_quantity_and_rate_signs(self):
        messages = self.assert_417(self.c.post(SI_PATH, credit_note(items=[{"item_code": "WOO-REFUND", "qty": 1,
                                                                           "rate": 12.5}])),
                                   "ValidationError", "For an item WOO-REFUND, quantity must be negative number")
        self.assertEqual(messages[0]["message"], "For an item WOO-REFUND, quantity must be negative number")
        self.assertEqual(messages[0]["indicator"], "red")
        self.assert_417(self.c.post(SI_PATH, invoice(items=[{"item_code": "SKU-1", "qty": -1, "rate": 10}])),
                        "ValidationError", "For an item SKU-1, quantity must be positive number")
        self.assert_417(self.c.post(SI_PATH, credit_note(items=[{"item_code": "WOO-REFUND", "qty": 0, "rate": 1}])),
                        "InvalidQtyError", "Row #1: Item quantity cannot be zero")
        self.assert_417(self.c.post(SI_PATH, credit_note(items=[{"item_code": "WOO-REFUND", "qty": "x", "rate": 1}])),
                        "InvalidQtyError", "Row #1: Item quantity cannot be zero")
        self.assert_417(self.c.post(SI_PATH, credit_note(items=[{"item_code": "WOO-REFUND", "qty": 1, "rate": -12.5}],
                                                         is_return=0)),
                        "ValidationError", "For item <strong>WOO-REFUND</strong>, rate must be a positive number")
        self.assertEqual(self.erp.sales_invoices, {})
        # a draft is checked too: the simulator does not wait for the submit as ERPNext does
        self.assertEqual(self.c.post(SI_PATH, credit_note(docstatus=0, items=[{"item_code": "WOO-REFUND", "qty": 2,
                                                                               "rate": 1}]))[0], 417)

    def test_sales_invoice_link_and_mandatory_errors(self):
        messages = self.assert_417(self.c.post(SI_PATH, credit_note(customer="Nobody")), "LinkValidationError",
                                   "Could not find Customer: Nobody")
        self.assertEqual((messages[0]["indicator"], messages[0]["raise_exception"]), ("red", 1))
        self.assert_417(self.c.post(SI_PATH, credit_note(
            customer="Nobody", company="Other Ltd", return_against="ACC-SINV-2025-09999",
            items=[{"item_code": "WOO-REFUND", "qty": -1, "rate": 1}, {"item_code": "NOPE", "qty": -1, "rate": 1,
                                                                        "warehouse": "Nowhere"}])),
            "LinkValidationError", "Could not find Customer: Nobody, Company: Other Ltd, Return Against: "
                                   "ACC-SINV-2025-09999, Row #2: Item Code: NOPE, Row #2: Warehouse: Nowhere")
        status, _, body = self.c.post(SI_PATH, credit_note(customer=None))
        self.assertEqual((status, body["exc_type"]), (417, "MandatoryError"))
        self.assertEqual([m["message"] for m in server_messages(body)],
                         ["Error: Value missing for Sales Invoice: Customer"])
        status, _, body = self.c.post(SI_PATH, credit_note(items=[]))
        self.assertEqual(server_messages(body)[0]["message"], "Error: Data missing in table: Items")
        status, _, body = self.c.post(SI_PATH, credit_note(items=[{"qty": -1, "rate": 1}]))
        self.assertEqual(server_messages(body)[0]["message"],
                         "Error: <strong>Sales Invoice Item</strong> Row #1: Value missing for: Item Code")
        # company and currency default to the site's, as on Sales Order; case-insensitive links are canonicalised
        doc = self.c.post(SI_PATH, credit_note(company=None, currency=None, customer="jane doe",
                                               items=[{"item_code": "woo-refund", "qty": -1, "rate": 1}]))[2]["data"]
        self.assertEqual((doc["company"], doc["currency"], doc["customer"], doc["items"][0]["item_code"]),
                         ("Acme Ltd", "EUR", "Jane Doe", "WOO-REFUND"))
        self.assert_417(self.c.post(SI_PATH, credit_note(naming_series="SINV-.####")), "ValidationError",
                        'Series cannot be "SINV-.####"')
        doc = self.c.post(SI_PATH, credit_note(naming_series="ACC-SINV-RET-.YYYY.-"))[2]["data"]
        self.assertEqual(doc["name"], "ACC-SINV-RET-2025-00001")

    def test_update_stock(self):
        # a non-stock item, and a return against nothing, need no warehouse
        self.assertEqual(self.c.post(SI_PATH, credit_note(update_stock=1))[0], 200)
        self.assert_417(self.c.post(SI_PATH, credit_note(update_stock=1, items=[{"item_code": "SKU-1", "qty": -1,
                                                                                 "rate": 1}])),
                        "ValidationError", "Warehouse required for stock Item SKU-1")
        status, _, body = self.c.post(SI_PATH, credit_note(update_stock=1, set_warehouse="stores - acme", items=[
            {"item_code": "SKU-1", "qty": -1, "rate": 1}]))
        self.assertEqual((status, body["data"]["items"][0]["warehouse"]), (200, "Stores - ACME"))
        self.assertEqual(self.erp.bins, {})                              # no stock moves

    def test_return_against_rules(self):
        original = self.erp.add_sales_invoice(**invoice(docstatus=1))
        si = self.erp.sales_invoices[original]
        self.assertEqual((si["status"], si["outstanding_amount"], si["grand_total"]), ("Unpaid", 20.0, 20.0))
        draft = self.erp.add_sales_invoice(**invoice())
        self.erp.add_customer("Other Co")
        theirs = self.erp.add_sales_invoice(**invoice(customer="Other Co", docstatus=1))
        for against in (draft, theirs):
            self.assert_417(self.c.post(SI_PATH, credit_note(return_against=against)), "ValidationError",
                            f"Invalid Return Against: {against}")
        self.assert_417(self.c.post(SI_PATH, credit_note(return_against=original, conversion_rate=1.1)),
                        "ValidationError", f"Exchange Rate must be same as Sales Invoice {original} (1.0)")
        self.assert_417(self.c.post(SI_PATH, credit_note(return_against=original, update_stock=1)), "ValidationError",
                        f"'Update Stock' can not be checked because items are not delivered via {original}")
        # by default (update_outstanding_for_self 1) the credit note keeps its own negative outstanding
        doc = self.c.post(SI_PATH, credit_note(return_against=original.lower()))[2]["data"]
        self.assertEqual((doc["return_against"], doc["status"], doc["outstanding_amount"]), (original, "Return", -12.5))
        self.assertEqual(self.erp.sales_invoices[original]["outstanding_amount"], 20.0)
        # update_outstanding_for_self 0: it lowers the original's outstanding instead
        part = self.c.post(SI_PATH, credit_note(return_against=original, update_outstanding_for_self=0,
                                                items=[{"item_code": "WOO-REFUND", "qty": -1, "rate": 5}]))[2]["data"]
        self.assertEqual((part["status"], part["outstanding_amount"]), ("Return", 0.0))
        si = self.erp.sales_invoices[original]
        self.assertEqual((si["status"], si["outstanding_amount"]), ("Partly Paid", 15.0))
        rest = self.c.post(SI_PATH, credit_note(return_against=original, update_outstanding_for_self=0,
                                                items=[{"item_code": "WOO-REFUND", "qty": -1, "rate": 15}]))[2]["data"]
        si = self.erp.sales_invoices[original]
        self.assertEqual((si["status"], si["outstanding_amount"]), ("Credit Note Issued", 0.0))
        # a credit note against it blocks cancelling the original; cancelling the credit note restores it
        self.assert_417(self.c.post("/api/method/frappe.client.cancel", {"doctype": "Sales Invoice", "name": original}),
                        "LinkExistsError", f"Cannot delete or cancel because Sales Invoice")
        self.assertEqual(self.c.put(f"{SI_PATH}/{rest['name']}", {"docstatus": 2})[2]["data"]["status"], "Cancelled")
        si = self.erp.sales_invoices[original]
        self.assertEqual((si["status"], si["outstanding_amount"]), ("Partly Paid", 15.0))
        # a cancelled original is a cancelled link
        other = self.erp.add_sales_invoice(**invoice(docstatus=1))
        self.c.post("/api/method/frappe.client.cancel", {"doctype": "Sales Invoice", "name": other})
        self.assert_417(self.c.post(SI_PATH, credit_note(return_against=other)), "CancelledLinkError",
                        f"Cannot link cancelled document: Return Against: {other}")
        # not before the original's posting timestamp
        dated = self.erp.add_sales_invoice(**invoice(docstatus=1, set_posting_time=1, posting_date="2025-03-01",
                                                     posting_time="10:00:00"))
        self.assert_417(self.c.post(SI_PATH, credit_note(return_against=dated, set_posting_time=1,
                                                         posting_date="2025-02-01")),
                        "ValidationError", "Posting timestamp must be after 01-03-2025 10:00:00")
        with self.assertRaises(ValueError) as caught:
            self.erp.add_sales_invoice(**invoice(customer="Nobody"))
        self.assertEqual(str(caught.exception), "LinkValidationError: Could not find Customer: Nobody")

    def test_sales_invoice_docstatus_moves_and_posting_date(self):
        # without set_posting_time the posting date sent is replaced by today's, as ERPNext does
        draft = self.c.post(SI_PATH, invoice(posting_date="2025-01-10"))[2]["data"]
        today = datetime.date.today().isoformat()
        self.assertEqual((draft["docstatus"], draft["status"], draft["posting_date"], draft["due_date"]),
                         (0, "Draft", today, today))
        path = f"{SI_PATH}/{draft['name']}"
        self.assert_417(self.c.put(path, {"docstatus": 2}), "DocstatusTransitionError",
                        "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
        status, _, body = self.c.put(path, {"docstatus": 1})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["status"]), (200, 1, "Unpaid"))
        self.assert_417(self.c.put(path, {"docstatus": 0}), "DocstatusTransitionError",
                        "Cannot change docstatus from 1 (Submitted) to 0 (Draft)")
        self.assertEqual(self.c.put(path, {"po_no": "wc:store1:10234-b"})[2]["data"]["po_no"], "wc:store1:10234-b")
        submitted = self.c.get(path)[2]["data"]                           # the whole document sent back
        echoed = self.c.put(path, {**submitted, "po_no": "wc:store1:10234-c"})[2]["data"]
        self.assertEqual((echoed["po_no"], echoed["items"]), ("wc:store1:10234-c", submitted["items"]))
        self.assert_417(self.c.put(path, {"items": [{"item_code": "SKU-1", "qty": 3, "rate": 10}]}),
                        "UpdateAfterSubmitError", "Row #1: Not allowed to change <strong>Quantity</strong>")
        self.assert_417(self.c.put(path, {"is_return": 1}), "UpdateAfterSubmitError",
                        "Not allowed to change <strong>Is Return (Credit Note)</strong>")
        status, _, body = self.c.put(path, {"docstatus": 2})
        self.assertEqual((status, body["data"]["docstatus"], body["data"]["status"]), (200, 2, "Cancelled"))
        self.assert_417(self.c.put(path, {"docstatus": 2}), "ValidationError", "Cannot edit cancelled document")
        self.assertEqual(self.erp.sales_invoices[draft["name"]]["items"][0]["docstatus"], 2)
        # set_posting_time keeps the date sent; past the due date the invoice is Overdue once submitted
        dated = self.c.post(SI_PATH, invoice(set_posting_time=1, posting_date="2025-01-10", docstatus=1))[2]["data"]
        self.assertEqual((dated["posting_date"], dated["due_date"], dated["status"]), ("2025-01-10", "2025-01-10",
                                                                                       "Overdue"))

    def test_sales_invoice_create_then_reset_leaves_one_findable_invoice(self):
        self.erp.script({"reset": True, "commit": True, "match": {"method": "POST", "path_prefix": SI_PATH}})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.post(SI_PATH, credit_note())
        self.c.close()
        self.assertEqual(self.erp.requests[-1].status, "reset")
        self.assertEqual(self.erp.pending_rules(), 0)
        # the client's next step: look it up by po_no, find it, and not create it again
        found = self.c.get(SI_PATH, filters=[["po_no", "=", "wc:store1:refund:77"], ["docstatus", "<", 2]],
                           fields=["name", "docstatus"])[2]["data"]
        self.assertEqual(found, [{"name": "ACC-SINV-2025-00001", "docstatus": 1}])
        self.assertEqual(list(self.erp.sales_invoices), ["ACC-SINV-2025-00001"])
        # the helper: only a credit note that passes validation is created-then-reset
        self.erp.ack_then_reset_next_sales_invoice()
        self.assertEqual(self.c.post(SI_PATH, credit_note(po_no="r2", customer="Nobody"))[0], 417)
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.post(SI_PATH, credit_note(po_no="r2"))
        self.c.close()
        self.assertEqual(len(self.c.get(SI_PATH, filters={"po_no": "r2"})[2]["data"]), 1)
        self.assertEqual(self.c.post(SI_PATH, credit_note(po_no="r3"))[0], 200)
        self.assertEqual(len(self.erp.sales_invoices), 3)

    # --- scripted faults -------------------------------------------------------------------------------
    def test_scripted_429_503_508_then_normal(self):
        self.erp.script({"status": 429, "retry_after": "2"}, 503, {"status": 508})
        status, headers, body = self.c.get("/api/resource/Customer")
        self.assertEqual((status, headers["retry-after"], body["exc_type"]), (429, "2", "TooManyRequestsError"))
        status, _, body = self.c.get("/api/resource/Customer")
        self.assertEqual((status, body["exc_type"]), (503, "SessionStopped"))
        status, headers, body = self.c.get("/api/resource/Customer")
        self.assertEqual(status, 508)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        with self.assertRaises(ValueError):
            json.loads(body)
        self.assertEqual(self.c.get("/api/resource/Customer")[0], 200)
        self.assertEqual(self.erp.pending_rules(), 0)

    def test_match_only_hits_the_given_call_and_count(self):
        self.erp.script({"status": 503, "count": 2, "match": {"method": "POST", "path_prefix": SO_PATH}})
        self.assertEqual(self.c.get(SO_PATH)[0], 200)
        self.assertEqual(self.c.post(SO_PATH, order())[0], 503)
        self.assertEqual(self.c.post(SO_PATH, order())[0], 503)
        self.assertEqual(self.erp.sales_orders, {})                      # not served
        self.assertEqual(self.c.post(SO_PATH, order())[0], 200)
        self.erp.script({"status": 417, "match": lambda r: r.body and r.body.get("po_no") == "bad"})
        self.assertEqual(self.c.post(SO_PATH, order(po_no="fine"))[0], 200)
        self.assertEqual(self.c.post(SO_PATH, order(po_no="bad"))[0], 417)

    def test_reset_and_hang(self):
        self.erp.script({"reset": True})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.get("/api/resource/Customer")
        self.c.close()
        self.assertEqual(self.c.get("/api/resource/Customer")[0], 200)
        self.erp.script({"hang": 30.0})
        slow = Client(self.erp.port, timeout=0.3)
        with self.assertRaises(TimeoutError):
            slow.get("/api/resource/Customer")
        slow.close()
        self.assertEqual([c.status for c in self.erp.requests[-3:]], ["reset", 200, "hang"])
        started = time.monotonic()
        self.erp.close()
        self.assertLess(time.monotonic() - started, 2.0)

    def test_commit_then_gateway_timeout(self):
        self.erp.script({"status": 504, "commit": True, "match": {"method": "POST", "path_prefix": SO_PATH}})
        status, headers, body = self.c.post(SO_PATH, order())
        self.assertEqual(status, 504)
        self.assertIn(b"nginx", body)
        self.assertEqual(list(self.erp.sales_orders), ["SAL-ORD-2025-00001"])   # committed anyway

    def test_ack_then_reset_next_sales_order(self):
        self.erp.ack_then_reset_next_sales_order()
        self.assert_417(self.c.post(SO_PATH, order(delivery_date=None)), "ValidationError",
                        "Please enter Delivery Date")                     # a refused order does not use it up
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.c.post(SO_PATH, order())
        self.c.close()
        self.assertEqual(list(self.erp.sales_orders), ["SAL-ORD-2025-00001"])
        self.assertEqual(self.erp.requests[-1].status, "reset")
        # what a client must do next: look it up by po_no, and not create it again
        found = self.c.get(SO_PATH, filters=[["po_no", "=", "wc:store1:10234"], ["docstatus", "<", 2]])[2]["data"]
        self.assertEqual(found, [{"name": "SAL-ORD-2025-00001"}])
        self.assertEqual(self.c.post(SO_PATH, order())[0], 417)
        self.assertEqual(self.c.post(SO_PATH, order(po_no="next"))[0], 200)

    # --- plumbing --------------------------------------------------------------------------------------
    def test_keep_alive_records_and_wait_until(self):
        self.c.get("/api/resource/Customer")
        sock = self.c.conn.sock
        self.c.post(SO_PATH, order())
        self.c.get(SO_PATH, filters={"po_no": "wc:store1:10234"})
        self.assertIs(self.c.conn.sock, sock)                              # one connection throughout
        calls = self.erp.requests
        self.assertIsInstance(calls[0], Call)
        method, path, query, body, status = calls[-1]
        self.assertEqual((method, path, query, body, status),
                         ("GET", SO_PATH, {"filters": '{"po_no": "wc:store1:10234"}'}, None, 200))
        self.assertEqual(calls[-2].body["po_no"], "wc:store1:10234")
        self.assertEqual(calls[-2].path, SO_PATH)                          # URL-decoded

        def later():
            time.sleep(0.2)
            other = Client(self.erp.port)
            other.post(SO_PATH, order(po_no="late"))
            other.close()
        threading.Thread(target=later, daemon=True).start()
        self.assertTrue(self.erp.wait_until(lambda e: len(e.sales_orders) == 2, timeout=5))
        with self.assertRaises(AssertionError):
            self.erp.wait_until(lambda e: len(e.sales_orders) == 3, timeout=0.2)
        self.assertEqual(self.c.get("/api/v1/resource/Sales Order/SAL-ORD-2025-00002")[0], 200)

    def test_rate_limit_budget(self):
        with ErpNextSim(rate_limit={"limit": 0.25, "window": 3600, "cost": 0.1}) as erp:
            c = Client(erp.port)
            try:
                remaining = []
                for _ in range(3):      # rejected only once the time spent exceeds the budget
                    status, headers, _ = c.get("/api/resource/Customer")
                    self.assertEqual((status, headers["x-ratelimit-limit"]), (200, "250000"))
                    remaining.append(int(headers["x-ratelimit-remaining"]))
                self.assertEqual(remaining, [250000, 150000, 50000])
                status, headers, body = c.get("/api/resource/Customer")
                self.assertEqual((status, body["exc_type"]), (429, "TooManyRequestsError"))
                self.assertEqual(headers["x-ratelimit-remaining"], "0")
                self.assertEqual(headers["retry-after"], headers["x-ratelimit-reset"])
            finally:
                c.close()

    def test_form_encoded_and_chunked_bodies(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.erp.port, timeout=5)
        form = urllib.parse.urlencode({"data": json.dumps(order())})
        conn.request("POST", quote_path(SO_PATH), body=form,
                     headers={**TOKEN, "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["data"]["name"]), (200, "SAL-ORD-2025-00001"))
        conn.request("POST", quote_path(SO_PATH), body=iter([json.dumps(order(po_no="chunked")).encode()]),
                     headers={**TOKEN, "Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["data"]["po_no"]), (200, "chunked"))
        conn.request("POST", quote_path(SO_PATH), body=b"{not json", headers={**TOKEN,
                                                                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["exc_type"]), (500, "JSONDecodeError"))
        conn.close()

    def test_standalone_process(self):
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "state.json")
            with Standalone("erpnext_sim.py", "--items", "A,B", "--non-stock-items", "WOO-REFUND", "--script",
                            '[{"status": 503}]', "--dump", dump) as proc:
                c = Client(proc.port)
                self.assertEqual(c.get("/api/resource/Customer")[0], 503)
                self.assertEqual(c.post("/api/resource/Customer", {"customer_name": "Jane Doe"})[0], 200)
                self.assertEqual(c.post(SO_PATH, order(items=[{"item_code": "A", "qty": 1, "rate": 2}]))[0], 200)
                self.assertEqual(c.post(SI_PATH, credit_note())[0], 200)
                c.close()
            self.assertEqual(proc.returncode, 0)
            summary = proc.summary
            self.assertEqual(summary, {"requests": 4, "customers": 1, "sales_orders": 1, "sales_invoices": 1,
                                       "status_counts": {"200": 3, "503": 1}})
            with open(dump) as f:
                state = json.load(f)
            self.assertEqual(list(state["sales_orders"]), ["SAL-ORD-2025-00001"])
            self.assertEqual(state["sales_invoices"]["ACC-SINV-2025-00001"]["status"], "Return")
            self.assertEqual(state["requests"][0]["status"], 503)
            self.assertEqual((state["bins"], state["webhooks"], state["delivery_notes"]), ({}, [], {}))

    def test_standalone_process_stock_webhook(self):
        receiver = Receiver()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                dump = os.path.join(tmp, "state.json")
                stock = [{"item_code": "A", "warehouse": "Stores - ACME", "actual_qty": 5, "reserved_qty": 1}]
                with Standalone("erpnext_sim.py", "--items", "A,B", "--stock-webhook", receiver.url + "/stock",
                                "--stock-webhook-secret", "S", "--stock", json.dumps(stock), "--dump", dump) as proc:
                    c = Client(proc.port)
                    (level,) = c.get("/api/resource/Bin", filters=[["item_code", "=", "A"]],
                                     fields=["actual_qty", "projected_qty"])[2]["data"]
                    self.assertEqual(level, {"actual_qty": 5.0, "projected_qty": 4.0})
                    c.close()
                self.assertEqual(proc.returncode, 0)
                (path, headers, raw), = receiver.received
                self.assertEqual((path, headers["x-frappe-webhook-signature"]), ("/stock", signature("S", raw)))
                with open(dump) as f:
                    state = json.load(f)
                self.assertEqual(list(state["bins"]), ["MAT-BIN-2025-00001"])
                self.assertEqual((state["webhooks"][0]["status"], state["webhooks"][0]["body"]), (200, raw.decode()))
        finally:
            receiver.close()


if __name__ == "__main__":
    unittest.main()
