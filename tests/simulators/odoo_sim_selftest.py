"""Self-test of the Odoo (19.0) external API simulator (Python standard library only): both transports
(JSON-2 and legacy JSON-RPC), authentication, res.partner search-then-create, sale.order with [0, 0, vals]
lines, the non-unique client_order_ref, confirmation and cancellation rules, refunds as account.move
out_refund, stock.quant polling by write_date, the delivery stock.picking and its stock.moves (confirmation,
button_validate with the picked flag, the backorder wizard, skip_backorder and backorders, set_delivered),
domains, error shapes and statuses, scripted faults (the proxy's 429 / 502 / 503, Odoo errors per transport,
resets, hangs), the acknowledged-then-reset create, the proxy's rate limit and outage, and the standalone
process.

Run: cd tests/simulators && python3 -m unittest -v odoo_sim_selftest
"""
import http.client
import json
import os
import tempfile
import threading
import time
import unittest

from odoo_sim import COUNTRIES, NO_QUANTITY_MESSAGE, Call, OdooCall, OdooSim, odoo_call
from selftest_support import JsonClient, Standalone

KEY = "odoo-key"
RESET_ERRORS = (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)
PARTNER = {"name": "Jane Doe", "email": "jane@example.com", "phone": "+49 30 1234", "street": "Main St 1",
           "street2": "", "city": "Berlin", "zip": "10115", "country_id": COUNTRIES["DE"][0],
           "ref": "wc:store1:cust:881"}


class Client(JsonClient):
    """One keep-alive connection speaking to the simulator as the connector would, on either transport."""

    @staticmethod
    def default_headers():
        return {"Authorization": f"bearer {KEY}"}

    def j2(self, model, method, body=None, headers=None):
        """POST /json/2/<model>/<method>: (status, lower-case headers, body)."""
        return self.request("POST", f"/json/2/{model}/{method}", {} if body is None else body, headers=headers)

    def ok(self, model, method, body=None):
        """A JSON-2 call that must succeed: its result."""
        status, _, result = self.j2(model, method, body)
        assert status == 200, (status, result)
        return result

    def rpc(self, service, method, *args, rid=1):
        """POST /jsonrpc: (status, the JSON-RPC answer)."""
        body = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method,
                                                                "args": list(args)}, "id": rid}
        status, _, answer = self.request("POST", "/jsonrpc", body, headers={})
        return status, answer

    def kw(self, model, method, args=(), kwargs=None, uid=2, key=KEY, db="odoo"):
        """object.execute_kw: the JSON-RPC answer (always HTTP 200)."""
        status, answer = self.rpc("object", "execute_kw", db, uid, key, model, method, list(args), kwargs or {})
        assert status == 200, (status, answer)
        return answer


def order_vals(ref="wc:store1:10234", partner=7, **overrides):
    vals = {"partner_id": partner, "partner_invoice_id": partner, "partner_shipping_id": partner,
            "client_order_ref": ref, "origin": "WooCommerce #10234", "date_order": "2025-01-10 09:15:00",
            "order_line": [[0, 0, {"product_id": 11, "product_uom_qty": 2, "price_unit": 19.99, "discount": 0}],
                           [0, 0, {"product_id": 12, "product_uom_qty": 1, "price_unit": 5.0, "discount": 10}]]}
    vals.update(overrides)
    return vals


def refund_vals(ref="wc:store1:refund:77", partner=7, **overrides):
    vals = {"move_type": "out_refund", "partner_id": partner, "ref": ref, "invoice_origin": "S00001",
            "invoice_date": "2025-02-03", "narration": "WooCommerce refund 77",
            "invoice_line_ids": [[0, 0, {"name": "Refund of order 10234", "quantity": 1, "price_unit": 12.5}]]}
    vals.update(overrides)
    return vals


class OdooSimTest(unittest.TestCase):
    def setUp(self):
        self.odoo = OdooSim(db="odoo", login="bot@example.com", api_key=KEY, products=("SKU-1", "SKU-2", "SKU-3"))
        self.c = Client(self.odoo.port)

    def tearDown(self):
        self.c.close()
        self.odoo.close()

    def assert_error(self, response, status, name, text=None):
        """A JSON-2 error: the status, application/json and the {name, message, arguments, context, debug} body."""
        got_status, headers, body = response
        self.assertEqual(got_status, status, body)
        self.assertTrue(headers["content-type"].startswith("application/json"), headers)
        self.assertEqual(set(body), {"name", "message", "arguments", "context", "debug"})
        self.assertEqual(body["name"], name)
        self.assertEqual(body["context"], {})
        self.assertTrue(body["debug"].startswith("Traceback (most recent call last):"), body["debug"])
        self.assertTrue(body["debug"].rstrip().endswith(f"{name}: {body['message']}".rstrip()))
        if text is not None:
            self.assertIn(text, body["message"])
        self.assertEqual(body["arguments"][0], body["message"])
        return body

    def assert_rpc_error(self, answer, name, text=None, rid=1):
        """A JSON-RPC error (the HTTP status was 200): the error member and its data."""
        self.assertNotIn("result", answer)
        self.assertEqual((answer["jsonrpc"], answer["id"]), ("2.0", rid))
        error = answer["error"]
        self.assertEqual((error["code"], error["message"]), (200, "Odoo Server Error"))
        data = error["data"]
        self.assertEqual(set(data), {"name", "message", "arguments", "context", "debug"})
        self.assertEqual(data["name"], name)
        if text is not None:
            self.assertIn(text, data["message"])
        return data

    def make_partner(self):
        (pid,) = self.c.ok("res.partner", "create", {"vals_list": [PARTNER]})
        return pid

    # --- authentication ------------------------------------------------------------------------------------
    def test_json2_authentication_and_database(self):
        body = {"domain": [], "fields": ["id"]}
        status, headers, err = self.c.j2("res.partner", "search_read", body, headers={})
        self.assert_error((status, headers, err), 401, "werkzeug.exceptions.Unauthorized",
                          'User not authenticated, use the "Authorization" header')
        self.assertEqual(err["arguments"], [err["message"], 401])
        status, headers, err = self.c.j2("res.partner", "search_read", body, headers={"Authorization": "bearer nope"})
        self.assert_error((status, headers, err), 401, "werkzeug.exceptions.Unauthorized", "Invalid apikey")
        self.assertEqual(headers["www-authenticate"], "Bearer")
        self.assertEqual(self.c.j2("res.partner", "search_read", body,
                                   headers={"Authorization": f"Basic {KEY}"})[0], 401)
        for auth in (f"Bearer {KEY}", f"BEARER {KEY}", f"bearer {KEY}"):          # the scheme in any case
            self.assertEqual(self.c.j2("res.partner", "search_read", body, headers={"Authorization": auth})[:3:2],
                             (200, []))
        ok = {"Authorization": f"bearer {KEY}", "X-Odoo-Database": "odoo"}
        self.assertEqual(self.c.j2("res.partner", "search_read", body, headers=ok)[0], 200)
        status, headers, page = self.c.j2("res.partner", "search_read", body, headers={**ok, "X-Odoo-Database": "x"})
        self.assertEqual(status, 404)                                             # no database: an HTML page
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn(b"Not Found", page)

    def test_jsonrpc_authentication(self):
        self.assertEqual(self.c.rpc("common", "authenticate", "odoo", "bot@example.com", KEY, {}),
                         (200, {"jsonrpc": "2.0", "id": 1, "result": 2}))
        self.assertEqual(self.c.rpc("common", "login", "odoo", "bot@example.com", KEY)[1]["result"], 2)
        for login, key in (("bot@example.com", "wrong"), ("other@example.com", KEY), ("bot@example.com", "")):
            self.assertEqual(self.c.rpc("common", "authenticate", "odoo", login, key, {}, rid=5),
                             (200, {"jsonrpc": "2.0", "id": 5, "result": False}))
        status, answer = self.c.rpc("common", "authenticate", "nodb", "bot@example.com", KEY, {})
        self.assertEqual(status, 200)
        self.assert_rpc_error(answer, "psycopg2.OperationalError", 'database "nodb" does not exist')
        self.assertEqual(self.c.rpc("common", "version")[1]["result"]["server_serie"], "19.0")
        # execute_kw with a wrong password or uid: AccessDenied, still HTTP 200
        for uid, key in ((2, "wrong"), (3, KEY), (False, KEY)):
            data = self.assert_rpc_error(self.c.kw("res.partner", "search_read", [], {}, uid=uid, key=key),
                                         "odoo.exceptions.AccessDenied")
            self.assertEqual((data["message"], data["arguments"]), ("Access Denied", ["Access Denied"]))
        self.assertEqual(self.c.kw("res.partner", "search_read", [], {"fields": ["id"]})["result"], [])
        sim = OdooSim(password="pw")
        try:
            other = Client(sim.port)
            self.assertEqual(other.rpc("common", "authenticate", "odoo", "bot@example.com", "pw", {})[1]["result"], 2)
            self.assertEqual(other.kw("res.country", "search_count", [[["code", "=", "DE"]]], key="pw")["result"], 1)
            self.assertEqual(other.j2("res.country", "search_count", {"domain": []},
                                      headers={"Authorization": "bearer pw"})[0], 401)   # JSON-2: the API key only
            other.close()
        finally:
            sim.close()

    # --- res.partner ---------------------------------------------------------------------------------------
    def test_partner_search_then_create_and_many2one_read_back(self):
        (de,) = self.c.ok("res.country", "search_read", {"domain": [["code", "=", "DE"]], "fields": ["id"], "limit": 1})
        self.assertEqual(de, {"id": 57})
        lookup = {"domain": [["email", "=", "jane@example.com"], ["parent_id", "=", False]], "fields": ["id"],
                  "limit": 1}
        self.assertEqual(self.c.ok("res.partner", "search_read", lookup), [])
        pid = self.make_partner()
        self.assertEqual(pid, 7)
        self.assertEqual(self.c.ok("res.partner", "search_read", lookup), [{"id": pid}])
        (jane,) = self.c.ok("res.partner", "read", {"ids": [pid], "fields": ["country_id", "state_id", "parent_id",
                                                                          "type", "display_name"]})
        self.assertEqual(jane, {"id": pid, "country_id": [57, "Germany"], "state_id": False, "parent_id": False,
                                "type": "contact", "display_name": "Jane Doe"})
        self.assertEqual(self.c.ok("res.partner", "read", {"ids": [pid], "fields": ["country_id"], "load": None}),
                         [{"id": pid, "country_id": 57}])                          # load=None: bare ids
        # the delivery address: a child partner, looked up by parent, type and address
        child_lookup = {"domain": [["parent_id", "=", pid], ["type", "=", "delivery"], ["street", "=", "Dock 4"],
                                   ["zip", "=", "20095"]], "fields": ["id"], "limit": 1}
        self.assertEqual(self.c.ok("res.partner", "search_read", child_lookup), [])
        (child,) = self.c.ok("res.partner", "create", {"vals_list": [{"parent_id": pid, "type": "delivery",
                                                                       "name": "Jane Doe", "street": "Dock 4",
                                                                       "city": "Hamburg", "zip": "20095",
                                                                       "country_id": 57}]})
        self.assertEqual(self.c.ok("res.partner", "search_read", child_lookup), [{"id": child}])
        (row,) = self.c.ok("res.partner", "read", {"ids": [child], "fields": ["parent_id", "display_name"]})
        self.assertEqual(row["parent_id"], [pid, "Jane Doe"])
        self.assertEqual(row["display_name"], "Jane Doe, Jane Doe")               # Odoo's "Parent, Name"
        (unnamed,) = self.c.ok("res.partner", "create", {"vals_list": {"parent_id": pid, "type": "delivery"}})
        self.assertEqual(self.odoo.partners[unnamed]["display_name"], "Jane Doe, Delivery Address")
        # nothing is unique: the same partner again is created silently
        self.assertEqual(self.c.ok("res.partner", "create", {"vals_list": [PARTNER]}), [unnamed + 1])
        self.assertEqual(len(self.c.ok("res.partner", "search_read", {"domain": lookup["domain"]})), 2)
        self.assertEqual(self.c.ok("res.partner", "search_count", {"domain": [["id", "child_of", pid]]}), 3)
        self.assertEqual(self.c.ok("res.partner", "search_count", {"domain": [["parent_id", "child_of", pid]]}), 2)
        # a contact needs a name
        self.assert_error(self.c.j2("res.partner", "create", {"vals_list": [{"email": "x@example.com"}]}), 422,
                          "odoo.exceptions.ValidationError", "Contacts require a name")
        self.assert_error(self.c.j2("res.partner", "create", {"vals_list": [{"name": "X", "country_id": 999}]}), 404,
                          "odoo.exceptions.MissingError", "(Record: res.country(999,), User: 2)")
        self.assert_error(self.c.j2("res.partner", "create", {"vals_list": [{"name": "X", "country_id": "DE"}]}),
                          500, "builtins.ValueError", "Wrong value for res.partner.country_id: 'DE'")
        self.assertEqual(sorted(self.odoo.partners), [7, 8, 9, 10])               # the refused ones left nothing

    # --- sale.order ----------------------------------------------------------------------------------------
    def test_sale_order_create_with_lines_confirm_twice(self):
        pid = self.make_partner()
        products = self.c.ok("product.product", "search_read", {"domain": [["default_code", "in", ["SKU-1", "SKU-2"]]],
                                                                 "fields": ["id", "default_code"]})
        self.assertEqual(products, [{"id": 11, "default_code": "SKU-1"}, {"id": 12, "default_code": "SKU-2"}])
        lookup = {"domain": [["client_order_ref", "=", "wc:store1:10234"]],
                  "fields": ["id", "name", "state", "partner_id", "delivery_status"], "limit": 1}
        self.assertEqual(self.c.ok("sale.order", "search_read", lookup), [])
        (so,) = self.c.ok("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        self.assertEqual(self.c.ok("sale.order", "search_read", lookup),
                         [{"id": so, "name": "S00001", "state": "draft", "partner_id": [pid, "Jane Doe"],
                           "delivery_status": False}])
        stored = self.odoo.sale_orders[so]
        self.assertEqual((stored["amount_total"], stored["partner_shipping_id"], stored["date_order"]),
                         (44.48, [pid, "Jane Doe"], "2025-01-10 09:15:00"))
        lines = self.c.ok("sale.order.line", "search_read", {"domain": [["order_id", "=", so]],
                                                             "fields": ["product_id", "product_uom_qty", "price_unit",
                                                                        "discount", "price_subtotal", "name"]})
        self.assertEqual([(r["product_id"], r["price_subtotal"]) for r in lines],
                         [([11, "[SKU-1] Product SKU-1"], 39.98), ([12, "[SKU-2] Product SKU-2"], 4.5)])
        self.assertEqual(stored["order_line"], [r["id"] for r in lines])
        self.assertIs(self.c.ok("sale.order", "action_confirm", {"ids": [so]}), True)
        (row,) = self.c.ok("sale.order", "search_read", lookup)
        self.assertEqual((row["state"], row["delivery_status"]), ("sale", "pending"))
        self.assert_error(self.c.j2("sale.order", "action_confirm", {"ids": [so]}), 422, "odoo.exceptions.UserError",
                          "Some orders are not in a state requiring confirmation.")
        self.assert_rpc_error(self.c.kw("sale.order", "action_confirm", [[so]]), "odoo.exceptions.UserError",
                              "Some orders are not in a state requiring confirmation.")
        self.assert_error(self.c.j2("sale.order", "action_confirm", {"ids": [99]}), 404, "odoo.exceptions.MissingError",
                          "(Record: sale.order(99,), User: 2)")

    def test_same_client_order_ref_twice_creates_two_orders(self):
        pid = self.make_partner()
        first = self.c.ok("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        second = self.c.ok("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        self.assertEqual((first, second), ([1], [2]))
        found = self.c.ok("sale.order", "search_read", {"domain": [["client_order_ref", "=", "wc:store1:10234"]],
                                                        "fields": ["name"]})
        self.assertEqual([r["name"] for r in found], ["S00002", "S00001"])   # _order: date_order desc, id desc

    def test_bad_lines_and_values_are_refused_whole(self):
        pid = self.make_partner()
        plain = order_vals(partner=pid, order_line=[{"product_id": 11, "product_uom_qty": 1, "price_unit": 2}])
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [plain]}), 422,
                          "odoo.exceptions.ValidationError", "Invalid command for the one2many field "
                                                             "sale.order.order_line")
        self.assert_rpc_error(self.c.kw("sale.order", "create", [[plain]]), "odoo.exceptions.ValidationError",
                              "Lines are created with [0, 0, {values}]")
        ghost = order_vals(partner=pid, order_line=[[0, 0, {"product_id": 999, "product_uom_qty": 1}]])
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [ghost]}), 404,
                          "odoo.exceptions.MissingError", "(Record: product.product(999,), User: 2)")
        no_product = order_vals(partner=pid, order_line=[[0, 0, {"product_uom_qty": 1, "price_unit": 3}]])
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [no_product]}), 422,
                          "odoo.exceptions.ValidationError", "Missing required fields on accountable sale order line.")
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [order_vals(partner=False)]}), 422,
                          "odoo.exceptions.ValidationError", "Field: Customer (partner_id)")
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [order_vals(partner=pid, x_foo=1)]}), 500,
                          "builtins.ValueError", "Invalid field 'x_foo' on model 'sale.order'")
        self.assert_error(self.c.j2("sale.order", "create",
                                    {"vals_list": [order_vals(partner=pid, date_order="2025-01-10T09:15:00Z")]}),
                          500, "builtins.ValueError", "does not match format '%Y-%m-%d %H:%M:%S'")
        # one bad order in a vals_list undoes the good one before it: one transaction per call
        self.assertEqual(self.c.j2("sale.order", "create", {"vals_list": [order_vals(partner=pid), plain]})[0], 422)
        self.assertEqual((self.odoo.sale_orders, self.odoo.sale_order_lines), ({}, {}))
        # ids and order numbers that failed calls drew are not reused (PostgreSQL sequences): gaps
        (so,) = self.c.ok("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        self.assertEqual((so, self.odoo.sale_orders[so]["name"]), (4, "S00004"))

    def test_cancel_rules(self):
        pid = self.make_partner()
        draft, confirmed, delivered = self.c.ok("sale.order", "create", {"vals_list": [
            order_vals("a", pid), order_vals("b", pid), order_vals("c", pid)]})
        self.assertIs(self.c.ok("sale.order", "action_cancel", {"ids": [draft]}), True)     # a quotation: at once
        self.c.ok("sale.order", "action_confirm", {"ids": [confirmed, delivered]})
        wizard = self.c.ok("sale.order", "action_cancel", {"ids": [confirmed]})
        self.assertEqual((wizard["type"], wizard["res_model"], wizard["name"]),
                         ("ir.actions.act_window", "sale.order.cancel", "Cancel Sales Order"))
        self.assertEqual(self.odoo.sale_orders[confirmed]["state"], "sale")             # nothing was cancelled
        nowarn = {"disable_cancel_warning": True}
        self.assertIs(self.c.ok("sale.order", "action_cancel", {"ids": [confirmed], "context": nowarn}), True)
        self.assertEqual(self.odoo.sale_orders[confirmed]["state"], "cancel")
        self.odoo.set_delivered("S00003")
        self.assertEqual(self.odoo.sale_orders[delivered]["delivery_status"], "full")
        self.assertEqual(self.odoo.sale_order_lines[5]["qty_delivered"], 2.0)
        self.assert_error(self.c.j2("sale.order", "action_cancel", {"ids": [delivered], "context": nowarn}), 422,
                          "odoo.exceptions.UserError", "it has been delivered")
        self.assert_rpc_error(self.c.kw("sale.order", "action_cancel", [[delivered]], {"context": nowarn}),
                              "odoo.exceptions.UserError", "it has been delivered")
        with self.assertRaisesRegex(ValueError, "a validated picking is not undone"):
            self.odoo.set_delivered(delivered, "partial")                         # done pickings stay done
        partly, fresh = self.c.ok("sale.order", "create", {"vals_list": [order_vals("d", pid), order_vals("e", pid)]})
        self.c.ok("sale.order", "action_confirm", {"ids": [partly, fresh]})
        self.assertEqual(self.odoo.set_delivered(partly, "partial")["delivery_status"], "partial")
        self.assertEqual(self.c.j2("sale.order", "action_cancel", {"ids": [partly], "context": nowarn})[0], 422)
        self.assertEqual(self.odoo.set_delivered(fresh, "pending")["delivery_status"], "pending")   # nothing done
        self.odoo.lock_order(fresh)
        self.assert_error(self.c.j2("sale.order", "action_cancel", {"ids": [fresh], "context": nowarn}), 422,
                          "odoo.exceptions.UserError", "You cannot cancel a locked order. Please unlock it first.")
        self.assertIsNone(self.c.ok("sale.order", "action_unlock", {"ids": [fresh]}))
        self.assertIs(self.c.kw("sale.order", "action_cancel", [[fresh]], {"context": nowarn})["result"], True)
        (picking,) = [p for p in self.odoo.pickings.values() if p["sale_id"][0] == fresh]
        self.assertEqual(picking["state"], "cancel")                               # sale_stock cancels it too
        self.assertEqual({m["state"] for m in self.odoo.stock_moves.values() if m["picking_id"][0] == picking["id"]},
                         {"cancel"})
        with self.assertRaises(ValueError):
            self.odoo.set_delivered(draft)                                        # cancelled: no deliveries
        with OdooSim(cancel_wizard=False) as lenient:
            c = Client(lenient.port)
            c.ok("res.partner", "create", {"vals_list": [PARTNER]})
            (so,) = c.ok("sale.order", "create", {"vals_list": [order_vals()]})
            c.ok("sale.order", "action_confirm", {"ids": [so]})
            self.assertIs(c.ok("sale.order", "action_cancel", {"ids": [so]}), True)
            c.close()

    # --- stock.picking / stock.move: a 3PL's shipment recorded in Odoo ------------------------------------
    def on(self, transport, model, method, ids=None, context=None, **kwargs):
        """One call on either transport: (True, result) or (False, the error's {name, message, ...}); a JSON-2
        error must be a 422 UserError."""
        if transport == "json2":
            body = dict(kwargs, **({} if ids is None else {"ids": ids}), **({} if context is None else
                                                                              {"context": context}))
            status, _, result = self.c.j2(model, method, body)
            if status == 200:
                return True, result
            self.assertEqual((status, result["name"]), (422, "odoo.exceptions.UserError"), result)
            return False, result
        kw = dict(kwargs, **({} if context is None else {"context": context}))
        answer = self.c.kw(model, method, [] if ids is None else [ids], kw)
        if "error" in answer:
            return False, self.assert_rpc_error(answer, "odoo.exceptions.UserError")
        return True, answer.get("result")

    def ok_on(self, transport, model, method, ids=None, context=None, **kwargs):
        done, result = self.on(transport, model, method, ids, context, **kwargs)
        self.assertTrue(done, result)
        return result

    def confirmed_order(self, transport, ref, lines):
        if not self.odoo.partners:
            self.make_partner()
        (so,) = self.c.ok("sale.order", "create", {"vals_list": [order_vals(ref, 7, order_line=[
            [0, 0, {"product_id": pid, "product_uom_qty": qty}] for pid, qty in lines])]})
        self.assertIs(self.ok_on(transport, "sale.order", "action_confirm", [so]), True)
        return so

    def pickings_of(self, transport, so, fields=("name", "state", "backorder_id", "carrier_tracking_ref")):
        return self.ok_on(transport, "stock.picking", "search_read",
                          domain=[["sale_id", "=", so], ["picking_type_code", "=", "outgoing"]], fields=list(fields),
                          order="id")

    def moves_of(self, transport, picking):
        return self.ok_on(transport, "stock.move", "search_read", domain=[["picking_id", "=", picking]],
                          fields=["product_id", "product_uom_qty", "quantity", "picked", "state", "sale_line_id"])

    def test_confirm_creates_the_delivery_picking_with_a_move_per_goods_line(self):
        with OdooSim(services=("SHIP-WOO",)) as odoo:
            c = Client(odoo.port)
            self.assertEqual([(p["default_code"], p["type"], p["is_storable"]) for p in odoo.products.values()],
                             [("SKU-1", "consu", True), ("SKU-2", "consu", True), ("SKU-3", "consu", True),
                              ("SHIP-WOO", "service", False)])
            c.ok("res.partner", "create", {"vals_list": [PARTNER]})
            (ship_to,) = c.ok("res.partner", "create", {"vals_list": [{"parent_id": 7, "type": "delivery",
                                                                        "city": "Hamburg"}]})
            (so,) = c.ok("sale.order", "create", {"vals_list": [order_vals(partner=7, partner_shipping_id=ship_to,
                                                                           order_line=[
                [0, 0, {"display_type": "line_section", "name": "Goods"}],
                [0, 0, {"product_id": 11, "product_uom_qty": 2}], [0, 0, {"product_id": 12, "product_uom_qty": 1}],
                [0, 0, {"product_id": 14, "product_uom_qty": 1, "price_unit": 4.95}]])]})
            self.assertEqual(c.ok("sale.order", "search_read", {"domain": [["id", "=", so]],
                                                                "fields": ["picking_ids"]}), [{"id": so,
                                                                                               "picking_ids": []}])
            c.ok("sale.order", "action_confirm", {"ids": [so]})
            (picking,) = c.ok("stock.picking", "search_read", {
                "domain": [["sale_id", "=", so], ["picking_type_code", "=", "outgoing"], ["state", "=", "assigned"]],
                "fields": ["name", "picking_type_code", "picking_type_id", "state", "origin", "sale_id", "partner_id",
                           "location_id", "location_dest_id", "carrier_tracking_ref", "backorder_id", "date_done",
                           "move_ids"]})
            self.assertEqual(picking, {
                "id": 1, "name": "WH/OUT/00001", "picking_type_code": "outgoing",
                "picking_type_id": [2, "My Company: Delivery Orders"], "state": "assigned", "origin": "S00001",
                "sale_id": [so, "S00001"], "partner_id": [ship_to, "Jane Doe, Delivery Address"],
                "location_id": [8, "WH/Stock"], "location_dest_id": [5, "Partners/Customers"],
                "carrier_tracking_ref": False, "backorder_id": False, "date_done": False, "move_ids": [1, 2]})
            moves = c.ok("stock.move", "search_read", {"domain": [["picking_id", "=", 1]], "fields": [
                "product_id", "product_uom_qty", "quantity", "picked", "state", "picking_id", "sale_line_id",
                "display_name"]})
            self.assertEqual(moves, [
                {"id": 1, "product_id": [11, "[SKU-1] Product SKU-1"], "product_uom_qty": 2.0, "quantity": 0.0,
                 "picked": False, "state": "assigned", "picking_id": [1, "WH/OUT/00001"],
                 "sale_line_id": [2, "S00001 - [SKU-1] Product SKU-1"], "display_name": "S00001/SKU-1: Stock>Customers"},
                {"id": 2, "product_id": [12, "[SKU-2] Product SKU-2"], "product_uom_qty": 1.0, "quantity": 0.0,
                 "picked": False, "state": "assigned", "picking_id": [1, "WH/OUT/00001"],
                 "sale_line_id": [3, "S00001 - [SKU-2] Product SKU-2"], "display_name": "S00001/SKU-2: Stock>Customers"}])
            self.assertEqual(odoo.sale_orders[so]["picking_ids"], [1])
            self.assertEqual(odoo.sale_order_lines[2]["move_ids"], [1])
            self.assertEqual(odoo.sale_order_lines[4]["move_ids"], [])             # the service: no move
            self.assertEqual(odoo.sale_orders[so]["delivery_status"], "pending")
            # Only services: nothing to deliver, no picking.
            (only,) = c.ok("sale.order", "create", {"vals_list": [order_vals(order_line=[[0, 0, {"product_id": 14}]])]})
            c.ok("sale.order", "action_confirm", {"ids": [only]})
            self.assertEqual(len(odoo.pickings), 1)
            self.assertEqual(set(odoo.stock_moves), {1, 2})
            # Creating pickings or moves by hand is not simulated; nor are unknown methods.
            self.assertEqual(c.j2("stock.move", "create", {"vals_list": [{}]})[0], 403)
            self.assertEqual(c.j2("stock.picking", "action_assign", {"ids": [1]})[0], 404)
            c.close()

    def test_validate_everything_done_on_either_transport(self):
        for n, transport in enumerate(("json2", "jsonrpc")):
            with self.subTest(transport=transport):
                so = self.confirmed_order(transport, f"full-{transport}", [(11, 2), (12, 1)])
                (picking,) = self.pickings_of(transport, so)
                self.assertEqual(picking, {"id": picking["id"], "name": f"WH/OUT/{n + 1:05d}", "state": "assigned",
                                           "backorder_id": False, "carrier_tracking_ref": False})
                moves = self.moves_of(transport, picking["id"])
                for move in moves:
                    self.assertIs(self.ok_on(transport, "stock.move", "write", [move["id"]],
                                             vals={"quantity": move["product_uom_qty"], "picked": True}), True)
                self.assertIs(self.ok_on(transport, "stock.picking", "write", [picking["id"]],
                                         vals={"carrier_tracking_ref": f"1Z-{transport}"}), True)
                self.assertIs(self.ok_on(transport, "stock.picking", "button_validate", [picking["id"]]), True)
                (done,) = self.pickings_of(transport, so, ("state", "date_done", "carrier_tracking_ref"))
                self.assertEqual((done["state"], done["carrier_tracking_ref"]), ("done", f"1Z-{transport}"))
                self.assertRegex(done["date_done"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
                self.assertEqual({(m["state"], m["quantity"]) for m in self.moves_of(transport, picking["id"])},
                                 {("done", 2.0), ("done", 1.0)})
                (order,) = self.ok_on(transport, "sale.order", "read", [so], fields=["delivery_status"])
                self.assertEqual(order["delivery_status"], "full")
                self.assertEqual([line["qty_delivered"] for line in self.odoo.sale_order_lines.values()
                                  if line["order_id"][0] == so], [2.0, 1.0])
                # A done picking: validating again is refused; its tracking number may still change.
                done, err = self.on(transport, "stock.picking", "button_validate", [picking["id"]])
                self.assertFalse(done)
                self.assertEqual(err["message"], NO_QUANTITY_MESSAGE)
                self.assertIs(self.ok_on(transport, "stock.picking", "write", [picking["id"]],
                                         vals={"carrier_tracking_ref": "1Z-CORRECTED"}), True)
                self.assertEqual(self.odoo.pickings[picking["id"]]["carrier_tracking_ref"], "1Z-CORRECTED")
                # A done move cannot be written.
                done, err = self.on(transport, "stock.move", "write", [moves[0]["id"]], vals={"quantity": 1})
                self.assertFalse(done)
                self.assertIn("it is done", err["message"])
                self.assertEqual(self.odoo.stock_moves[moves[0]["id"]]["quantity"], 2.0)
                # Cancelling is refused now (delivered), and the order stays as it is.
                self.assertFalse(self.on(transport, "sale.order", "action_cancel", [so],
                                         {"disable_cancel_warning": True})[0])

    def test_partial_shipment_wizard_then_backorder_then_the_rest(self):
        for transport in ("json2", "jsonrpc"):
            with self.subTest(transport=transport):
                so = self.confirmed_order(transport, f"part-{transport}", [(11, 3), (12, 1)])
                (picking,) = self.pickings_of(transport, so)
                pid = picking["id"]
                # Nothing done: refused, nothing changes.
                done, err = self.on(transport, "stock.picking", "button_validate", [pid], {"skip_backorder": True})
                self.assertFalse(done)
                self.assertEqual(err["message"], "You cannot validate a transfer if no quantities are reserved. "
                                                 "To force the transfer, encode quantities.")
                first, second = self.moves_of(transport, pid)
                before_moves, before_pickings = self.odoo.stock_moves, self.odoo.pickings
                # 2 of 3 SKU-1 shipped (picked), SKU-2 not: the wizard is answered, nothing is validated.
                self.ok_on(transport, "stock.move", "write", [first["id"]], vals={"quantity": 2, "picked": True})
                self.ok_on(transport, "stock.move", "write", [second["id"]], vals={"quantity": 0, "picked": False})
                self.ok_on(transport, "stock.picking", "write", [pid], vals={"carrier_tracking_ref": "TRACK-1"})
                wizard = self.ok_on(transport, "stock.picking", "button_validate", [pid], {"lang": "en_US"})
                self.assertEqual({k: wizard[k] for k in ("type", "res_model", "name", "target", "view_mode")},
                                 {"type": "ir.actions.act_window", "res_model": "stock.backorder.confirmation",
                                  "name": "Create Backorder?", "target": "new", "view_mode": "form"})
                self.assertEqual(wizard["context"], {"lang": "en_US", "button_validate_picking_ids": [pid],
                                                     "default_show_transfers": False, "default_pick_ids": [[4, pid]]})
                self.assertEqual(self.odoo.pickings[pid]["state"], "assigned")
                self.assertEqual(len(self.odoo.pickings), len(before_pickings))
                self.assertEqual({i: (m["state"], m["quantity"], m["product_uom_qty"])
                                  for i, m in self.odoo.stock_moves.items()},
                                 {i: (m["state"], 2.0 if i == first["id"] else m["quantity"], m["product_uom_qty"])
                                  for i, m in before_moves.items()})
                self.assertEqual(self.odoo.sale_orders[so]["delivery_status"], "pending")
                # The same with skip_backorder: validated, the rest on a backorder.
                self.assertIs(self.ok_on(transport, "stock.picking", "button_validate", [pid],
                                         {"skip_backorder": True}), True)
                original, backorder = self.pickings_of(transport, so)
                self.assertEqual((original["state"], original["carrier_tracking_ref"]), ("done", "TRACK-1"))
                self.assertEqual((backorder["state"], backorder["backorder_id"], backorder["carrier_tracking_ref"]),
                                 ("assigned", [pid, original["name"]], False))
                self.assertEqual(int(backorder["name"][-5:]), int(original["name"][-5:]) + 1)
                self.assertEqual([(m["product_id"][0], m["product_uom_qty"], m["quantity"], m["state"])
                                  for m in self.moves_of(transport, pid)], [(11, 2.0, 2.0, "done")])
                rest = self.moves_of(transport, backorder["id"])
                self.assertEqual([(m["product_id"][0], m["product_uom_qty"], m["quantity"], m["picked"], m["state"])
                                  for m in rest], [(11, 1.0, 0.0, False, "assigned"), (12, 1.0, 0.0, False, "assigned")])
                self.assertEqual(rest[0]["sale_line_id"], first["sale_line_id"])           # the split keeps its line
                self.assertEqual(rest[1]["id"], second["id"])                               # moved over whole
                self.assertEqual(self.odoo.sale_orders[so]["delivery_status"], "partial")
                self.assertEqual([line["qty_delivered"] for line in self.odoo.sale_order_lines.values()
                                  if line["order_id"][0] == so], [2.0, 0.0])
                found = self.ok_on(transport, "stock.picking", "search_read",
                                   domain=[["backorder_id", "=", pid]], fields=["id"])
                self.assertEqual(found, [{"id": backorder["id"]}])
                # The backorder: quantities without picked count as picked (none is picked); all done: full.
                for move in rest:
                    self.ok_on(transport, "stock.move", "write", [move["id"]], vals={"quantity": move["product_uom_qty"]})
                self.ok_on(transport, "stock.picking", "write", [backorder["id"]], vals={"carrier_tracking_ref": "T-2"})
                self.assertIs(self.ok_on(transport, "stock.picking", "button_validate", [backorder["id"]]), True)
                self.assertEqual([p["state"] for p in self.pickings_of(transport, so)], ["done", "done"])
                self.assertTrue(all(m["picked"] and m["state"] == "done" for m in self.moves_of(transport,
                                                                                                 backorder["id"])))
                self.assertEqual(self.odoo.sale_orders[so]["delivery_status"], "full")
                self.assertEqual([line["qty_delivered"] for line in self.odoo.sale_order_lines.values()
                                  if line["order_id"][0] == so], [3.0, 1.0])

    def test_no_backorder_picked_only_and_scripted_faults(self):
        so = self.confirmed_order("json2", "nobo", [(11, 2), (12, 2), (13, 1)])
        ((picking, _),) = [(p["id"], p) for p in self.pickings_of("json2", so)]
        a, b, c = self.moves_of("json2", picking)
        # Some picked: only the picked moves count; an unpicked move with a quantity is not shipped.
        self.c.ok("stock.move", "write", {"ids": [a["id"]], "vals": {"quantity": 1, "picked": True}})
        self.c.ok("stock.move", "write", {"ids": [b["id"]], "vals": {"quantity": 2}})
        # A fault on validation: nothing changed.
        self.odoo.script({"odoo_error": "LockError", "match": {"call": "stock.picking/button_validate"}})
        self.assertEqual(self.c.j2("stock.picking", "button_validate", {"ids": [picking]})[0], 409)
        self.assertEqual(self.odoo.pickings[picking]["state"], "assigned")
        # picking_ids_not_to_backorder: the rest is cancelled instead of going on a backorder.
        ctx = {"skip_backorder": True, "picking_ids_not_to_backorder": [picking]}
        self.assertIs(self.c.ok("stock.picking", "button_validate", {"ids": [picking], "context": ctx}), True)
        self.assertEqual(len(self.odoo.pickings), 1)
        states = sorted((m["product_id"][0], m["product_uom_qty"], m["state"]) for m in self.odoo.stock_moves.values())
        self.assertEqual(states, [(11, 1.0, "cancel"), (11, 1.0, "done"), (12, 2.0, "cancel"), (13, 1.0, "cancel")])
        self.assertEqual(self.odoo.sale_orders[so]["delivery_status"], "full")      # every picking done or cancelled
        self.assert_error(self.c.j2("stock.move", "write", {"ids": [c["id"]], "vals": {"quantity": 1}}), 422,
                          "odoo.exceptions.UserError", "You cannot change a cancelled stock move")
        # An empty multi-call argument or an unknown picking.
        self.assert_error(self.c.j2("stock.picking", "button_validate", {"ids": [99]}), 404,
                          "odoo.exceptions.MissingError", "stock.picking(99,)")

    def test_set_delivered_goes_through_the_pickings(self):
        with OdooSim(services=("SHIP-WOO",)) as odoo:
            c = Client(odoo.port)
            c.ok("res.partner", "create", {"vals_list": [PARTNER]})
            (so,) = c.ok("sale.order", "create", {"vals_list": [order_vals(order_line=[
                [0, 0, {"product_id": 11, "product_uom_qty": 4}], [0, 0, {"product_id": 14, "product_uom_qty": 1}]])]})
            c.ok("sale.order", "action_confirm", {"ids": [so]})
            self.assertEqual(odoo.set_delivered(so, "pending")["delivery_status"], "pending")
            self.assertEqual(odoo.set_delivered(so, "partial")["delivery_status"], "partial")
            self.assertEqual([(p["name"], p["state"]) for p in odoo.pickings.values()],
                             [("WH/OUT/00001", "done"), ("WH/OUT/00002", "assigned")])
            self.assertEqual([line["qty_delivered"] for line in odoo.sale_order_lines.values()], [2.0, 0.5])
            self.assertEqual(odoo.set_delivered(so, "full")["delivery_status"], "full")
            self.assertEqual([p["state"] for p in odoo.pickings.values()], ["done", "done"])
            self.assertEqual([line["qty_delivered"] for line in odoo.sale_order_lines.values()], [4.0, 1.0])
            with self.assertRaises(ValueError):
                odoo.set_delivered(so, "pending")
            c.close()

    # --- account.move --------------------------------------------------------------------------------------
    def test_refund_create_post_and_lookup(self):
        pid = self.make_partner()
        lookup = {"domain": [["ref", "=", "wc:store1:refund:77"], ["move_type", "=", "out_refund"]],
                  "fields": ["id", "name", "state"], "limit": 1}
        self.assertEqual(self.c.ok("account.move", "search_read", lookup), [])
        (move,) = self.c.ok("account.move", "create", {"vals_list": [refund_vals(partner=pid)]})
        self.assertEqual(self.c.ok("account.move", "search_read", lookup), [{"id": move, "name": "/", "state": "draft"}])
        stored = self.odoo.moves[move]
        self.assertEqual((stored["display_name"], stored["amount_total"], stored["amount_total_signed"],
                          stored["partner_id"]), ("Draft Credit Note (* 1)", 12.5, -12.5, [pid, "Jane Doe"]))
        self.assertIs(self.c.ok("account.move", "action_post", {"ids": [move]}), False)   # Odoo returns False
        self.assertEqual(self.c.ok("account.move", "search_read", lookup),
                         [{"id": move, "name": "RINV/2025/00001", "state": "posted"}])
        self.assert_error(self.c.j2("account.move", "action_post", {"ids": [move]}), 422, "odoo.exceptions.UserError",
                          "The entry RINV/2025/00001 (id 1) must be in draft.")
        (empty,) = self.c.ok("account.move", "create", {"vals_list": [refund_vals("r2", pid, invoice_line_ids=[])]})
        self.assert_error(self.c.j2("account.move", "action_post", {"ids": [empty]}), 422, "odoo.exceptions.UserError",
                          "You need to add a line before posting.")
        # over JSON-RPC: create with the values positionally (a dict gives the id, a list the ids), then post
        answer = self.c.kw("account.move", "create", [refund_vals("r3", pid, invoice_date="2025-03-01")])
        third = answer["result"]
        self.assertIsInstance(third, int)
        self.assertIs(self.c.kw("account.move", "action_post", [[third]])["result"], False)
        self.assertEqual(self.odoo.moves[third]["name"], "RINV/2025/00002")
        self.assert_error(self.c.j2("account.move", "create", {"vals_list": [refund_vals(move_type=False)]}), 422,
                          "odoo.exceptions.UserError", "customer invoices and credit notes only")

    # --- stock.quant ---------------------------------------------------------------------------------------
    def test_stock_quant_polled_by_write_date(self):
        first = self.odoo.set_stock("SKU-1", 10, reserved=2)
        self.assertEqual((first["location_id"], first["available_quantity"]), ([8, "WH/Stock"], 8.0))
        second = self.odoo.set_stock("SKU-2", 4)
        third = self.odoo.set_stock("SKU-1", 7)
        self.assertLess(first["write_date"], second["write_date"])
        self.assertLess(second["write_date"], third["write_date"])                # strictly increasing
        self.assertEqual(len(self.odoo.quants), 2)                                # one quant per product
        query = {"domain": [["write_date", ">", first["write_date"]]],
                 "fields": ["product_id", "quantity", "reserved_quantity", "write_date", "location_id"],
                 "order": "write_date asc"}
        rows = self.c.ok("stock.quant", "search_read", query)
        self.assertEqual([(r["product_id"][0], r["quantity"], r["reserved_quantity"]) for r in rows],
                         [(12, 4.0, 0.0), (11, 7.0, 0.0)])
        self.assertEqual(rows[1]["location_id"], [8, "WH/Stock"])
        ids = sorted({r["product_id"][0] for r in rows})
        codes = self.c.ok("product.product", "search_read", {"domain": [["id", "in", ids]], "fields": ["default_code"]})
        self.assertEqual({r["id"]: r["default_code"] for r in codes}, {11: "SKU-1", 12: "SKU-2"})
        self.assertEqual(self.c.ok("stock.quant", "search_read",
                                   {"domain": [["write_date", ">", third["write_date"]]], "fields": ["id"]}), [])
        internal = [["location_id.usage", "=", "internal"], ["write_date", ">=", first["write_date"]]]
        self.assertEqual(self.c.ok("stock.quant", "search_count", {"domain": internal}), 2)
        self.assertEqual(self.c.ok("stock.quant", "search_count", {"domain": [["location_id.usage", "=", "customer"]]}),
                         0)
        (sku1,) = self.c.ok("product.product", "search_read", {"domain": [["default_code", "=", "SKU-1"]],
                                                               "fields": ["qty_available", "free_qty", "uom_id"]})
        self.assertEqual((sku1["qty_available"], sku1["free_qty"], sku1["uom_id"]), (7.0, 7.0, [1, "Units"]))
        over_rpc = self.c.kw("stock.quant", "search_read", [[["write_date", ">", first["write_date"]]]],
                             {"fields": ["product_id"], "order": "write_date asc"})["result"]
        self.assertEqual([r["product_id"][0] for r in over_rpc], [12, 11])
        self.assert_error(self.c.j2("stock.quant", "create", {"vals_list": [{"product_id": 11}]}), 422,
                          "odoo.exceptions.UserError", "Quant's creation is restricted")
        with self.assertRaises(KeyError):
            self.odoo.set_stock("NOPE", 1)

    # --- domains, arguments and errors ---------------------------------------------------------------------
    def test_domains_order_and_paging(self):
        for name, email in (("Anna", "anna@example.com"), ("bob", "BOB@example.com"), ("Carl", None)):
            self.c.ok("res.partner", "create", {"vals_list": [{"name": name, "email": email or False}]})

        def names(domain, **more):
            return [r["name"] for r in self.c.ok("res.partner", "search_read",
                                                 {"domain": domain, "fields": ["name"], "order": "name asc", **more})]
        self.assertEqual(names([]), ["Anna", "bob", "Carl"])                      # case-insensitive like a collation
        self.assertEqual(names([["email", "=", "bob@example.com"]]), [])          # "=" is case-sensitive
        self.assertEqual(names([["email", "ilike", "bob@"]]), ["bob"])
        self.assertEqual(names(["|", ["name", "=", "Anna"], ["name", "=", "Carl"]]), ["Anna", "Carl"])
        self.assertEqual(names(["!", ["name", "in", ["Anna", "bob"]]]), ["Carl"])
        self.assertEqual(names([["email", "!=", "anna@example.com"]]), ["bob", "Carl"])   # empty values included
        self.assertEqual(names([["email", "=", False]]), ["Carl"])
        self.assertEqual(names([["email", "=?", False], ["name", "like", "ar"]]), ["Carl"])
        self.assertEqual(names([["email", "=?", "anna@example.com"]]), ["Anna"])
        self.assertEqual(names([], limit=1, offset=1), ["bob"])
        self.assertEqual(names([], order="id desc"), ["Carl", "bob", "Anna"])
        self.assertEqual(self.c.ok("res.partner", "search", {"domain": [], "order": "id asc"}), [7, 8, 9])
        self.assertEqual(self.c.ok("res.partner", "search_count", {"domain": [["id", ">", 7]]}), 2)
        self.assertEqual(self.c.ok("res.country", "search_count", {"domain": [["code", "in", list(COUNTRIES)]]}), 6)
        (us,) = self.c.ok("res.country", "search_read", {"domain": [["code", "=", "US"]], "fields": ["name"]})
        self.assertEqual(us, {"id": 233, "name": "United States"})
        (ca,) = self.c.ok("res.country.state", "search_read", {"domain": [["code", "=", "CA"], ["country_id.code", "=",
                                                                                                  "US"]],
                                                               "fields": ["display_name", "country_id"]})
        self.assertEqual((ca["display_name"], ca["country_id"]), ("California (US)", [233, "United States"]))
        self.assert_error(self.c.j2("res.partner", "search_read", {"domain": [["nope", "=", 1]]}), 500,
                          "builtins.ValueError", "Invalid field res.partner.nope")
        self.assert_error(self.c.j2("res.partner", "search_read", {"domain": [["name", "~", 1]]}), 500,
                          "builtins.ValueError", "Invalid leaf")
        self.assert_error(self.c.j2("res.partner", "search_read", {"domain": ["|", ["name", "=", 1]]}), 500,
                          "builtins.ValueError", "syntactically not correct")
        self.assert_error(self.c.j2("res.partner", "search_read", {"order": "name; drop"}), 500,
                          "builtins.ValueError", 'Invalid "order" specified')
        self.assert_error(self.c.j2("res.partner", "search_read", {"fields": ["nope"]}), 500,
                          "builtins.ValueError", "Invalid field 'nope' on model 'res.partner'")

    def test_json2_routing_and_argument_errors(self):
        self.assert_error(self.c.j2("no.such.model", "search_read"), 404, "werkzeug.exceptions.NotFound",
                          "the model 'no.such.model' does not exist")
        self.assert_error(self.c.j2("sale.order", "action_post"), 404, "werkzeug.exceptions.NotFound",
                          "The method 'sale.order.action_post' does not exist")
        self.assert_error(self.c.j2("sale.order", "_action_cancel", {"ids": [1]}), 403, "odoo.exceptions.AccessError",
                          "Private methods (such as 'sale.order._action_cancel') cannot be called remotely.")
        self.assert_error(self.c.j2("res.partner", "create", {"ids": [1], "vals_list": [{"name": "X"}]}), 422,
                          "werkzeug.exceptions.UnprocessableEntity", "cannot call res.partner.create with ids")
        self.assert_error(self.c.j2("res.partner", "create", {"vals": [{"name": "X"}]}), 422,
                          "werkzeug.exceptions.UnprocessableEntity", "missing a required argument: 'vals_list'")
        self.assert_error(self.c.j2("res.partner", "search_read", {"domian": []}), 422,
                          "werkzeug.exceptions.UnprocessableEntity", "got an unexpected keyword argument 'domian'")
        self.assert_error(self.c.request("POST", "/json/2/res.partner"), 404, "werkzeug.exceptions.NotFound",
                          "Did you mean POST /json/2/<model>/<method>?")
        self.assert_error(self.c.request("GET", "/json/2/res.partner/search_read"), 405,
                          "werkzeug.exceptions.MethodNotAllowed")
        status, headers, body = self.c.request("POST", "/json/2/res.partner/search_read", b"{not json")
        self.assert_error((status, headers, body), 400, "werkzeug.exceptions.BadRequest",
                          "could not parse the body as json: Expecting property name")
        conn = http.client.HTTPConnection("127.0.0.1", self.odoo.port, timeout=5)
        conn.request("POST", "/json/2/res.partner/search_read", body=b"{}",
                     headers={"Authorization": f"bearer {KEY}", "Content-Type": "text/plain"})
        resp = conn.getresponse()
        resp.read()
        self.assertEqual((resp.status, resp.getheader("Content-Type").split(";")[0]), (400, "text/html"))
        conn.close()
        self.assertEqual(self.c.request("POST", "/web/dataset/call_kw", {})[0], 404)
        self.assertEqual(self.c.ok("res.partner", "search_read", {"domain": [], "context": {"lang": "de_DE"}}), [])

    def test_jsonrpc_calls_and_malformed_bodies(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.odoo.port, timeout=5)
        for body, text in ((b"{not json", b"Invalid JSON data"), (b"[1, 2]", b"Invalid JSON-RPC data")):
            conn.request("POST", "/jsonrpc", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (400, text))
            self.assertTrue(resp.getheader("Content-Type").startswith("text/html"))
        conn.close()
        # the connector's calls: record methods take [ids], the rest comes by name
        self.assertEqual(self.c.kw("res.country", "search_read", [], {"domain": [["code", "=", "DE"]], "fields": ["id"],
                                                                      "limit": 1})["result"], [{"id": 57}])
        answer = self.c.kw("res.partner", "create", [], {"vals_list": [PARTNER]})
        self.assert_rpc_error(answer, "builtins.IndexError", "tuple index out of range")   # Odoo's call_kw
        self.assertEqual(self.odoo.partners, {})                                  # rolled back
        self.assertEqual(self.c.kw("res.partner", "create", [[PARTNER]])["result"], [7])
        self.assertEqual(self.c.kw("res.partner", "create", [PARTNER])["result"], 8)       # a dict: the id
        self.assertEqual(self.c.kw("res.partner", "search_read", [[["email", "=", "jane@example.com"]], ["id"]],
                                   {"limit": 1, "order": "id asc"})["result"], [{"id": 7}])
        (so,) = self.c.kw("sale.order", "create", [[order_vals()]])["result"]
        self.assertIs(self.c.kw("sale.order", "action_confirm", [[so]])["result"], True)
        self.assertIs(self.c.kw("sale.order", "write", [[so], {"origin": "changed"}])["result"], True)
        self.assertEqual(self.c.kw("sale.order", "read", [[so], ["origin", "partner_id"]])["result"],
                         [{"id": so, "origin": "changed", "partner_id": [7, "Jane Doe"]}])
        status, answer = self.c.rpc("object", "execute", "odoo", 2, KEY, "sale.order", "search", [["id", "=", so]])
        self.assertEqual(answer["result"], [so])
        self.assert_rpc_error(self.c.kw("sale.order", "action_confirm"), "builtins.IndexError")     # no ids
        self.assert_rpc_error(self.c.kw("no.model", "search_read"), "odoo.exceptions.UserError",
                              "Object no.model doesn't exist")
        self.assert_rpc_error(self.c.kw("sale.order", "nope", [[so]]), "builtins.AttributeError",
                              "The method 'sale.order.nope' does not exist")
        self.assert_rpc_error(self.c.kw("sale.order", "search_read", [], {"bogus": 1}), "builtins.TypeError",
                              "unexpected keyword argument 'bogus'")
        self.assert_rpc_error(self.c.kw("res.partner", "search_read", [], {}, db="other"),
                              "psycopg2.OperationalError")
        with OdooSim(rpc_create_needs_positional=False) as lenient:
            c = Client(lenient.port)
            self.assertEqual(c.kw("res.partner", "create", [], {"vals_list": [PARTNER]})["result"], [7])
            c.close()

    # --- scripted faults -----------------------------------------------------------------------------------
    def test_scripted_429_retry_after_and_proxy_pages(self):
        self.odoo.script({"status": 429, "retry_after": "2"}, 502, {"status": 503},
                         {"status": 504, "match": {"transport": "jsonrpc"}})
        body = {"domain": [], "fields": ["id"]}
        status, headers, page = self.c.j2("res.partner", "search_read", body)
        self.assertEqual((status, headers["retry-after"]), (429, "2"))
        self.assertTrue(headers["content-type"].startswith("text/html"))           # the proxy: not JSON
        with self.assertRaises(ValueError):
            json.loads(page)
        for code in (502, 503):
            status, headers, page = self.c.j2("res.partner", "search_read", body)
            self.assertEqual(status, code)
            self.assertIn(b"<html>", page)
        self.assertEqual(self.c.j2("res.partner", "search_read", body)[0], 200)    # the 504 waits for JSON-RPC
        status, _, page = self.c.request("POST", "/jsonrpc", {"jsonrpc": "2.0", "method": "call", "params": {}})
        self.assertEqual(status, 504)
        self.assertEqual(self.odoo.pending_rules(), 0)
        self.assertEqual([c.status for c in self.odoo.requests], [429, 502, 503, 200, 504])

    def test_match_on_model_and_method_and_odoo_errors_per_transport(self):
        pid = self.make_partner()
        self.odoo.script({"odoo_error": "LockError", "count": 2, "match": {"model": "sale.order",
                                                                           "odoo_method": "create"}},
                         {"odoo_error": "ValidationError", "message": "custom check failed",
                          "match": {"call": "sale.order/action_confirm"}})
        self.assertEqual(self.c.ok("sale.order", "search_read", {"fields": ["id"]}), [])     # not matched
        self.assert_error(self.c.j2("sale.order", "create", {"vals_list": [order_vals(partner=pid)]}), 409,
                          "odoo.exceptions.LockError")
        self.assert_rpc_error(self.c.kw("sale.order", "create", [[order_vals(partner=pid)]]),
                              "odoo.exceptions.LockError")
        self.assertEqual(self.odoo.sale_orders, {})                                # not served
        (so,) = self.c.ok("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        self.assert_rpc_error(self.c.kw("sale.order", "action_confirm", [[so]]), "odoo.exceptions.ValidationError",
                              "custom check failed")
        self.assertEqual(self.odoo.sale_orders[so]["state"], "draft")
        # commit: served (the order exists), then the error; a callable match sees the RequestInfo
        self.odoo.script({"odoo_error": "SerializationFailure", "commit": True,
                          "match": lambda info: (odoo_call(info) or OdooCall(*[None] * 4)).method == "action_confirm"})
        self.assert_error(self.c.j2("sale.order", "action_confirm", {"ids": [so]}), 500,
                          "psycopg2.errors.SerializationFailure", "could not serialize access")
        self.assertEqual(self.odoo.sale_orders[so]["state"], "sale")
        self.assertEqual(odoo_call(self.odoo.requests[-1]), OdooCall("json2", "object", "sale.order", "action_confirm"))
        self.assertEqual(self.odoo.odoo_call(self.odoo.requests[-2]),
                         OdooCall("jsonrpc", "object", "sale.order", "action_confirm"))
        with self.assertRaises(ValueError):
            self.odoo.script({"odoo_error": "NoSuchError"})
        with self.assertRaises(ValueError):
            self.odoo.script({"match": {"modle": "x"}})

    def test_ack_then_reset_next_sale_order(self):
        pid = self.make_partner()
        self.odoo.ack_then_reset_next_sale_order()
        bad = order_vals(partner=pid, order_line=[{"product_id": 11}])
        self.assertEqual(self.c.j2("sale.order", "create", {"vals_list": [bad]})[0], 422)   # refused: not used up
        with self.assertRaises(RESET_ERRORS):
            self.c.j2("sale.order", "create", {"vals_list": [order_vals(partner=pid)]})
        self.c.close()
        self.assertEqual(self.odoo.requests[-1].status, "reset")
        self.assertEqual([o["name"] for o in self.odoo.sale_orders.values()], ["S00001"])   # committed anyway
        # what a client must do next: look the order up by client_order_ref, and not create it again
        found = self.c.ok("sale.order", "search_read", {"domain": [["client_order_ref", "=", "wc:store1:10234"]],
                                                        "fields": ["id", "name", "state"], "limit": 1})
        self.assertEqual(found, [{"id": 1, "name": "S00001", "state": "draft"}])
        # the same over JSON-RPC
        self.odoo.ack_then_reset_next_sale_order()
        with self.assertRaises(RESET_ERRORS):
            self.c.kw("sale.order", "create", [[order_vals("wc:store1:10235", pid)]])
        self.c.close()
        self.assertEqual(len(self.odoo.sale_orders), 2)
        self.assertEqual(self.c.ok("sale.order", "create", {"vals_list": [order_vals("next", pid)]}), [3])

    def test_reset_hang_latency_and_commit_then_gateway_timeout(self):
        self.odoo.script({"reset": True})
        with self.assertRaises(RESET_ERRORS):
            self.c.j2("res.partner", "search_read", {})
        self.c.close()
        self.odoo.script({"hang": 30.0})
        slow = Client(self.odoo.port, timeout=0.3)
        with self.assertRaises(TimeoutError):
            slow.j2("res.partner", "search_read", {})
        slow.close()
        self.odoo.script({"latency": 0.2})
        started = time.monotonic()
        self.assertEqual(self.c.j2("res.partner", "search_read", {})[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        self.odoo.script({"status": 504, "commit": True, "match": {"method": "POST",
                                                                   "path_prefix": "/json/2/res.partner/create"}})
        status, _, page = self.c.j2("res.partner", "create", {"vals_list": [PARTNER]})
        self.assertEqual(status, 504)
        self.assertIn(b"nginx", page)
        self.assertEqual(len(self.odoo.partners), 1)                              # committed anyway
        self.assertEqual([c.status for c in self.odoo.requests], ["reset", "hang", 200, 504])
        started = time.monotonic()
        self.odoo.close()
        self.assertLess(time.monotonic() - started, 2.0)

    def test_rate_limit_and_outage(self):
        with OdooSim(rate_limit=3) as limited:
            c = Client(limited.port)
            statuses = [c.j2("res.country", "search_count", {"domain": []})[:2] for _ in range(4)]
            self.assertEqual([s for s, _ in statuses], [200, 200, 200, 429])
            self.assertEqual(statuses[3][1]["retry-after"], "1")
            time.sleep(1.05)
            self.assertEqual(c.j2("res.country", "search_count", {"domain": []})[0], 200)
            c.close()
        self.odoo.outage = True
        status, headers, page = self.c.j2("res.partner", "search_read", {})
        self.assertEqual((status, headers["content-type"]), (502, "text/html"))
        self.odoo.outage = 503
        self.assertEqual(self.c.rpc("common", "version")[0], 503)
        self.odoo.outage = False
        self.assertEqual(self.c.rpc("common", "version")[0], 200)

    # --- plumbing ------------------------------------------------------------------------------------------
    def test_keep_alive_records_wait_until_and_helpers(self):
        self.c.j2("res.partner", "search_read", {})
        sock = self.c.conn.sock
        self.make_partner()
        self.assertIs(self.c.conn.sock, sock)                                      # one connection throughout
        calls = self.odoo.requests
        self.assertIsInstance(calls[0], Call)
        self.assertEqual((calls[-1].method, calls[-1].path, calls[-1].status), ("POST", "/json/2/res.partner/create",
                                                                                200))
        self.assertEqual(calls[-1].body["vals_list"][0]["email"], "jane@example.com")
        self.assertEqual(self.odoo.add_partner(name="Helper Made", type="contact"), 8)
        with self.assertRaisesRegex(ValueError, "odoo.exceptions.ValidationError: Contacts require a name"):
            self.odoo.add_partner(email="x@example.com")

        def later():
            time.sleep(0.2)
            other = Client(self.odoo.port)
            other.ok("sale.order", "create", {"vals_list": [order_vals()]})
            other.close()
        threading.Thread(target=later, daemon=True).start()
        self.assertTrue(self.odoo.wait_until(lambda o: len(o.sale_orders) == 1, timeout=5))
        with self.assertRaises(AssertionError):
            self.odoo.wait_until(lambda o: len(o.sale_orders) == 2, timeout=0.2)
        self.assertEqual(set(self.odoo.products), {11, 12, 13})
        self.assertEqual(self.odoo.records("res.country")[57]["code"], "DE")

    def test_standalone_process_through_serve(self):
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "state.json")
            with Standalone("serve.py odoo", "--products", "A,B", "--api-key", "k2", "--stock", '{"A": [5, 1]}',
                            "--script", '[{"status": 503}]', "--dump", dump) as proc:
                c = Client(proc.port, headers={"Authorization": "bearer k2"})
                self.assertEqual(c.j2("res.partner", "search_read", {})[0], 503)
                c.ok("res.partner", "create", {"vals_list": [PARTNER]})
                c.ok("sale.order", "create", {"vals_list": [order_vals(order_line=[[0, 0, {"product_id": 11}]])]})
                (quant,) = c.ok("stock.quant", "search_read", {"fields": ["product_id", "quantity"]})
                self.assertEqual(quant["product_id"], [11, "[A] Product A"])
                c.close()
            self.assertEqual(proc.returncode, 0)
            self.assertEqual(proc.summary, {"requests": 4, "partners": 1, "sale_orders": 1, "moves": 0,
                                            "status_counts": {"200": 3, "503": 1}})
            with open(dump) as f:
                state = json.load(f)
            self.assertEqual(state["sale_orders"]["1"]["name"], "S00001")
            self.assertEqual(state["quants"]["1"]["reserved_quantity"], 1.0)
            self.assertEqual(state["requests"][0]["status"], 503)


if __name__ == "__main__":
    unittest.main()
