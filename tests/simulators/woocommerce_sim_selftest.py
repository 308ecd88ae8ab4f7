"""Self-test of the WooCommerce REST API v3 simulator (Python standard library only): OAuth 1.0a one-legged
signatures (checked by a signer written here from the RFC 5849 / WooCommerce rule, not the simulator's),
timestamp and nonce checks, Basic only behind TLS, find-by-SKU over products and variations, single and batch
stock updates with per-item errors and the 100-item limit, variation ownership, order status and notes,
order polling with modified_after and the pagination headers, webhooks, scripted faults, the process mode.

Run: cd tests/simulators && python3 -m unittest -v woocommerce_sim_selftest
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

from selftest_support import Standalone
from woocommerce_sim import API_PREFIX, Call, WooCommerceSim


def pct(text):
    """RFC 3986 percent-encoding: only A-Z a-z 0-9 - . _ ~ stay as they are."""
    return urllib.parse.quote(str(text), safe="~")


def oauth_signature(method, url, pairs, secret, sig_method="HMAC-SHA1"):
    """RFC 5849 section 3.4 as WooCommerce checks it: base string METHOD & pct(url) & pct(normalized), where
    normalized joins pct(k)=pct(v) sorted, with "&"; key = consumer secret + "&"; base64 of the raw HMAC."""
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in pairs))
    base = "&".join((method.upper(), pct(url), pct(normalized)))
    digest = hashlib.sha256 if sig_method == "HMAC-SHA256" else hashlib.sha1
    return base64.b64encode(hmac.new((secret + "&").encode(), base.encode(), digest).digest()).decode()


def single_encoded_signature(method, url, pairs, secret):
    """The variant where each key and value is encoded only once in the base string (not WooCommerce's)."""
    joined = "%26".join(f"{pct(k)}%3D{pct(v)}" for k, v in sorted(pairs))
    base = "&".join((method.upper(), pct(url), joined))
    return base64.b64encode(hmac.new((secret + "&").encode(), base.encode(), hashlib.sha1).digest()).decode()


class Client:
    """One keep-alive connection speaking to the simulator as the connector would (OAuth over plain HTTP)."""

    def __init__(self, sim, key="ck_test", secret="cs_test", sig_method="HMAC-SHA1", timeout=5.0):
        self.sim, self.key, self.secret, self.sig_method = sim, key, secret, sig_method
        self.conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)

    def close(self):
        self.conn.close()

    def oauth(self, method, path, query, ts=None, nonce=None, sig_method=None, secret=None, signer=None):
        sig_method = sig_method or self.sig_method
        params = [("oauth_consumer_key", self.key), ("oauth_nonce", nonce or secrets.token_hex(16)),
                  ("oauth_signature_method", sig_method), ("oauth_timestamp", str(ts or int(time.time())))]
        url = self.sim.url + API_PREFIX + path
        if signer is not None:
            signature = signer(method, url, query + params, secret or self.secret)
        else:
            signature = oauth_signature(method, url, query + params, secret or self.secret, sig_method)
        return params + [("oauth_signature", signature)]

    def request(self, method, path, body=None, query=None, auth="query", headers=None, content_type=None, **sign):
        """Returns (status, lower-case headers, parsed JSON body or raw bytes). auth: "query" or "header"
        (OAuth), None, or a dict of headers to send instead (e.g. Basic)."""
        query = list((query or {}).items())
        hdrs = dict(headers or {})
        if auth == "query":
            query += self.oauth(method, path, query, **sign)
        elif auth == "header":
            hdrs["Authorization"] = "OAuth " + ", ".join(f'{k}="{pct(v)}"'
                                                         for k, v in self.oauth(method, path, query, **sign))
        elif isinstance(auth, dict):
            hdrs.update(auth)
        target = API_PREFIX + path + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
                                      if query else "")
        raw = None
        if body is not None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = content_type or "application/json"
        self.conn.request(method, target, body=raw, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        got = {k.lower(): v for k, v in resp.getheaders()}
        if got.get("content-type", "").startswith("application/json") and data:
            data = json.loads(data)
        return resp.status, got, data

    def get(self, path, **query):
        return self.request("GET", path, query=query)


def basic(key="ck_test", secret="cs_test"):
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


class SimTest(unittest.TestCase):
    tls = False

    def setUp(self):
        self.sim = WooCommerceSim(tls=self.tls)
        self.client = Client(self.sim)
        sim = self.sim
        sim.add_product(10, "MUG-1", stock_quantity=5, name="Mug")
        sim.add_product(11, "POSTER", manage_stock=False, name="Poster")
        sim.add_product(20, "TEE", manage_stock=False, name="T-shirt")
        sim.add_variation(20, 21, "TEE-RED-M", stock_quantity=3)
        sim.add_variation(20, 22, "TEE-BLUE-M", stock_quantity=0)
        sim.add_product(30, "CAP", manage_stock=False, name="Cap")
        sim.add_variation(30, 31, "CAP-BLACK", stock_quantity=8)

    def tearDown(self):
        self.client.close()
        self.sim.close()

    def assertError(self, answer, status, code, message=None):
        got_status, _, body = answer
        self.assertEqual((got_status, body["code"], body["data"]["status"]), (status, code, status), body)
        if message is not None:
            self.assertEqual(body["message"], message)


class AuthTests(SimTest):
    def test_signatures_sha1_sha256_query_and_header(self):
        for sig_method in ("HMAC-SHA1", "HMAC-SHA256"):
            for auth in ("query", "header"):
                with self.subTest(sig_method=sig_method, auth=auth):
                    status, hdrs, body = self.client.request("GET", "/products", query={"per_page": "5"}, auth=auth,
                                                             sig_method=sig_method)
                    self.assertEqual(status, 200, body)
                    self.assertEqual(hdrs["content-type"], "application/json; charset=UTF-8")
                    self.assertEqual(int(hdrs["content-length"]) > 2, True)
        # reserved characters in values, a trailing slash and a PUT with a signed query and an unsigned body
        status, _, body = self.client.request("GET", "/products/", query={"sku": "MUG-1,TEE-RED-M",
                                                                          "search": "a b~c/d:e"})
        self.assertEqual(status, 200, body)
        status, _, body = self.client.request("PUT", "/products/10", {"stock_quantity": 6},
                                              query={"context": "edit"})
        self.assertEqual((status, body["stock_quantity"]), (200, 6))

    def test_failures(self):
        c = self.client
        wrong = c.request("GET", "/products", secret="cs_wrong")
        self.assertError(wrong, 401, "woocommerce_rest_authentication_error",
                         "Invalid signature - provided signature does not match.")
        self.assertError(c.request("GET", "/products", ts=int(time.time()) - 16 * 60), 401,
                         "woocommerce_rest_authentication_error", "Invalid timestamp.")
        self.assertError(c.request("GET", "/products", ts=int(time.time()) + 16 * 60), 401,
                         "woocommerce_rest_authentication_error", "Invalid timestamp.")
        self.assertEqual(c.request("GET", "/products", nonce="n-1")[0], 200)
        self.assertError(c.request("GET", "/products", nonce="n-1"), 401, "woocommerce_rest_authentication_error",
                         "Invalid nonce - nonce has already been used.")
        other = Client(self.sim, key="ck_other")
        self.assertError(other.request("GET", "/products"), 401, "woocommerce_rest_authentication_error",
                         "Consumer key is invalid.")
        other.close()
        self.assertError(c.request("GET", "/products", sig_method="PLAINTEXT"), 401,
                         "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid.")
        self.assertError(c.request("GET", "/products", query={"oauth_consumer_key": "ck_test"}, auth=None), 401,
                         "woocommerce_rest_authentication_missing_parameter",
                         "Missing OAuth parameters oauth_timestamp, oauth_nonce, oauth_signature, "
                         "oauth_signature_method")
        self.assertError(c.request("GET", "/products", auth=None), 401, "woocommerce_rest_cannot_view",
                         "Sorry, you cannot list resources.")
        self.assertError(c.request("POST", "/products/batch", {"update": []}, auth=None), 401,
                         "woocommerce_rest_cannot_batch")
        self.assertError(c.request("GET", "/orders/999", auth=None), 404, "woocommerce_rest_shop_order_invalid_id")
        # a single-encoded base string only agrees with WooCommerce's when nothing needs encoding
        self.assertError(c.request("GET", "/products", query={"sku": "MUG-1,TEE-RED-M"},
                                   signer=single_encoded_signature), 401, "woocommerce_rest_authentication_error")
        self.assertEqual(c.request("GET", "/products", query={"per_page": "5"},
                                   signer=single_encoded_signature)[0], 200)
        # refused requests are recorded but consume no scripted rule
        self.sim.script(503)
        self.assertEqual(c.request("GET", "/products", secret="x")[0], 401)
        self.assertEqual(self.sim.pending_rules(), 1)

    def test_nonces_are_kept_one_per_timestamp(self):
        ts = int(time.time())
        c = self.client
        self.assertEqual(c.request("GET", "/products", ts=ts, nonce="a")[0], 200)
        self.assertEqual(c.request("GET", "/products", ts=ts, nonce="b")[0], 200)   # replaces "a"
        self.assertEqual(c.request("GET", "/products", ts=ts, nonce="a")[0], 200)   # so "a" passes again
        self.assertEqual(c.request("GET", "/products", ts=ts + 1, nonce="a")[0], 401)

    def test_basic_is_ignored_without_tls(self):
        self.assertError(self.client.request("GET", "/products", auth=basic()), 401, "woocommerce_rest_cannot_view")
        self.assertError(self.client.request("GET", "/products", auth=None,
                                             query={"consumer_key": "ck_test", "consumer_secret": "cs_test"}),
                         401, "woocommerce_rest_cannot_view")

    def test_read_only_key(self):
        sim = WooCommerceSim(permissions="read")
        try:
            sim.add_product(1, "A", stock_quantity=1)
            c = Client(sim)
            self.assertEqual(c.request("GET", "/products/1")[0], 200)
            self.assertError(c.request("PUT", "/products/1", {"stock_quantity": 2}), 401,
                             "woocommerce_rest_authentication_error",
                             "The API key provided does not have write permissions.")
            c.close()
        finally:
            sim.close()


class TlsTests(SimTest):
    tls = True

    def test_basic_accepted_behind_tls(self):
        c = self.client
        status, _, body = c.request("GET", "/products/10", auth=basic())
        self.assertEqual((status, body["sku"]), (200, "MUG-1"))
        self.assertEqual(c.request("GET", "/products/10", auth=None,
                                   query={"consumer_key": "ck_test", "consumer_secret": "cs_test"})[0], 200)
        self.assertError(c.request("GET", "/products/10", auth=basic(secret="nope")), 401,
                         "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        self.assertError(c.request("GET", "/products/10", auth=basic(key="ck_other")), 401,
                         "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
        # OAuth still works; the string to sign then carries the https:// home URL
        c.sim = type("S", (), {"url": "https" + self.sim.url[4:], "port": self.sim.port})()
        self.assertEqual(c.request("GET", "/products/10")[0], 200)


class ProductTests(SimTest):
    def test_find_by_sku_covers_variations(self):
        status, hdrs, body = self.client.get("/products", sku="MUG-1,tee-red-m,nope")
        self.assertEqual(status, 200)
        by_sku = {p["sku"]: p for p in body}
        self.assertEqual(set(by_sku), {"MUG-1", "TEE-RED-M"})           # SKU match ignores case
        self.assertEqual((by_sku["MUG-1"]["type"], by_sku["MUG-1"]["stock_quantity"]), ("simple", 5))
        variation = by_sku["TEE-RED-M"]
        self.assertEqual((variation["id"], variation["type"], variation["parent_id"], variation["stock_quantity"],
                          variation["manage_stock"]), (21, "variation", 20, 3, True))
        self.assertEqual((hdrs["x-wp-total"], hdrs["x-wp-totalpages"]), ("2", "1"))
        status, hdrs, body = self.client.get("/products", sku="MUG-1,TEE-RED-M", per_page="1")
        self.assertEqual((len(body), hdrs["x-wp-total"], hdrs["x-wp-totalpages"]), (1, "2", "2"))
        self.assertIn('rel="next"', hdrs["link"])
        status, hdrs, body = self.client.get("/products", sku="MUG-1,TEE-RED-M", per_page="1", page="2")
        self.assertEqual((len(body), 'rel="prev"' in hdrs["link"], 'rel="next"' in hdrs["link"]), (1, True, False))
        # without sku only products are listed, newest first
        body = self.client.get("/products", per_page="100")[2]
        self.assertEqual([p["id"] for p in body], [30, 20, 11, 10])
        self.assertEqual(body[1]["type"], "variable")
        self.assertEqual(self.client.get("/products/21")[2]["type"], "variation")

    def test_single_updates_and_stock_rules(self):
        c = self.client
        status, _, body = c.request("PUT", "/products/10", {"manage_stock": True, "stock_quantity": 0})
        self.assertEqual((status, body["stock_quantity"], body["stock_status"]), (200, 0, "outofstock"))
        body = c.request("PUT", "/products/10", {"inventory_delta": 4})[2]
        self.assertEqual((body["stock_quantity"], body["stock_status"]), (4, "instock"))
        # stock_quantity to an unmanaged product is dropped; with manage_stock true it turns management on
        body = c.request("PUT", "/products/11", {"stock_quantity": 9})[2]
        self.assertEqual((body["manage_stock"], body["stock_quantity"]), (False, None))
        body = c.request("PATCH", "/products/11", {"manage_stock": True, "stock_quantity": 9})[2]
        self.assertEqual((body["manage_stock"], body["stock_quantity"], self.sim.stock_of("POSTER")), (True, 9, 9))
        self.assertError(c.request("PUT", "/products/10", {"stock_quantity": "many"}), 400, "rest_invalid_param",
                         "Invalid parameter(s): stock_quantity")
        self.assertError(c.request("PUT", "/products/999", {"stock_quantity": 1}), 400,
                         "woocommerce_rest_product_invalid_id", "Invalid ID.")
        self.assertError(c.request("GET", "/products/999"), 404, "woocommerce_rest_product_invalid_id")
        self.assertError(c.request("PUT", "/products/21", {"stock_quantity": 1}), 404,
                         "woocommerce_rest_invalid_product_id")
        # a JSON body sent without a JSON Content-Type is ignored, as WordPress does
        body = c.request("PUT", "/products/10", b'{"stock_quantity": 50}', content_type="text/plain")[2]
        self.assertEqual(body["stock_quantity"], 4)
        # variations: own endpoint, parent must match, the parent's stock_status follows its variations
        status, _, body = c.request("PUT", "/products/20/variations/22", {"stock_quantity": 2})
        self.assertEqual((status, body["stock_quantity"], body["stock_status"]), (200, 2, "instock"))
        self.assertError(c.request("PUT", "/products/30/variations/22", {"stock_quantity": 2}), 403,
                         "woocommerce_rest_cannot_edit", "Parent product does not match current variation.")
        c.request("PUT", "/products/20/variations/21", {"stock_quantity": 0})
        c.request("PUT", "/products/20/variations/22", {"stock_quantity": 0})
        self.assertEqual(self.sim.products[20]["stock_status"], "outofstock")
        self.assertEqual(self.sim.variations[22]["stock_status"], "outofstock")

    def test_batch_update_with_item_errors(self):
        status, _, body = self.client.request("POST", "/products/batch", {"update": [
            {"id": 10, "manage_stock": True, "stock_quantity": 7},
            {"id": 999, "stock_quantity": 1},
            {"id": 21, "stock_quantity": 1},
            {"id": 11, "stock_quantity": "12"}]})
        self.assertEqual(status, 200)
        self.assertEqual(list(body), ["update"])
        first, unknown, variation, unmanaged = body["update"]
        self.assertEqual((first["id"], first["stock_quantity"], first["stock_status"], first["sku"]),
                         (10, 7, "instock", "MUG-1"))
        self.assertEqual(unknown, {"id": 999, "error": {"code": "woocommerce_rest_product_invalid_id",
                                                        "message": "Invalid ID.", "data": {"status": 400}}})
        self.assertEqual((variation["id"], variation["error"]["code"], variation["error"]["data"]["status"]),
                         (21, "woocommerce_rest_invalid_product_id", 404))
        self.assertEqual((unmanaged["id"], unmanaged["stock_quantity"]), (11, None))
        self.assertEqual((self.sim.stock_of("MUG-1"), self.sim.stock_of("TEE-RED-M"), self.sim.stock_of("POSTER")),
                         (7, 3, None))
        self.assertEqual(self.client.request("POST", "/products/batch", {"update": []})[2], [])

    def test_batch_limit(self):
        items = [{"id": 10, "stock_quantity": n} for n in range(101)]
        self.assertError(self.client.request("POST", "/products/batch", {"update": items}), 413,
                         "woocommerce_rest_request_entity_too_large",
                         "Unable to accept more than 100 items for this request.")
        self.assertEqual(self.sim.stock_of("MUG-1"), 5)
        self.assertEqual(self.client.request("POST", "/products/batch",
                                             {"update": items[:60], "delete": list(range(900, 941))})[0], 413)
        self.assertEqual(self.client.request("PUT", "/products/batch", {"update": items[:100]})[0], 200)
        self.assertEqual(self.sim.stock_of("MUG-1"), 99)

    def test_variation_batch(self):
        status, _, body = self.client.request("POST", "/products/20/variations/batch", {"update": [
            {"id": 21, "stock_quantity": 11}, {"id": 31, "stock_quantity": 99}, {"id": 777, "stock_quantity": 1}]})
        self.assertEqual(status, 200)
        own, foreign, unknown = body["update"]
        self.assertEqual((own["id"], own["stock_quantity"], own["parent_id"]), (21, 11, 20))
        self.assertEqual(foreign, {"id": 31, "error": {"code": "woocommerce_rest_cannot_edit",
                                                       "message": "Parent product does not match current variation.",
                                                       "data": {"status": 403}}})
        self.assertEqual(unknown["error"]["code"], "woocommerce_rest_product_variation_invalid_id")
        self.assertEqual((self.sim.stock_of("CAP-BLACK"), self.sim.variations[31]["parent_id"]), (8, 30))
        status, _, body = self.client.request("POST", "/products/20/variations/batch", {
            "create": [{"sku": "TEE-GREEN-M", "manage_stock": True, "stock_quantity": 4}], "delete": [22]})
        self.assertEqual(status, 200)
        self.assertEqual((body["create"][0]["sku"], body["delete"][0]["id"]), ("TEE-GREEN-M", 22))
        self.assertNotIn(22, self.sim.variations)
        self.assertEqual(self.sim.stock_of("TEE-GREEN-M"), 4)
        self.assertIn(body["create"][0]["id"], self.sim.products[20]["variations"])


class OrderTests(SimTest):
    def setUp(self):
        super().setUp()
        for n in range(5):
            self.sim.add_order(100 + n, "processing", [{"sku": "MUG-1", "quantity": 1 + n, "product_id": 10}],
                               date_created_gmt=f"2025-01-0{n + 1}T10:00:00",
                               date_modified_gmt=f"2025-01-0{n + 1}T12:00:00")

    def test_status_update_and_notes(self):
        c = self.client
        status, _, body = c.request("PUT", "/orders/100", {"status": "completed"})
        self.assertEqual((status, body["status"]), (200, "completed"))
        self.assertGreater(body["date_modified_gmt"], "2025-01-01T12:00:00")
        self.assertIsNotNone(body["date_completed_gmt"])
        self.assertEqual(body["line_items"][0]["sku"], "MUG-1")
        self.assertEqual(self.sim.order_status(100), "completed")
        bad = c.request("PUT", "/orders/100", {"status": "shipped"})
        self.assertError(bad, 400, "rest_invalid_param", "Invalid parameter(s): status")
        self.assertEqual(bad[2]["data"]["params"]["status"], "status is not one of pending, processing, on-hold, "
                         "completed, cancelled, refunded, failed, and checkout-draft.")
        self.assertError(c.request("PUT", "/orders/999", {"status": "completed"}), 400,
                         "woocommerce_rest_shop_order_invalid_id")
        self.assertError(c.request("GET", "/orders/999"), 404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        before = self.sim.orders[101]["date_modified_gmt"]
        status, hdrs, note = c.request("POST", "/orders/101/notes",
                                       {"note": "Shipped via UPS 1Z999", "customer_note": True})
        self.assertEqual(status, 201)
        self.assertEqual(set(note) - {"_links"}, {"id", "author", "date_created", "date_created_gmt", "note",
                                                  "customer_note"})
        self.assertEqual((note["note"], note["customer_note"], note["author"]), ("Shipped via UPS 1Z999", True,
                                                                                 "system"))
        self.assertTrue(hdrs["location"].endswith(f"/wp-json/wc/v3/orders/101/notes/{note['id']}"))
        self.assertEqual(self.sim.orders[101]["date_modified_gmt"], before)       # a note is no modification
        self.assertError(c.request("POST", "/orders/101/notes", {"customer_note": True}), 400,
                         "rest_missing_callback_param", "Missing parameter(s): note")
        self.assertError(c.request("POST", "/orders/999/notes", {"note": "x"}), 404,
                         "woocommerce_rest_order_invalid_id")
        notes = c.get("/orders/100/notes")[2]
        self.assertEqual([n["note"] for n in notes], ["Order status changed from Processing to Completed."])
        self.assertEqual([n["note"] for n in self.sim.order_notes(101)], ["Shipped via UPS 1Z999"])
        self.assertEqual(c.get("/orders/101/notes", type="internal")[2], [])

    def test_list_modified_after_with_pagination(self):
        c = self.client
        status, hdrs, body = c.get("/orders", modified_after="2025-01-02T12:00:00", dates_are_gmt="true",
                                   orderby="modified", order="asc", per_page="2")
        self.assertEqual(status, 200)
        self.assertEqual([o["id"] for o in body], [102, 103])      # exclusive: 101 (same second) is not included
        self.assertEqual((hdrs["x-wp-total"], hdrs["x-wp-totalpages"]), ("3", "2"))
        link = hdrs["link"]
        self.assertNotIn('rel="prev"', link)
        self.assertTrue(link.startswith(f"<{self.sim.url}/wp-json/wc/v3/orders?"
                                        "modified_after=2025-01-02T12%3A00%3A00&"))
        self.assertTrue(link.endswith('page=2>; rel="next"'))
        self.assertIn("oauth_signature=", link)        # WooCommerce copies every query parameter
        status, hdrs, body = c.get("/orders", modified_after="2025-01-02T12:00:00", dates_are_gmt="true",
                                   orderby="modified", order="asc", per_page="2", page="2")
        self.assertEqual([o["id"] for o in body], [104])
        self.assertIn("&per_page=2&page=1&oauth_consumer_key=", hdrs["link"])    # page replaced where it was
        self.assertTrue(hdrs["link"].endswith('>; rel="prev"'))
        self.assertNotIn('rel="next"', hdrs["link"])
        self.assertEqual([o["id"] for o in c.get("/orders")[2]], [104, 103, 102, 101, 100])  # date desc
        self.assertEqual([o["id"] for o in c.get("/orders", modified_after="2025-01-02T13:00:00+02:00")[2]],
                         [104, 103, 102, 101])                 # 11:00 UTC
        self.assertEqual([o["id"] for o in c.get("/orders", modified_after="2025-01-02T13:00:00")[2]], [104, 103, 102])
        self.assertEqual(c.get("/orders", status="completed")[2], [])
        self.sim.set_order_status(100, "on-hold")
        self.assertEqual([o["id"] for o in c.get("/orders", modified_after="2025-01-05T00:00:00")[2]], [104, 100])
        for query, name in (({"per_page": "101"}, "per_page"), ({"page": "0"}, "page"),
                            ({"modified_after": "yesterday"}, "modified_after"), ({"orderby": "total"}, "orderby"),
                            ({"dates_are_gmt": "maybe"}, "dates_are_gmt")):
            with self.subTest(query=query):
                answer = c.get("/orders", **query)
                self.assertError(answer, 400, "rest_invalid_param", f"Invalid parameter(s): {name}")
                self.assertIn(name, answer[2]["data"]["details"])
        self.assertEqual(c.get("/orders", per_page="101")[2]["data"]["params"]["per_page"],
                         "per_page must be between 1 (inclusive) and 100 (inclusive)")


class WebhookTests(SimTest):
    def test_webhooks(self):
        c = self.client
        wid = self.sim.add_webhook("order.updated", "https://bridge.example/wc", "s3cret")
        status, hdrs, body = c.get("/webhooks")
        self.assertEqual((status, [w["id"] for w in body], hdrs["x-wp-total"]), (200, [wid], "1"))
        hook = c.get(f"/webhooks/{wid}")[2]
        self.assertEqual((hook["status"], hook["topic"], hook["resource"], hook["event"]),
                         ("active", "order.updated", "order", "updated"))
        self.assertIn("woocommerce_update_order", hook["hooks"])
        self.assertNotIn("secret", hook)
        self.sim.set_webhook_status(wid, "disabled")
        self.assertEqual(c.get("/webhooks", status="disabled")[2][0]["id"], wid)
        body = c.request("PUT", f"/webhooks/{wid}", {"status": "active", "secret": "new"})[2]
        self.assertEqual(body["status"], "active")
        self.assertEqual(self.sim.webhooks[wid]["secret"], "new")
        status, hdrs, created = c.request("POST", "/webhooks", {"name": "bridge", "topic": "order.created",
                                                                "delivery_url": "https://bridge.example/wc"})
        self.assertEqual((status, created["name"], created["status"]), (201, "bridge", "active"))
        self.assertEqual(len(self.sim.webhooks[created["id"]]["secret"]), 50)
        self.assertError(c.request("POST", "/webhooks", {"topic": "order.shipped", "delivery_url": "https://x"}), 400,
                         "woocommerce_rest_webhook_invalid_topic")
        self.assertError(c.request("POST", "/webhooks", {"topic": "order.created"}), 400,
                         "rest_missing_callback_param", "Missing parameter(s): delivery_url")
        self.assertError(c.request("PUT", f"/webhooks/{wid}", {"status": "broken"}), 400, "rest_invalid_param")
        self.assertError(c.get("/webhooks/999"), 404, "woocommerce_rest_shop_webhook_invalid_id")


class ProtocolTests(SimTest):
    def test_unknown_routes(self):
        for method, path in (("GET", "/nothing"), ("DELETE", "/orders/100"), ("POST", "/orders"),
                             ("GET", "/products/batch")):
            with self.subTest(method=method, path=path):
                self.assertError(self.client.request(method, path, {} if method == "POST" else None), 404,
                                 "rest_no_route", "No route was found matching the URL and request method.")
        self.client.conn.request("GET", "/shop/")
        resp = self.client.conn.getresponse()
        self.assertEqual((resp.status, resp.getheader("Content-Type").split(";")[0]), (404, "text/html"))
        resp.read()

    def test_scripted_outage_and_reset(self):
        self.sim.script({"status": 503, "match": {"method": "POST", "path_prefix": "/wp-json/wc/v3/products/batch"},
                         "retry_after": "2"},
                        {"reset": True, "commit": True, "match": {"method": "PUT"}})
        status, hdrs, body = self.client.request("POST", "/products/batch", {"update": [{"id": 10,
                                                                                         "stock_quantity": 1}]})
        self.assertEqual((status, hdrs["retry-after"], hdrs["content-type"]), (503, "2", "text/html"))
        self.assertIn(b"503", body)
        self.assertEqual(self.sim.stock_of("MUG-1"), 5)
        self.assertEqual(self.client.get("/products/10")[0], 200)              # the PUT rule does not match a GET
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.client.request("PUT", "/products/10", {"stock_quantity": 2})
        self.assertEqual(self.sim.stock_of("MUG-1"), 2)                        # applied, answer lost
        c = Client(self.sim)
        self.assertEqual(c.request("PUT", "/products/10", {"stock_quantity": 2})[0], 200)
        c.close()
        self.assertEqual(self.sim.pending_rules(), 0)
        self.assertEqual(self.sim.status_counts(), {"503": 1, "200": 2, "reset": 1})
        call = self.sim.requests[0]
        self.assertEqual((call.method, call.path, call.body, call.status),
                         ("POST", "/wp-json/wc/v3/products/batch", {"update": [{"id": 10, "stock_quantity": 1}]}, 503))
        self.assertIsInstance(call, Call)
        self.sim.wait_until(lambda s: len(s.requests) == 4, timeout=1)


class ProcessTests(unittest.TestCase):
    def test_every_simulator_serves_from_one_entry_point(self):
        for kind in ("woocommerce", "shipstation", "erpnext", "odoo", "shipbob", "http"):
            with Standalone(f"serve.py {kind}") as proc:
                conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
                conn.request("GET", "/no-such-path")
                answer = conn.getresponse()
                answer.read()
                conn.close()
                self.assertIn(answer.status, (200, 401, 403, 404), kind)  # each answers in its own way
            self.assertEqual(proc.returncode, 0, kind)
            self.assertIsInstance(proc.summary, dict, kind)
        bad = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve.py"),
                              "no-such-system"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("usage: serve.py", bad.stderr)

    def test_standalone_process(self):
        with tempfile.TemporaryDirectory() as tmp:
            seed, dump = os.path.join(tmp, "seed.json"), os.path.join(tmp, "state.json")
            with open(seed, "w") as f:
                json.dump({"products": [{"id": 5, "sku": "A", "stock_quantity": 1}, {"id": 6, "sku": "B",
                                                                                      "manage_stock": False}],
                           "variations": [{"product_id": 6, "variation_id": 7, "sku": "B-1", "stock_quantity": 2}],
                           "orders": [{"id": 9, "status": "processing",
                                       "line_items": [{"sku": "A", "quantity": 1, "product_id": 5}]}]}, f)
            with Standalone("woocommerce_sim.py", "--seed", seed, "--script", '[{"status": 503}]',
                            "--dump", dump) as proc:
                sim = type("S", (), {"url": f"http://127.0.0.1:{proc.port}", "port": proc.port})()
                c = Client(sim)
                self.assertEqual(c.get("/products", sku="B-1")[0], 503)
                status, _, body = c.get("/products", sku="B-1")
                self.assertEqual((status, body[0]["id"], body[0]["stock_quantity"]), (200, 7, 2))
                c.close()
            self.assertEqual(proc.returncode, 0)
            summary = proc.summary
            self.assertEqual(summary, {"requests": 2, "products": 2, "variations": 1, "orders": 1,
                                       "status_counts": {"200": 1, "503": 1}})
            with open(dump) as f:
                state = json.load(f)
            self.assertEqual(state["orders"]["9"]["line_items"][0]["sku"], "A")


if __name__ == "__main__":
    unittest.main()
