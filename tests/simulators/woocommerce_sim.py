#!/usr/bin/env python3
"""A WooCommerce REST API v3 simulator standing in for the shop the daemon calls back (stock, order status,
notes, webhook watchdog) (Python stdlib only).

It follows the WooCommerce fact sheet (woocommerce.md), sections 3.1 to 3.4 (authentication, stock updates
and batches, order status and notes, lists, pagination, errors, no rate limit), and, where the fact sheet
is silent, the WooCommerce trunk sources it cites (class-wc-rest-authentication.php, wc-rest-functions.php,
the v2/v3 CRUD, products, variations, orders, order-notes and webhooks controllers, class-wc-rest-controller
batch_items) and WordPress' REST server (argument validation, error envelopes, Link headers).
Everything lives under /wp-json/wc/v3; the site (home) URL is `sim.url`, http://127.0.0.1:<port>.

In a test process:

    with WooCommerceSim() as wc:                        # consumer key "ck_test", secret "cs_test"
        wc.add_product(10, "MUG-1", stock_quantity=5)
        wc.add_product(20, "TEE", manage_stock=False)   # becomes "variable" with its first variation
        wc.add_variation(20, 21, "TEE-RED-M", stock_quantity=3)
        wc.add_order(501, "processing", [{"sku": "MUG-1", "quantity": 2, "product_id": 10}])
        wc.script({"status": 503, "match": {"method": "POST", "path_prefix": "/wp-json/wc/v3/products/batch"}})
        ... point the connector at wc.url with OAuth 1.0a (plain HTTP) ...
        wc.wait_until(lambda s: s.stock_of("MUG-1") == 4, timeout=10)
        assert wc.order_status(501) == "completed"

Constructor: WooCommerceSim(consumer_key="ck_test", consumer_secret="cs_test", tls=False, host="127.0.0.1",
port=0, *, permissions="read_write"). It listens in a daemon thread (ThreadingHTTPServer, HTTP/1.1
keep-alive, Content-Length on every answer, TCP_NODELAY, one write per answer); a context manager with
`close()`. Attributes `url`, `port`. `permissions` is the key's permission ("read", "write", "read_write").

Seeding (before or during a test; ids are the caller's): add_product(id, sku, stock_quantity=None,
manage_stock=True, type="simple", name=None); add_variation(product_id, variation_id, sku,
stock_quantity=None, manage_stock=True) (the parent becomes type "variable"; KeyError if it is unknown);
add_order(id, status="processing", line_items=None, **fields) where each line item is a dict with at least
sku, quantity, product_id (variation_id, name, total... optional; an item id is added) and fields may set
date_created_gmt / date_modified_gmt ("YYYY-MM-DDTHH:MM:SS", UTC), billing, shipping, total, currency...;
add_webhook(topic, delivery_url, secret, status="active", name=None) -> id. Changes "as if made in the
shop's admin": set_order_status(id, status) (with the status-change note, date_modified refreshed),
set_webhook_status(id, status) (e.g. "disabled", as after delivery failures).

State (snapshots, thread-safe): `products` {id: product as GET /products/<id> shows it}, `variations`
{id: variation as GET /products/<pid>/variations/<id> shows it}, `orders` {id: order as GET /orders/<id>
shows it, plus "notes": [note, ...] oldest first}, `webhooks` {id: webhook as the API shows it, plus
"secret"}, `requests` [Call] where Call = (method, path, query, body, status): the URL-decoded path
(with /wp-json/wc/v3), the query as a dict of first values, the parsed JSON body or None, and the status
answered or "hang" / "reset"; `status_counts()`; `wait_until(predicate, timeout, what)` waits until
predicate(sim) holds (AssertionError on timeout). Convenience: `stock_of(sku)` the stock_quantity the API
shows for the product or variation with exactly that SKU (None if it does not manage stock or is unknown),
`order_status(id)` and `order_notes(id)` (KeyError for an unknown order); `set_stock(id, quantity)` edits a
product's or variation's stock as the shop's admin would (no webhook is sent).

Scripting (the shared `Scripted` mixin): `script(*rules)` appends rules consumed in order by the requests
they match (an int N is short for {"status": N}); `clear_script()`, `pending_rules()`. Rule keys:
    status       answer this code with a canned body instead of serving the request: 400 rest_invalid_param,
                 401 woocommerce_rest_authentication_error, 403 rest_forbidden, 404 rest_no_route,
                 413 woocommerce_rest_request_entity_too_large, 500 WordPress' "critical error" body
                 (code internal_server_error), 429/502/503/504 an nginx HTML page (assumption: REST v3 has
                 no limiter, so a 429 comes from the host or a WAF), others {"code":"simulated_error",...}
    body         the answer body instead (dict/list sent as JSON, str or bytes)
    headers      extra answer headers; retry_after: a Retry-After header
    delay        seconds before the request is served (or answered)
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    commit       True: serve the request first (its changes are kept), then hang, reset or answer
                 `status` instead (e.g. {"reset": True, "commit": True}: stock written, answer lost)
    count        requests the rule answers before it is used up (default 1; None: never)
    match        {"method": "PUT", "path_prefix": "/wp-json/wc/v3/orders", "path": exact} or a
                 callable(RequestInfo(method, path, query, body)) -> bool
Order for every request: authentication (a refused request answers 401 and consumes no rule; anonymous
requests consume none either), the key's read/write permission, the first matching rule, the endpoint.
There is no rate limit (REST v3 has none); script 429s to test back-off.

Authentication (WC_REST_Authentication, reproduced exactly):
    tls=False    WordPress' is_ssl() is false: HTTP Basic and ?consumer_key=&consumer_secret= are ignored;
                 only OAuth 1.0a one-legged is tried. Parameters oauth_consumer_key, oauth_timestamp,
                 oauth_nonce, oauth_signature_method (HMAC-SHA1 | HMAC-SHA256), oauth_signature come from
                 the query string and the form body of a POST (PHP's $_GET + $_POST), overridden by an
                 `Authorization: OAuth k="v", ...` header (values urldecoded). String to sign:
                     METHOD & rawurlencode(home + "/" + request path, raw, without query) &
                     implode("%26", [rawurlencode(rawurlencode(k) + "=" + rawurlencode(v))])
                 over every parameter except oauth_signature, sorted by the decoded key (strcmp), keys
                 and values decoded once (as PHP does for $_GET) and then encoded per RFC 3986 (`~`
                 kept). NOTE: each pair is encoded a second time as a whole (join_with_equals_sign runs
                 wc_rest_urlencode_rfc3986 on "key=value"), so a value "A,B" appears as "A%252CB": this
                 is the standard RFC 5849 base string, NOT a single-encoded one. Array parameters
                 (status[]=a) become "status%255B0%255D%3Da". Key: consumer secret + "&"; signature:
                 base64 of the raw HMAC; the body is not signed; the given signature is rawurldecoded
                 once (after " " -> "+"). With tls=True the home URL in the string is https://...
                 Checks in WooCommerce's order, each a 401 woocommerce_rest_authentication_error unless
                 noted: some but not all five parameters present -> woocommerce_rest_authentication_
                 missing_parameter "Missing OAuth parameter(s) a, b" (PHP empty(): "" and "0" count as
                 missing); unknown key "Consumer key is invalid."; method not HMAC-SHA1/256 "Invalid
                 signature - signature method is invalid."; mismatch "Invalid signature - provided
                 signature does not match."; timestamp not within +-15 min "Invalid timestamp.";
                 nonce already stored "Invalid nonce - nonce has already been used.". Nonces are stored
                 as WooCommerce stores them, one per timestamp value ({timestamp: nonce}, entries older
                 than 15 min dropped): a second nonce with the same oauth_timestamp replaces the first,
                 which may then be used again. A nonce is stored only when the signature and timestamp
                 are good (so also when the request is later answered by a scripted rule).
    tls=True     as if behind TLS: ?consumer_key=&consumer_secret= or HTTP Basic ck:cs is tried first
                 (unknown key: silently anonymous; right key, wrong secret: 401 "Consumer secret is
                 invalid."), then OAuth as above.
    anonymous    no credentials (or Basic without TLS) is not an error: the request reaches the route
                 and its permission check answers 401 woocommerce_rest_cannot_view "Sorry, you cannot
                 list resources." (lists), "... cannot view this resource." (items), woocommerce_rest_
                 cannot_create / _cannot_edit / _cannot_delete / _cannot_batch for writes; an item
                 route on an unknown id answers its 404/400 instead, as WooCommerce does.
    permissions  a "read" key doing POST/PUT/PATCH/DELETE: 401 "The API key provided does not have write
                 permissions." (and "... read permissions." the other way), before routing.

Requests (WordPress REST server): routes match case-insensitively, a trailing slash ignored; an unknown
route or method is 404 rest_no_route "No route was found matching the URL and request method."; a path
outside /wp-json/ is WordPress' HTML 404 page. PUT, PATCH and POST all update an item. Parameters are the
URL ones overridden by the query, then the form body, then a JSON body (Content-Type application/json;
a JSON body with another Content-Type is IGNORED, as WordPress does; an unparsable one is 400
rest_invalid_json). So a body "id" overrides the id in the URL, as in WordPress. Declared arguments are
validated before the permission check: 400 rest_invalid_param "Invalid parameter(s): a, b" with
data.params and data.details (types integer/boolean/date-time, per_page 1..100, page >= 1, enums), and
400 rest_missing_callback_param "Missing parameter(s): x". Answers: JSON `application/json; charset=UTF-8`
with "/" escaped as "\\/" (wp_json_encode), errors {"code","message","data":{"status":N,...}}.

Products (`/products`, `/products/<id>`, `/products/batch`, `/products/<pid>/variations[/<id>|/batch]`):
    GET  /products              per_page (default 10, max 100), page, offset, order (asc|desc, default
                 desc), orderby (date default, id, modified, title, slug, include, price, popularity,
                 rating, menu_order), type, sku. `sku=A,B` matches products AND variations whose SKU is
                 one of A, B or the whole string "A,B" (as WooCommerce does); the match ignores case
                 (MySQL's default collation; assumption: accents and trailing blanks are compared
                 exactly). Variations answer type "variation" and their parent_id. Trashed products are
                 left out. X-WP-Total, X-WP-TotalPages, Link (see orders).
    GET  /products/<id>         a product, or a variation in the product schema (type "variation"); unknown
                 404 woocommerce_rest_product_invalid_id "Invalid ID.".
    PUT  /products/<id>         manage_stock, stock_quantity, inventory_delta, stock_status, backorders, sku,
                 name, regular_price, status. Unknown id 400 woocommerce_rest_product_invalid_id "Invalid
                 ID." (WooCommerce's update answers 400, its GET 404); a variation id 404
                 woocommerce_rest_invalid_product_id "To manipulate product variations you should use the
                 /products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint." (entities as sent).
                 Stock, as the products controller does it (store option woocommerce_manage_stock "yes"):
                 manage_stock is set first; if the product then manages stock, stock_quantity (else
                 inventory_delta, added to the current quantity, read-modify-write) is applied with
                 intval() semantics ("12" -> 12, "abc" -> 0, null ignored); if it does not, stock_quantity
                 is cleared to null whatever was sent. Grouped/external products never manage stock.
                 stock_status then follows the quantity: > 0 instock, else onbackorder when backorders
                 are allowed, else outofstock; a variable parent's stock_status follows its variations
                 (any instock -> instock, else any onbackorder, else outofstock). A duplicate SKU (case
                 ignored) is 400 product_invalid_sku "Invalid or duplicated SKU.". date_modified
                 refreshed (assumption: on every successful update).
    POST /products              create (type simple default, variable, grouped, external); 201 + Location;
                 an "id" in the body 400 woocommerce_rest_product_exists "Cannot create existing product.".
    DELETE /products/<id>       force=true deletes (with its variations), else status "trash" (a second
                 time 410 woocommerce_rest_already_trashed); answers the object.
    POST /products/batch        (also PUT/PATCH) {"create":[...],"update":[...],"delete":[ids]}: more than
                 100 items in total -> 413 woocommerce_rest_request_entity_too_large "Unable to accept more
                 than 100 items for this request." and nothing is applied. Otherwise 200 with
                 {"create":[...],"update":[...],"delete":[...]} (only the non-empty lists; [] if none),
                 each item applied independently as the single endpoint would, answering the full object
                 or {"id": <id as sent, 0 for create>, "error": {"code","message","data":{"status":N}}}:
                 unknown id woocommerce_rest_product_invalid_id "Invalid ID." 400 (404 on delete), a
                 variation id woocommerce_rest_invalid_product_id 404 (see PUT). A batch list that is not
                 a list/object is a PHP fatal in WooCommerce: 500 internal_server_error here too.
    GET  /products/<pid>/variations[/<id>], PUT|DELETE /products/<pid>/variations/<id>, POST .../batch
                 The variation endpoints. GET of an unknown id 404 woocommerce_rest_product_variation_
                 invalid_id "Invalid ID."; PUT of an unknown id 400 with that code; a variation of another
                 parent 403 woocommerce_rest_cannot_edit "Parent product does not match current
                 variation." (401 when anonymous). Stock as in the variations controller: manage_stock
                 true/false ("parent" means false); if the variation manages stock (or its parent does),
                 stock_quantity / inventory_delta apply, else stock_quantity is cleared and backorders
                 set to "no". A variation that does not manage stock under a parent that does shows
                 manage_stock "parent" and the parent's stock_quantity. In the variations batch each item
                 gets the URL's product_id unless it carries its own. Assumption: a batch item naming a
                 variation of another parent (update or delete) answers an error item with the 403 above
                 and changes nothing; in the WooCommerce code read, the batch path skips that permission
                 check and v3 sets the variation's parent to the URL's product, i.e. the real shop may
                 silently RE-PARENT the variation. Never send a variation under a foreign parent.
                 Assumption: creating a variation needs an existing parent (else an error 404
                 woocommerce_rest_product_invalid_id) and makes it "variable".
Orders (`/orders`, `/orders/<id>`, `/orders/<id>/notes[/<note id>]`):
    GET  /orders                modified_after / modified_before / after / before (ISO 8601; an offset is
                 converted to UTC; assumption: the site's timezone is UTC, so dates_are_gmt changes
                 nothing but is validated as a boolean), status (list or comma list; any default), orderby
                 (date default, modified, id, include, title, slug), order (desc default), per_page
                 (default 10, 1..100, else 400 rest_invalid_param), page, offset. The date filters are
                 exclusive and compare whole seconds (MySQL DATETIME): an order modified in the same
                 second as modified_after is NOT returned. Headers X-WP-Total, X-WP-TotalPages and an RFC
                 5988 Link: `<url>; rel="prev", <url>; rel="next"` as WooCommerce's CRUD controller builds
                 it (only prev/next, never first/last; every query parameter, oauth_* included,
                 urldecoded once more and PHP-urlencoded, page replaced or appended; a "+" in a value thus
                 turns into a space, as in WooCommerce). Orders answer id, parent_id, status, currency,
                 dates (local and _gmt, "YYYY-MM-DDTHH:MM:SS"), total, billing, shipping, customer_note,
                 number, order_key, meta_data, line_items, ... (a subset of the real order, plus any field
                 given to add_order).
    GET  /orders/<id>           unknown 404 woocommerce_rest_shop_order_invalid_id "Invalid ID.".
    PUT  /orders/<id>           status among pending, processing, on-hold, completed, cancelled, refunded,
                 failed, checkout-draft (else 400 rest_invalid_param "status is not one of ..."),
                 customer_note, manual_update. A status change adds the note "Order status changed from
                 Processing to Completed." (author "system", or the API user with manual_update) and sets
                 date_completed for completed; date_modified refreshed. Unknown id 400
                 woocommerce_rest_shop_order_invalid_id "Invalid ID.". Assumption: other fields are
                 ignored and stock is not touched by status changes.
    POST /orders/<id>/notes     {"note" (required), "customer_note": bool, "added_by_user": bool} -> 201 +
                 Location with {id, author ("system", or the API user "admin" with added_by_user),
                 date_created, date_created_gmt, note, customer_note}. A note does not change the order's
                 date_modified. Unknown order 404 woocommerce_rest_order_invalid_id "Invalid order ID.".
    GET  /orders/<id>/notes     newest first; type any|customer|internal.
Webhooks (`/webhooks`, `/webhooks/<id>`, for the watchdog): GET list (status all|active|paused|disabled,
    paging as above), GET item (unknown 404 woocommerce_rest_shop_webhook_invalid_id "Invalid ID."),
    POST create (topic and delivery_url required; topic resource.event with resource coupon|customer|
    order|product and event created|updated|deleted|restored, or action.woocommerce_* / action.wc_*, else
    400 woocommerce_rest_webhook_invalid_topic "Webhook topic is required and must be valid."; a
    delivery_url not http(s) 400 woocommerce_rest_webhook_invalid_delivery_url; no secret: a random
    50-character one; 201 + Location), PUT item (name, status active|paused|disabled, secret,
    delivery_url, topic; unknown id 400 "ID is invalid."), DELETE item (force=true, else 501
    woocommerce_rest_trash_not_supported). Answers id, name, status, topic, resource, event, hooks,
    delivery_url, dates; the secret is never answered (it is write-only in WooCommerce), see `webhooks`.
    Assumptions: the texts of the webhook errors; no ping is sent to the delivery URL.
Not simulated (404 rest_no_route): order creation and deletion, refunds, customers, coupons, other
namespaces, ?rest_route= (plain permalinks).
Dates are UTC with whole seconds; two changes in the same second share a date_modified.

As a process, for end-to-end tests:

    woocommerce_sim.py --port 0 [--consumer-key ck --consumer-secret cs --tls --permissions read_write
                       --seed seed.json --script '[{"status": 503}]' --dump state.json]

where seed.json is {"products": [add_product kwargs], "variations": [add_variation kwargs, with
"product_id" and "variation_id"], "orders": [add_order kwargs], "webhooks": [add_webhook kwargs]}; prints
{"port": N} once listening and, on SIGTERM or SIGINT, one summary line {"requests", "products",
"variations", "orders", "status_counts"}; --dump writes {"products", "variations", "orders", "webhooks",
"requests"} there. Exits 0.
"""
import base64
import binascii
import copy
import datetime
import hashlib
import hmac
import json
import math
import re
import secrets
import string
import sys
import threading
import time
import traceback
import urllib.parse

from erpnext_sim import _HTTPServer, _Outcome, _Rule, _canned, _nginx_page, _ruled_outcome
from scripting import (Call, Recorded, RequestInfo, Scripted, ThreadedServer, finish_process, parse_request,
                       process_parser, record, serve_until_signalled, take_rule)

__all__ = ["WooCommerceSim", "Call", "RequestInfo", "ORDER_STATUSES", "WEBHOOK_STATUSES", "API_PREFIX"]

API_PREFIX = "/wp-json/wc/v3"
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
                  "checkout-draft")
STATUS_NAMES = {"pending": "Pending payment", "processing": "Processing", "on-hold": "On hold",
                "completed": "Completed", "cancelled": "Cancelled", "refunded": "Refunded", "failed": "Failed",
                "checkout-draft": "Draft"}
WEBHOOK_STATUSES = ("active", "paused", "disabled")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
BACKORDERS = ("no", "notify", "yes")
JSON_TYPE = "application/json; charset=UTF-8"
BATCH_LIMIT = 100
OAUTH_WINDOW = 15 * 60
OAUTH_NAMES = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
API_USER = "admin"            # assumption: the display name of the user the API key belongs to
WC_VERSION = "10.2.1"
REST_HEADERS = (("X-Robots-Tag", "noindex"), ("X-Content-Type-Options", "nosniff"),
                ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
                ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, "
                                                 "Content-Type"))
NO_ROUTE = ("rest_no_route", "No route was found matching the URL and request method.", 404)
CRITICAL = ("<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/"
            "documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>")
PERMISSION = {"list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
              "read": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
              "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
              "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
              "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
              "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this "
                                                         "resource.")}
VARIATION_VIA_PRODUCTS = ("To manipulate product variations you should use the "
                          "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.")
PARENT_MISMATCH = "Parent product does not match current variation."
WEBHOOK_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded", "woocommerce_delete_order_refund"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product",
                        "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_REST_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+|)(?:[Zz]|[+-]\d{2}(?::\d{2}|))?$")
_OAUTH_HEADER_PARAM = re.compile(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))')


# --- PHP / WordPress semantics --------------------------------------------------------------------------------

class _WPError(Exception):
    """A WP_Error: answered as {"code","message","data":{"status",...}}."""

    def __init__(self, code, message, status, data=None, headers=()):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.data = dict(data or {})
        self.headers = list(headers)

    def payload(self):
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


class _Fatal(Exception):
    """A PHP fatal error: WordPress' critical error answer (500)."""


def _auth_error(message):
    return _WPError("woocommerce_rest_authentication_error", message, 401)


def _php_empty(value):
    return value is None or value is False or value == "" or value == "0" or value == 0 or value == {} \
        or value == []


def _isset(params, key):
    return params.get(key) is not None


def _rawurlencode(text, encoding="utf-8"):
    """PHP rawurlencode (RFC 3986: only A-Z a-z 0-9 - _ . ~ kept)."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in str(text).encode(encoding))


def _php_urlencode(text):
    """PHP urlencode: space -> "+", only A-Z a-z 0-9 - _ . kept."""
    out = []
    for b in str(text).encode("utf-8"):
        if b == 0x20:
            out.append("+")
        elif b in _UNRESERVED and b != 0x7E:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def _php_parse_str(qs, encoding="utf-8"):
    """PHP parse_str / $_GET: "+" is a space, the last value wins, name[] and name[key] build arrays (ordered
    dicts here), "." and " " in a top-level name become "_"."""
    out = {}
    for part in qs.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = urllib.parse.unquote_plus(name, encoding=encoding, errors="replace")
        value = urllib.parse.unquote_plus(value, encoding=encoding, errors="replace")
        base, bracket, rest = name.partition("[")
        if not base:
            continue
        base = base.replace(".", "_").replace(" ", "_")
        if not bracket:
            out[base] = value
            continue
        if "]" not in rest:                 # PHP turns an unclosed "[" into "_"
            out[base + "_" + rest] = value
            continue
        segments = re.findall(r"\[([^\]]*)\]", "[" + rest)
        container, key = out, base
        for seg in segments:
            nxt = container.get(key)
            if not isinstance(nxt, dict):
                nxt = {}
                container[key] = nxt
            if seg == "":
                ints = [int(k) for k in nxt if isinstance(k, str) and re.fullmatch(r"-?\d+", k)]
                seg = str(max(ints) + 1 if ints else 0)
            container, key = nxt, seg
        container[key] = value
    return out


def _php_number(value):
    """The number a PHP numeric string stands for, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _PHP_NUMERIC.match(value):
        return float(value)
    return None


def _intval(value):
    """PHP intval(), as wc_stock_amount() applies it."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, (list, dict)):
        return 1 if value else 0
    text = str(value)
    number = _php_number(text)
    if number is not None:
        return int(number) if math.isfinite(number) else 0
    m = re.match(r"^[ \t\n\r\v\f]*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def _wc_bool(value):
    """wc_string_to_bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() in ("yes", "true", "1")
    return value == 1


def _wp_list(items):
    items = [str(i) for i in items]
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _wp_json(payload):
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def _fmt(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S") if dt is not None else None


def _parse_rest_date(value):
    """rest_parse_date + WP_Date_Query: naive UTC datetime with whole seconds, or None if invalid."""
    if not isinstance(value, str) or not _REST_DATE.match(value):
        return None
    text = value.replace("t", "T").replace(" ", "T", 1)
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + rest[digits:]
    m = re.search(r"([+-]\d{2})$", text)
    if m:
        text += ":00"
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt.replace(microsecond=0)


def _seed_date(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0, tzinfo=None)
    dt = _parse_rest_date(str(value))
    if dt is None:
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DDTHH:MM:SS)")
    return dt


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


# --- OAuth 1.0a as WC_REST_Authentication::check_oauth_signature -----------------------------------------------

def _wc_rfc3986(value):
    """wc_rest_urlencode_rfc3986 (trunk): rawurlencode, arrays element-wise. Values here are latin-1 strings,
    one character per byte of the request, so the bytes are encoded exactly as PHP sees them."""
    if isinstance(value, dict):
        return {k: _wc_rfc3986(v) for k, v in value.items()}
    return _rawurlencode(value, "latin-1")


def _join_with_equals_sign(params, out, prefix=""):
    for key, value in params.items():
        if prefix:
            key = prefix + "%5B" + str(key) + "%5D"
        if isinstance(value, dict):
            _join_with_equals_sign(value, out, key)
        else:
            out.append(_wc_rfc3986(key + "=" + value))
    return out


def _oauth_string_to_sign(method, base_url, params):
    """METHOD & rawurlencode(url) & the normalized parameters, exactly as WooCommerce builds it."""
    ordered = sorted((k for k in params if k != "oauth_signature"), key=lambda k: str(k).encode("latin-1"))
    normalized = {_wc_rfc3986(k): _wc_rfc3986(params[k]) for k in ordered}
    return (method.upper() + "&" + _rawurlencode(base_url, "latin-1") + "&"
            + "%26".join(_join_with_equals_sign(normalized, [])))


def _parse_oauth_header(header):
    header = header.strip()
    if not header.startswith("OAuth "):
        return {}
    params = {}
    for m in _OAUTH_HEADER_PARAM.finditer(header):
        raw = m.group(3) if not _php_empty(m.group(3)) else (m.group(4) or "")
        params[m.group(1)] = urllib.parse.unquote_plus(raw, encoding="latin-1")
    return params


def _basic_credentials(header):
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode("latin-1").partition(":")
    except (ValueError, binascii.Error):
        return None, None
    return (user, password) if sep else (None, None)


# --- argument validation (WP_REST_Request::has_valid_params) ---------------------------------------------------

class _Args:
    def __init__(self, params):
        self.params = params
        self.invalid = {}

    def fail(self, name, code, message):
        self.invalid.setdefault(name, (code, message))

    def integer(self, name, default=None, minimum=None, maximum=None):
        if name not in self.params or self.params[name] is None:
            return default
        value = self.params[name]
        number = _php_number(value)
        if number is None or isinstance(value, (list, dict)) or not math.isfinite(float(number)) \
                or float(number) != round(float(number)):
            self.fail(name, "rest_invalid_type", f"{name} is not of type integer.")
            return default
        n = int(number)
        if minimum is not None and maximum is not None and not minimum <= n <= maximum:
            self.fail(name, "rest_out_of_bounds", f"{name} must be between {minimum} (inclusive) and {maximum} "
                                                  f"(inclusive)")
        elif minimum is not None and n < minimum:
            self.fail(name, "rest_out_of_bounds", f"{name} must be greater than or equal to {minimum}")
        return n

    def boolean(self, name, default=None):
        if name not in self.params or self.params[name] is None:
            return default
        value = self.params[name]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        self.fail(name, "rest_invalid_type", f"{name} is not of type boolean.")
        return default

    def enum(self, name, values, default=None):
        if name not in self.params or self.params[name] is None:
            return default
        value = self.params[name]
        if not isinstance(value, str) or value not in values:
            self.fail(name, "rest_not_in_enum", f"{name} is not one of {_wp_list(values)}.")
            return default
        return value

    def enum_list(self, name, values, default):
        if name not in self.params or self.params[name] is None:
            return default
        value = self.params[name]
        if isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, list):
            items = value
        else:
            items = [v.strip() for v in re.split(r"[\s,]+", str(value)) if v.strip()]
        for i, item in enumerate(items):
            if item not in values:
                self.fail(name, "rest_not_in_enum", f"{name}[{i}] is not one of {_wp_list(values)}.")
                return default
        return items

    def date(self, name):
        if name not in self.params or self.params[name] is None:
            return None
        dt = _parse_rest_date(self.params[name])
        if dt is None:
            self.fail(name, "rest_invalid_date", "Invalid date.")
        return dt

    def text(self, name, default=None):
        if name not in self.params or self.params[name] is None:
            return default
        value = self.params[name]
        if isinstance(value, (list, dict)):
            self.fail(name, "rest_invalid_type", f"{name} is not of type string.")
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def required(self, *names):
        missing = [n for n in names if n not in self.params or self.params[n] is None]
        if missing:
            raise _WPError("rest_missing_callback_param", "Missing parameter(s): " + ", ".join(missing), 400,
                           {"params": missing})

    def check(self):
        if self.invalid:
            raise _WPError("rest_invalid_param", "Invalid parameter(s): " + ", ".join(self.invalid), 400,
                           {"params": {k: m for k, (c, m) in self.invalid.items()},
                            "details": {k: {"code": c, "message": m, "data": None}
                                        for k, (c, m) in self.invalid.items()}})

    def paging(self, orderby_values):
        return {"page": self.integer("page", 1, minimum=1), "per_page": self.integer("per_page", 10, 1, 100),
                "offset": self.integer("offset"), "order": self.enum("order", ("asc", "desc"), "desc"),
                "orderby": self.enum("orderby", orderby_values, "date")}


class _Ctx:
    """One request as WordPress sees it."""
    __slots__ = ("method", "raw_path", "route", "query", "form", "json", "json_error", "user", "url_params")

    def __init__(self):
        self.url_params = {}

    @property
    def params(self):
        """URL params, overridden by the query, the form body, then the JSON body (WP_REST_Request order)."""
        merged = dict(self.url_params)
        merged.update(self.query)
        merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


# --- the shop: state and endpoints ----------------------------------------------------------------------------

class _Shop:
    def __init__(self, consumer_key, consumer_secret, tls, permissions):
        if permissions not in ("read", "write", "read_write"):
            raise ValueError("permissions is read, write or read_write")
        self.consumer_key, self.consumer_secret = str(consumer_key), str(consumer_secret)
        self.tls, self.permissions = bool(tls), permissions
        self.home = ""               # set once the port is known
        self.cond = threading.Condition(threading.RLock())
        self.rules = []
        self.calls = []
        self.nonces = {}             # {timestamp: nonce}, as WooCommerce keeps them on the key's row
        self.products = {}
        self.variations = {}
        self.orders = {}
        self.webhooks = {}
        self.next_post_id = 1
        self.next_item_id = 1
        self.next_note_id = 1
        self.next_webhook_id = 1

    # --- urls ----------------------------------------------------------------------------------------------
    def site(self):
        """The home URL; https:// when the shop is taken to be behind TLS."""
        return "https" + self.home[len("http"):] if self.tls else self.home

    def rest_url(self, route):
        return self.site() + "/wp-json/wc/v3/" + route.lstrip("/")

    # --- authentication ------------------------------------------------------------------------------------
    def authenticate(self, method, raw_path, get_params, post_params, headers):
        """(authenticated, error) as WC_REST_Authentication decides. get/post params are latin-1 strings."""
        error = None
        header = headers.get("Authorization") or ""
        if self.tls:
            ok, error = self._basic(get_params, header)
            if ok:
                return True, None
        params = dict(get_params)
        params.update(post_params)
        params.update(_parse_oauth_header(header))
        missing = [n for n in OAUTH_NAMES if _php_empty(params.get(n))]
        if len(missing) == len(OAUTH_NAMES):
            return False, error
        if missing:
            text = "Missing OAuth parameter " if len(missing) == 1 else "Missing OAuth parameters "
            return False, _WPError("woocommerce_rest_authentication_missing_parameter", text + ", ".join(missing),
                                   401)
        if any(isinstance(params[n], dict) for n in OAUTH_NAMES):
            return False, _auth_error("Invalid signature - provided signature does not match.")
        if params["oauth_consumer_key"].encode("latin-1", "replace") != self.consumer_key.encode():
            return False, _auth_error("Consumer key is invalid.")
        problem = self._check_signature(method, raw_path, params) or self._check_timestamp_and_nonce(
            params["oauth_timestamp"], params["oauth_nonce"])
        if problem is not None:
            return False, problem
        return True, error

    def _basic(self, get_params, header):
        key = secret = None
        if not _php_empty(get_params.get("consumer_key")) and not _php_empty(get_params.get("consumer_secret")):
            key, secret = get_params["consumer_key"], get_params["consumer_secret"]
        if _php_empty(key):
            user, password = _basic_credentials(header)
            if not _php_empty(user) and not _php_empty(password):
                key, secret = user, password
        if _php_empty(key) or _php_empty(secret) or not isinstance(key, str) or not isinstance(secret, str):
            return False, None
        if key.encode("latin-1", "replace") != self.consumer_key.encode():
            return False, None
        if not hmac.compare_digest(secret.encode("latin-1", "replace"), self.consumer_secret.encode()):
            return False, _auth_error("Consumer secret is invalid.")
        return True, None

    def _check_signature(self, method, raw_path, params):
        path = raw_path[1:] if raw_path.startswith("/") else raw_path
        base_url = self.site() + ("/" + path.lstrip("/") if path else "")
        given = urllib.parse.unquote(params["oauth_signature"].replace(" ", "+"), encoding="latin-1")
        to_sign = _oauth_string_to_sign(method, base_url, params)
        algorithm = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(params["oauth_signature_method"])
        if algorithm is None:
            return _auth_error("Invalid signature - signature method is invalid.")
        digest = hmac.new((self.consumer_secret + "&").encode(), to_sign.encode("latin-1"), algorithm).digest()
        if not hmac.compare_digest(base64.b64encode(digest), given.encode("latin-1", "replace")):
            return _auth_error("Invalid signature - provided signature does not match.")
        return None

    def _check_timestamp_and_nonce(self, timestamp, nonce):
        now = time.time()
        ts = _php_number(timestamp)
        if ts is None or ts < now - OAUTH_WINDOW or ts > now + OAUTH_WINDOW:
            return _auth_error("Invalid timestamp.")
        if nonce in self.nonces.values():
            return _auth_error("Invalid nonce - nonce has already been used.")
        key = int(timestamp) if re.fullmatch(r"0|-?[1-9]\d*", timestamp) else timestamp
        self.nonces[key] = nonce
        for stamp in [k for k in self.nonces if isinstance(k, int) and k < now - OAUTH_WINDOW]:
            del self.nonces[stamp]
        return None

    def key_permission(self, method):
        if method in ("HEAD", "GET"):
            if self.permissions not in ("read", "read_write"):
                return _auth_error("The API key provided does not have read permissions.")
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            if self.permissions not in ("write", "read_write"):
                return _auth_error("The API key provided does not have write permissions.")
        elif method != "OPTIONS":
            return _auth_error("Unknown request method.")
        return None

    # --- scripting -----------------------------------------------------------------------------------------
    @staticmethod
    def json_answer(status, payload, headers=()):
        return _Outcome(status=status, headers=list(REST_HEADERS) + list(headers), content_type=JSON_TYPE,
                        body=_wp_json(payload))

    @staticmethod
    def error_answer(error):
        return _Shop.json_answer(error.status, error.payload(), error.headers)

    @staticmethod
    def fatal_answer():
        return _Shop.json_answer(500, {"code": "internal_server_error", "message": CRITICAL, "data": {"status": 500},
                                       "additional_errors": []})

    def canned(self, rule):
        """The answer of a rule with a status (or a body)."""
        return _canned(rule, self.json_answer, self._status_answer, JSON_TYPE)

    def _status_answer(self, status, headers):
        if 200 <= status < 300:
            return self.json_answer(status, {}, headers)
        canned = {400: ("rest_invalid_param", "Invalid parameter(s): simulated"),
                  401: ("woocommerce_rest_authentication_error",
                        "Invalid signature - provided signature does not match."),
                  403: ("rest_forbidden", "Sorry, you are not allowed to do that."),
                  404: NO_ROUTE[:2],
                  413: ("woocommerce_rest_request_entity_too_large",
                        f"Unable to accept more than {BATCH_LIMIT} items for this request.")}
        if status in canned:
            code, message = canned[status]
            return self.json_answer(status, {"code": code, "message": message, "data": {"status": status}}, headers)
        if status in (429, 502, 503, 504):
            title = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
                     504: "Gateway Time-out"}[status]
            return _nginx_page(status, title, headers)
        if status == 500:
            out = self.fatal_answer()
            out.headers.extend(headers)
            return out
        return self.json_answer(status, {"code": "simulated_error", "message": "Simulated error.",
                                         "data": {"status": status}}, headers)

    # --- routing -------------------------------------------------------------------------------------------
    ROUTES = (
        (r"products", {"GET": "list_products", "POST": "create_product"}),
        (r"products/batch", {"POST": "batch_products", "PUT": "batch_products", "PATCH": "batch_products"}),
        (r"products/(?P<id>\d+)", {"GET": "get_product", "POST": "update_product", "PUT": "update_product",
                                   "PATCH": "update_product", "DELETE": "delete_product"}),
        (r"products/(?P<product_id>\d+)/variations", {"GET": "list_variations", "POST": "create_variation"}),
        (r"products/(?P<product_id>\d+)/variations/batch", {"POST": "batch_variations", "PUT": "batch_variations",
                                                            "PATCH": "batch_variations"}),
        (r"products/(?P<product_id>\d+)/variations/(?P<id>\d+)",
         {"GET": "get_variation", "POST": "update_variation", "PUT": "update_variation",
          "PATCH": "update_variation", "DELETE": "delete_variation"}),
        (r"orders", {"GET": "list_orders"}),
        (r"orders/(?P<id>\d+)", {"GET": "get_order", "POST": "update_order", "PUT": "update_order",
                                 "PATCH": "update_order"}),
        (r"orders/(?P<order_id>\d+)/notes", {"GET": "list_notes", "POST": "create_note"}),
        (r"orders/(?P<order_id>\d+)/notes/(?P<id>\d+)", {"GET": "get_note"}),
        (r"webhooks", {"GET": "list_webhooks", "POST": "create_webhook"}),
        (r"webhooks/(?P<id>\d+)", {"GET": "get_webhook", "POST": "update_webhook", "PUT": "update_webhook",
                                   "PATCH": "update_webhook", "DELETE": "delete_webhook"}),
    )

    def serve(self, ctx):
        """The WordPress REST server from route matching on: (status, payload, headers) as an _Outcome."""
        try:
            route = ctx.route.rstrip("/") or "/"
            if route.lower().startswith("/wc/v3/"):
                tail = route[len("/wc/v3/"):]
                for pattern, methods in self.ROUTES:
                    m = re.fullmatch(pattern, tail, re.IGNORECASE)
                    if m and (ctx.method if ctx.method != "HEAD" else "GET") in methods:
                        ctx.url_params = {k: v for k, v in m.groupdict().items()}
                        if ctx.json_error:
                            raise _WPError("rest_invalid_json", "Invalid JSON body passed.", 400,
                                           {"json_error_code": 4, "json_error_message": "Syntax error"})
                        handler = getattr(self, "_" + methods[ctx.method if ctx.method != "HEAD" else "GET"])
                        status, payload, headers = handler(ctx)
                        return self.json_answer(status, payload, headers)
            raise _WPError(*NO_ROUTE)
        except _WPError as e:
            return self.error_answer(e)
        except _Fatal:
            return self.fatal_answer()
        except Exception:           # a simulator bug: say so loudly, answer like a PHP fatal
            traceback.print_exc()
            return self.fatal_answer()

    @staticmethod
    def _need(ctx, kind):
        if not ctx.user:
            code, message = PERMISSION[kind]
            raise _WPError(code, message, 401)

    @staticmethod
    def _required_code(ctx):
        return 403 if ctx.user else 401     # rest_authorization_required_code()

    def _page(self, ctx, rows, paging, route):
        total = len(rows)
        per_page, page = paging["per_page"], paging["page"]
        start = paging["offset"] if paging["offset"] is not None else (page - 1) * per_page
        chunk = rows[max(start, 0): max(start, 0) + per_page]
        pages = math.ceil(total / per_page)
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
        links = []
        if page > 1:
            links.append(f'<{self._link(ctx, route, min(page - 1, pages))}>; rel="prev"')
        if pages > page:
            links.append(f'<{self._link(ctx, route, page + 1)}>; rel="next"')
        if links:
            headers.append(("Link", ", ".join(links)))
        return chunk, headers

    def _link(self, ctx, route, page):
        """add_query_arg(query params, rest_url(route)) then add_query_arg("page", n): values decoded once
        more and PHP-urlencoded, keys raw, page replaced in place or appended."""
        pairs, seen = [], False
        for key, value in ctx.query.items():
            if key == "page":
                pairs.append(f"page={page}")
                seen = True
            elif isinstance(value, dict):
                for sub, v in value.items():
                    v = v if isinstance(v, str) else ""
                    pairs.append(f"{key}%5B{sub}%5D={_php_urlencode(urllib.parse.unquote_plus(v))}")
            else:
                pairs.append(f"{key}={_php_urlencode(urllib.parse.unquote_plus(value))}")
        if not seen:
            pairs.append(f"page={page}")
        return self.rest_url(route) + "?" + "&".join(pairs)

    # --- products: model -----------------------------------------------------------------------------------
    def _new_product(self, pid, sku, stock_quantity, manage_stock, ptype, name):
        now = _now()
        return {"id": pid, "name": name if name is not None else f"Product {pid}", "type": ptype, "status": "publish",
                "sku": sku or "", "manage_stock": bool(manage_stock),
                "stock_quantity": _intval(stock_quantity) if manage_stock and stock_quantity is not None else None,
                "stock_status": "instock", "backorders": "no", "regular_price": "", "parent_id": 0,
                "variations": [], "date_created": now, "date_modified": now}

    def _new_variation(self, vid, parent_id, sku, stock_quantity, manage_stock):
        now = _now()
        return {"id": vid, "parent_id": parent_id, "sku": sku or "", "status": "publish",
                "manage_stock": bool(manage_stock),
                "stock_quantity": _intval(stock_quantity) if manage_stock and stock_quantity is not None else None,
                "stock_status": "instock", "backorders": "no", "regular_price": "", "date_created": now,
                "date_modified": now}

    def _bump_ids(self, *ids):
        self.next_post_id = max([self.next_post_id] + [i + 1 for i in ids])

    def _sku_taken(self, sku, own_id):
        if not sku:
            return False
        folded = sku.casefold()
        return any(p["sku"].casefold() == folded and p["id"] != own_id
                   for p in list(self.products.values()) + list(self.variations.values()))

    def _set_sku(self, item, sku):
        sku = str(sku).strip()
        if self._sku_taken(sku, item["id"]):
            raise _WPError("product_invalid_sku", "Invalid or duplicated SKU.", 400)
        item["sku"] = sku

    def _parent_manages(self, variation):
        parent = self.products.get(variation["parent_id"])
        return parent is not None and parent["manage_stock"]

    def _manage_view(self, item, is_variation):
        if item["manage_stock"]:
            return True
        return "parent" if is_variation and self._parent_manages(item) else False

    def _quantity_view(self, item, is_variation):
        if is_variation and not item["manage_stock"] and self._parent_manages(item):
            return self.products[item["parent_id"]]["stock_quantity"]
        return item["stock_quantity"]

    def _backorders_view(self, item, is_variation):
        if is_variation and not item["manage_stock"] and self._parent_manages(item):
            return self.products[item["parent_id"]]["backorders"]
        return item["backorders"]

    def _validate_stock(self, item, is_variation):
        """WC_Product::validate_props: a stock-managing item's status follows its quantity."""
        if not self._manage_view(item, is_variation):
            return
        quantity = _intval(self._quantity_view(item, is_variation))
        if quantity > 0:
            item["stock_status"] = "instock"
        elif self._backorders_view(item, is_variation) != "no":
            item["stock_status"] = "onbackorder"
        else:
            item["stock_status"] = "outofstock"

    def _resync(self, product_id):
        parent = self.products.get(product_id)
        if parent is None:
            return
        self._validate_stock(parent, False)
        children = [self.variations[v] for v in parent["variations"] if v in self.variations]
        for child in children:
            self._validate_stock(child, True)
        if parent["type"] == "variable" and children:
            statuses = {c["stock_status"] for c in children if c["status"] != "trash"}
            parent["stock_status"] = ("instock" if "instock" in statuses else
                                      "onbackorder" if "onbackorder" in statuses else "outofstock")

    def product_view(self, item, is_variation=False):
        """The products-controller schema (for a product, or a variation reached through /products)."""
        pid = item["id"]
        name = item.get("name") if not is_variation else self._variation_name(item)
        backorders = self._backorders_view(item, is_variation)
        quantity = self._quantity_view(item, is_variation)
        manage = self._manage_view(item, is_variation)
        view = {"id": pid, "name": name, "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
                "permalink": f"{self.site()}/?p={pid}", "date_created": _fmt(item["date_created"]),
                "date_created_gmt": _fmt(item["date_created"]), "date_modified": _fmt(item["date_modified"]),
                "date_modified_gmt": _fmt(item["date_modified"]),
                "type": "variation" if is_variation else item["type"], "status": item["status"], "featured": False,
                "catalog_visibility": "visible", "description": "", "short_description": "", "sku": item["sku"],
                "price": item["regular_price"], "regular_price": item["regular_price"], "sale_price": "",
                "on_sale": False, "purchasable": item["regular_price"] != "", "total_sales": 0, "virtual": False,
                "downloadable": False, "tax_status": "taxable", "tax_class": "", "manage_stock": manage,
                "stock_quantity": quantity, "backorders": backorders,
                "backorders_allowed": backorders in ("yes", "notify"),
                "backordered": bool(manage) and _intval(quantity) <= 0 and backorders in ("yes", "notify"),
                "low_stock_amount": None, "sold_individually": False, "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""}, "shipping_required": True,
                "parent_id": item["parent_id"] if is_variation else 0, "categories": [], "tags": [], "images": [],
                "attributes": [], "variations": [] if is_variation else list(item["variations"]),
                "meta_data": [], "stock_status": item["stock_status"],
                "has_options": not is_variation and item["type"] == "variable",
                "_links": {"self": [{"href": self.rest_url(f"products/{pid}")}],
                           "collection": [{"href": self.rest_url("products")}]}}
        if is_variation:
            view["_links"]["up"] = [{"href": self.rest_url(f"products/{item['parent_id']}")}]
        return view

    def _variation_name(self, variation):
        parent = self.products.get(variation["parent_id"])
        return parent["name"] if parent else f"Variation {variation['id']}"

    def variation_view(self, v):
        """The variations-controller schema. Assumption: "type": "variation" is included."""
        backorders = self._backorders_view(v, True)
        quantity = self._quantity_view(v, True)
        manage = self._manage_view(v, True)
        pid, parent_id = v["id"], v["parent_id"]
        return {"id": pid, "date_created": _fmt(v["date_created"]), "date_created_gmt": _fmt(v["date_created"]),
                "date_modified": _fmt(v["date_modified"]), "date_modified_gmt": _fmt(v["date_modified"]),
                "description": "", "permalink": f"{self.site()}/?p={pid}", "sku": v["sku"],
                "price": v["regular_price"], "regular_price": v["regular_price"], "sale_price": "", "on_sale": False,
                "status": v["status"], "purchasable": v["regular_price"] != "", "virtual": False,
                "downloadable": False, "tax_status": "taxable", "tax_class": "", "manage_stock": manage,
                "stock_quantity": quantity, "stock_status": v["stock_status"], "backorders": backorders,
                "backorders_allowed": backorders in ("yes", "notify"),
                "backordered": bool(manage) and _intval(quantity) <= 0 and backorders in ("yes", "notify"),
                "low_stock_amount": None, "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
                "image": None, "attributes": [], "menu_order": 0, "meta_data": [],
                "name": self._variation_name(v), "parent_id": parent_id, "type": "variation",
                "_links": {"self": [{"href": self.rest_url(f"products/{parent_id}/variations/{pid}")}],
                           "collection": [{"href": self.rest_url(f"products/{parent_id}/variations")}],
                           "up": [{"href": self.rest_url(f"products/{parent_id}")}]}}

    # --- products: writes ----------------------------------------------------------------------------------
    def _apply_product(self, p, params):
        """WC_REST_Products_Controller::prepare_object_for_database, the parts simulated."""
        if _isset(params, "name"):
            p["name"] = str(params["name"])
        if _isset(params, "sku"):
            self._set_sku(p, params["sku"])
        if _isset(params, "regular_price"):
            p["regular_price"] = str(params["regular_price"])
        if _isset(params, "status"):
            p["status"] = str(params["status"])
        if _isset(params, "manage_stock"):
            p["manage_stock"] = _wc_bool(params["manage_stock"])
        stock_status = p["stock_status"]
        if _isset(params, "stock_status"):
            stock_status = params["stock_status"] if params["stock_status"] in STOCK_STATUSES else "instock"
        if _isset(params, "backorders"):
            p["backorders"] = str(params["backorders"])
        if p["type"] in ("grouped", "external"):
            p["manage_stock"], p["backorders"], p["stock_quantity"] = False, "no", None
            p["stock_status"] = stock_status if p["type"] == "grouped" else "instock"
        elif p["manage_stock"]:
            if p["type"] != "variable":
                p["stock_status"] = stock_status
            if _isset(params, "stock_quantity"):
                p["stock_quantity"] = _intval(params["stock_quantity"])
            elif _isset(params, "inventory_delta"):
                p["stock_quantity"] = _intval(p["stock_quantity"]) + _intval(params["inventory_delta"])
        else:
            p["manage_stock"], p["stock_quantity"], p["stock_status"] = False, None, stock_status
        p["date_modified"] = _now()
        self._resync(p["id"])

    @staticmethod
    def _apply_or_restore(store, item_id, apply, params):
        """apply(store[item_id], params), the item put back as it was when that raises a WP_Error."""
        before = copy.deepcopy(store[item_id])
        try:
            apply(store[item_id], params)
        except _WPError:
            store[item_id] = before
            raise

    @staticmethod
    def _trash(item, post_type):
        """delete_item without force for a product or a variation: 410 when it is in the trash already."""
        if item["status"] == "trash":
            raise _WPError("woocommerce_rest_already_trashed", f"The {post_type} has already been deleted.", 410)
        item["status"] = "trash"

    def _product_update(self, params):
        """update_item for /products: (view) or raises the WP_Error WooCommerce answers."""
        pid = _intval(params.get("id"))
        if pid in self.variations:
            raise _WPError("woocommerce_rest_invalid_product_id", VARIATION_VIA_PRODUCTS, 404)
        p = self.products.get(pid)
        if p is None:
            raise _WPError("woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        self._apply_or_restore(self.products, pid, self._apply_product, params)
        return self.product_view(p)

    def _product_create(self, params):
        if not _php_empty(params.get("id")):
            raise _WPError("woocommerce_rest_product_exists", "Cannot create existing product.", 400)
        ptype = params.get("type") if params.get("type") in PRODUCT_TYPES else "simple"
        pid = self.next_post_id
        p = self._new_product(pid, "", None, False, ptype, params.get("name") or "Product")
        p["name"] = str(params.get("name") or "Product")
        self._apply_product(p, params)     # raises before storing on a bad SKU
        self.products[pid] = p
        self._bump_ids(pid)
        self._resync(pid)
        return self.product_view(p)

    def _product_delete(self, pid, force):
        if pid in self.variations:
            raise _WPError("woocommerce_rest_invalid_product_id", VARIATION_VIA_PRODUCTS, 404)
        p = self.products.get(pid)
        if p is None:
            raise _WPError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        view = self.product_view(p)
        if force:
            for vid in p["variations"]:
                self.variations.pop(vid, None)
            del self.products[pid]
        else:
            self._trash(p, "product")
            view = self.product_view(p)
        return view

    def _apply_variation(self, v, params):
        """WC_REST_Product_Variations_Controller::prepare_object_for_database, the parts simulated."""
        if _isset(params, "sku"):
            self._set_sku(v, params["sku"])
        if _isset(params, "regular_price"):
            v["regular_price"] = str(params["regular_price"])
        if _isset(params, "status"):
            v["status"] = str(params["status"])
        if _isset(params, "manage_stock"):
            v["manage_stock"] = _wc_bool(params["manage_stock"])
        if _isset(params, "stock_status"):
            v["stock_status"] = params["stock_status"] if params["stock_status"] in STOCK_STATUSES else "instock"
        if _isset(params, "backorders"):
            v["backorders"] = str(params["backorders"])
        if self._manage_view(v, True):
            if _isset(params, "stock_quantity"):
                v["stock_quantity"] = _intval(params["stock_quantity"])
            elif _isset(params, "inventory_delta"):
                v["stock_quantity"] = _intval(self._quantity_view(v, True)) + _intval(params["inventory_delta"])
        else:
            v["backorders"], v["stock_quantity"] = "no", None
        v["date_modified"] = _now()
        self._resync(v["parent_id"])

    def _variation_update(self, params, ctx):
        vid = _intval(params.get("id"))
        v = self.variations.get(vid)
        if v is None:
            raise _WPError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 400)
        if _intval(params.get("product_id")) != v["parent_id"]:
            raise _WPError("woocommerce_rest_cannot_edit", PARENT_MISMATCH, self._required_code(ctx))
        self._apply_or_restore(self.variations, vid, self._apply_variation, params)
        return self.variation_view(v)

    def _variation_create(self, params):
        if not _php_empty(params.get("id")):
            raise _WPError("woocommerce_rest_product_variation_exists", "Cannot create existing product_variation.",
                           400)
        parent_id = _intval(params.get("product_id"))
        parent = self.products.get(parent_id)
        if parent is None:
            raise _WPError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        vid = self.next_post_id
        v = self._new_variation(vid, parent_id, "", None, False)
        self.variations[vid] = v
        try:
            self._apply_variation(v, params)
        except _WPError:
            del self.variations[vid]
            raise
        self._bump_ids(vid)
        parent["type"] = "variable"
        parent["variations"].append(vid)
        self._resync(parent_id)
        return self.variation_view(v)

    def _variation_delete(self, vid, product_id, force, ctx):
        v = self.variations.get(vid)
        if v is None:
            raise _WPError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
        if product_id != v["parent_id"]:
            raise _WPError("woocommerce_rest_cannot_edit", PARENT_MISMATCH, self._required_code(ctx))
        view = self.variation_view(v)
        if force:
            del self.variations[vid]
            parent = self.products.get(v["parent_id"])
            if parent is not None and vid in parent["variations"]:
                parent["variations"].remove(vid)
        else:
            self._trash(v, "product_variation")
            view = self.variation_view(v)
        self._resync(v["parent_id"])
        return view

    def _batch(self, params, create, update, delete):
        """WC_REST_Controller::batch_items."""
        items = {k: params[k] for k in ("create", "update", "delete") if not _php_empty(params.get(k))}
        for key, value in items.items():
            if not isinstance(value, (list, dict)):
                raise _Fatal(f"count(): Argument #1 ($value) must be of type Countable|array, {key} given")
            if isinstance(value, dict):
                items[key] = list(value.values())
        if sum(len(v) for v in items.values()) > BATCH_LIMIT:
            raise _WPError("woocommerce_rest_request_entity_too_large",
                           f"Unable to accept more than {BATCH_LIMIT} items for this request.", 413)
        response = {}

        def error_item(item_id, e):
            return {"id": item_id, "error": {"code": e.code, "message": e.message,
                                             "data": {"status": e.status, **e.data}}}

        for item in items.get("create", []):
            try:
                response.setdefault("create", []).append(create(item if isinstance(item, dict) else {}))
            except _WPError as e:
                response["create"].append(error_item(0, e))
        for item in items.get("update", []):
            item = item if isinstance(item, dict) else {}
            try:
                response.setdefault("update", []).append(update(item))
            except _WPError as e:
                response["update"].append(error_item(item.get("id"), e))
        for item_id in items.get("delete", []):
            item_id = _intval(item_id)
            if item_id == 0:
                continue
            try:
                response.setdefault("delete", []).append(delete(item_id))
            except _WPError as e:
                response["delete"].append(error_item(item_id, e))
        return response or []

    # --- products: endpoints -------------------------------------------------------------------------------
    def _list_products(self, ctx):
        args = _Args(ctx.params)
        paging = args.paging(("date", "id", "include", "title", "slug", "price", "popularity", "rating",
                              "menu_order", "modified"))
        ptype = args.enum("type", PRODUCT_TYPES)
        sku = args.text("sku")
        args.check()
        self._need(ctx, "list")
        rows = [(p, False) for p in self.products.values() if p["status"] != "trash"]
        if not _php_empty(sku):
            wanted = sku.split(",")
            if len(wanted) > 1:
                wanted.append(sku)
            wanted = {w.casefold() for w in wanted}
            rows += [(v, True) for v in self.variations.values() if v["status"] != "trash"]
            rows = [(p, var) for p, var in rows if p["sku"] and p["sku"].casefold() in wanted]
        if ptype:
            rows = [(p, var) for p, var in rows if not var and p["type"] == ptype]
        rows = self._sorted(rows, paging, lambda r: r[0], lambda r: r[0].get("name") or "")
        chunk, headers = self._page(ctx, rows, paging, "products")
        return 200, [self.product_view(p, var) for p, var in chunk], headers

    @staticmethod
    def _sorted(rows, paging, item_of, title_of):
        orderby = paging["orderby"]
        if orderby == "modified":
            key = lambda r: (item_of(r)["date_modified"], item_of(r)["id"])
        elif orderby in ("id", "include"):
            key = lambda r: item_of(r)["id"]
        elif orderby in ("title", "slug"):
            key = lambda r: (title_of(r).lower(), item_of(r)["id"])
        else:
            key = lambda r: (item_of(r)["date_created"], item_of(r)["id"])
        return sorted(rows, key=key, reverse=paging["order"] == "desc")

    def _get_product(self, ctx):
        pid = _intval(ctx.params.get("id"))
        item, is_var = (self.variations.get(pid), True) if pid in self.variations else (self.products.get(pid), False)
        if item is not None:
            self._need(ctx, "read")
        if item is None:
            raise _WPError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        return 200, self.product_view(item, is_var), []

    def _validate_product_write(self, params):
        args = _Args(params)
        args.boolean("manage_stock")
        args.integer("stock_quantity")
        args.enum("stock_status", STOCK_STATUSES)
        args.enum("backorders", BACKORDERS)
        args.enum("type", PRODUCT_TYPES)
        args.text("sku")
        args.check()

    def _update_product(self, ctx):
        params = ctx.params
        self._validate_product_write(params)
        pid = _intval(params.get("id"))
        if (pid in self.products or pid in self.variations) and not ctx.user:
            self._need(ctx, "edit")
        return 200, self._product_update(params), []

    def _create_product(self, ctx):
        params = ctx.params
        self._validate_product_write(params)
        self._need(ctx, "create")
        view = self._product_create(params)
        return 201, view, [("Location", self.rest_url(f"products/{view['id']}"))]

    def _delete_product(self, ctx):
        args = _Args(ctx.params)
        force = args.boolean("force", False)
        args.check()
        pid = _intval(ctx.params.get("id"))
        if (pid in self.products or pid in self.variations) and not ctx.user:
            self._need(ctx, "delete")
        return 200, self._product_delete(pid, force), []

    def _batch_products(self, ctx):
        self._need(ctx, "batch")
        body = ctx.params
        return 200, self._batch(body, self._product_create, self._product_update,
                                lambda pid: self._product_delete(pid, True)), []

    def _list_variations(self, ctx):
        args = _Args(ctx.params)
        paging = args.paging(("date", "id", "include", "title", "slug", "modified", "menu_order"))
        args.check()
        self._need(ctx, "list")
        parent_id = _intval(ctx.params.get("product_id"))
        rows = [v for v in self.variations.values() if v["parent_id"] == parent_id and v["status"] != "trash"]
        rows = self._sorted(rows, paging, lambda r: r, lambda r: r["sku"])
        chunk, headers = self._page(ctx, rows, paging, f"products/{parent_id}/variations")
        return 200, [self.variation_view(v) for v in chunk], headers

    def _get_variation(self, ctx):
        params = ctx.params
        v = self.variations.get(_intval(params.get("id")))
        if v is None:
            raise _WPError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
        if _intval(params.get("product_id")) != v["parent_id"]:
            raise _WPError("woocommerce_rest_cannot_edit", PARENT_MISMATCH, self._required_code(ctx))
        self._need(ctx, "read")
        return 200, self.variation_view(v), []

    def _update_variation(self, ctx):
        params = ctx.params
        args = _Args(params)
        args.integer("stock_quantity")
        args.enum("stock_status", STOCK_STATUSES)
        args.enum("backorders", BACKORDERS)
        args.text("sku")
        args.check()
        v = self.variations.get(_intval(params.get("id")))
        if v is not None:
            self._need(ctx, "edit")
            if _intval(params.get("product_id")) != v["parent_id"]:
                raise _WPError("woocommerce_rest_cannot_edit", PARENT_MISMATCH, self._required_code(ctx))
        return 200, self._variation_update(params, ctx), []

    def _create_variation(self, ctx):
        params = ctx.params
        args = _Args(params)
        args.integer("stock_quantity")
        args.enum("stock_status", STOCK_STATUSES)
        args.enum("backorders", BACKORDERS)
        args.check()
        self._need(ctx, "create")
        view = self._variation_create(params)
        return 201, view, [("Location", self.rest_url(f"products/{view['parent_id']}/variations/{view['id']}"))]

    def _delete_variation(self, ctx):
        args = _Args(ctx.params)
        force = args.boolean("force", False)
        args.check()
        vid = _intval(ctx.params.get("id"))
        if vid in self.variations and not ctx.user:
            self._need(ctx, "delete")
        return 200, self._variation_delete(vid, _intval(ctx.params.get("product_id")), force, ctx), []

    def _batch_variations(self, ctx):
        self._need(ctx, "batch")
        product_id = ctx.url_params["product_id"]

        def inject(item):
            return {"product_id": product_id, **item}

        return 200, self._batch(ctx.params, lambda item: self._variation_create(inject(item)),
                                lambda item: self._variation_update(inject(item), ctx),
                                lambda vid: self._variation_delete(vid, _intval(product_id), True, ctx)), []

    # --- orders --------------------------------------------------------------------------------------------
    def order_view(self, o):
        view = {"id": o["id"], "parent_id": 0, "status": o["status"], "currency": o["currency"], "version": WC_VERSION,
                "prices_include_tax": False, "date_created": _fmt(o["date_created"]),
                "date_modified": _fmt(o["date_modified"]), "discount_total": "0.00", "discount_tax": "0.00",
                "shipping_total": "0.00", "shipping_tax": "0.00", "cart_tax": "0.00", "total": o["total"],
                "total_tax": "0.00", "customer_id": 0, "order_key": o["order_key"], "billing": o["billing"],
                "shipping": o["shipping"], "payment_method": "", "payment_method_title": "", "transaction_id": "",
                "customer_ip_address": "", "customer_user_agent": "", "created_via": "checkout",
                "customer_note": o["customer_note"], "date_completed": _fmt(o["date_completed"]),
                "date_paid": _fmt(o["date_paid"]), "cart_hash": "", "number": str(o["id"]), "meta_data": [],
                "line_items": copy.deepcopy(o["line_items"]), "tax_lines": [], "shipping_lines": [], "fee_lines": [],
                "coupon_lines": [], "refunds": [], "payment_url": f"{self.site()}/checkout/order-pay/{o['id']}/",
                "is_editable": o["status"] in ("pending", "on-hold", "checkout-draft"),
                "needs_payment": o["status"] in ("pending", "failed"),
                "needs_processing": True, "date_created_gmt": _fmt(o["date_created"]),
                "date_modified_gmt": _fmt(o["date_modified"]), "date_completed_gmt": _fmt(o["date_completed"]),
                "date_paid_gmt": _fmt(o["date_paid"]), "currency_symbol": o["currency_symbol"]}
        for key, value in o["extra"].items():
            view[key] = copy.deepcopy(value)
        view["_links"] = {"self": [{"href": self.rest_url(f"orders/{o['id']}")}],
                          "collection": [{"href": self.rest_url("orders")}]}
        return view

    @staticmethod
    def note_view(note):
        return {"id": note["id"], "author": note["author"], "date_created": _fmt(note["date_created"]),
                "date_created_gmt": _fmt(note["date_created"]), "note": note["note"],
                "customer_note": note["customer_note"]}

    def _add_note(self, o, text, customer_note=False, author="system"):
        note = {"id": self.next_note_id, "author": author, "date_created": _now(), "note": text,
                "customer_note": bool(customer_note)}
        self.next_note_id += 1
        o["notes"].append(note)
        return note

    def set_status(self, o, status, manual=False):
        old = o["status"]
        if status == old:
            return
        o["status"] = status
        now = _now()
        if status == "completed":
            o["date_completed"] = now
        if status in ("processing", "completed") and o["date_paid"] is None:
            o["date_paid"] = now
        o["date_modified"] = now
        self._add_note(o, f"Order status changed from {STATUS_NAMES.get(old, old)} to "
                          f"{STATUS_NAMES.get(status, status)}.", False, API_USER if manual else "system")

    def _list_orders(self, ctx):
        args = _Args(ctx.params)
        paging = args.paging(("date", "id", "include", "title", "slug", "modified"))
        bounds = {name: args.date(name) for name in ("after", "before", "modified_after", "modified_before")}
        args.boolean("dates_are_gmt", False)
        statuses = args.enum_list("status", ("any", "trash") + ORDER_STATUSES, ["any"])
        args.check()
        self._need(ctx, "list")
        rows = list(self.orders.values())
        if "any" not in statuses:
            rows = [o for o in rows if o["status"] in statuses]
        for name, column, later in (("after", "date_created", True), ("before", "date_created", False),
                                    ("modified_after", "date_modified", True),
                                    ("modified_before", "date_modified", False)):
            if bounds[name] is not None:
                rows = [o for o in rows if (o[column] > bounds[name] if later else o[column] < bounds[name])]
        rows = self._sorted(rows, paging, lambda r: r, lambda r: str(r["id"]))
        chunk, headers = self._page(ctx, rows, paging, "orders")
        return 200, [self.order_view(o) for o in chunk], headers

    def _get_order(self, ctx):
        o = self.orders.get(_intval(ctx.params.get("id")))
        if o is not None:
            self._need(ctx, "read")
        if o is None:
            raise _WPError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        return 200, self.order_view(o), []

    def _update_order(self, ctx):
        params = ctx.params
        args = _Args(params)
        status = args.enum("status", ORDER_STATUSES)
        manual = args.boolean("manual_update", False)
        args.text("customer_note")
        args.check()
        o = self.orders.get(_intval(params.get("id")))
        if o is not None:
            self._need(ctx, "edit")
        if o is None:
            raise _WPError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 400)
        if _isset(params, "customer_note"):
            o["customer_note"] = str(params["customer_note"])
        if status is not None:
            self.set_status(o, status, manual)
        o["date_modified"] = _now()
        return 200, self.order_view(o), []

    def _order_for_notes(self, ctx):
        o = self.orders.get(_intval(ctx.params.get("order_id")))
        if o is None:
            raise _WPError("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404)
        return o

    def _list_notes(self, ctx):
        args = _Args(ctx.params)
        kind = args.enum("type", ("any", "customer", "internal"), "any")
        args.check()
        self._need(ctx, "list")
        o = self._order_for_notes(ctx)
        notes = [n for n in o["notes"] if kind == "any" or n["customer_note"] == (kind == "customer")]
        notes.sort(key=lambda n: (n["date_created"], n["id"]), reverse=True)
        return 200, [self._note_answer(o, n) for n in notes], []

    def _note_answer(self, o, note):
        view = self.note_view(note)
        view["_links"] = {"self": [{"href": self.rest_url(f"orders/{o['id']}/notes/{note['id']}")}],
                          "collection": [{"href": self.rest_url(f"orders/{o['id']}/notes")}],
                          "up": [{"href": self.rest_url(f"orders/{o['id']}")}]}
        return view

    def _create_note(self, ctx):
        params = ctx.params
        args = _Args(params)
        args.required("note")
        text = args.text("note")
        customer = args.boolean("customer_note", False)
        by_user = args.boolean("added_by_user", False)
        args.check()
        self._need(ctx, "create")
        if not _php_empty(params.get("id")):
            raise _WPError("woocommerce_rest_order_note_exists", "Cannot create existing order_note.", 400)
        o = self._order_for_notes(ctx)
        note = self._add_note(o, text, customer, API_USER if by_user else "system")
        return 201, self._note_answer(o, note), [("Location", self.rest_url(f"orders/{o['id']}/notes/{note['id']}"))]

    def _get_note(self, ctx):
        self._need(ctx, "read")
        o = self._order_for_notes(ctx)
        nid = _intval(ctx.params.get("id"))
        for note in o["notes"]:
            if note["id"] == nid:
                return 200, self._note_answer(o, note), []
        raise _WPError("woocommerce_rest_invalid_id", "Invalid resource ID.", 404)

    # --- webhooks ------------------------------------------------------------------------------------------
    @staticmethod
    def valid_topic(topic):
        if not isinstance(topic, str):
            return False
        if topic.startswith("action."):
            return topic.startswith(("action.woocommerce_", "action.wc_"))
        resource, dot, event = topic.partition(".")
        return bool(dot) and resource in ("coupon", "customer", "order", "product") and \
            event in ("created", "updated", "deleted", "restored")

    @staticmethod
    def valid_url(url):
        if not isinstance(url, str):
            return False
        split = urllib.parse.urlsplit(url)
        return split.scheme in ("http", "https") and bool(split.netloc)

    def webhook_view(self, w):
        resource, _, event = w["topic"].partition(".")
        hooks = WEBHOOK_HOOKS.get(w["topic"], [event] if resource == "action" else [])
        return {"id": w["id"], "name": w["name"], "status": w["status"], "topic": w["topic"], "resource": resource,
                "event": event, "hooks": list(hooks), "delivery_url": w["delivery_url"],
                "date_created": _fmt(w["date_created"]), "date_created_gmt": _fmt(w["date_created"]),
                "date_modified": _fmt(w["date_modified"]), "date_modified_gmt": _fmt(w["date_modified"]),
                "_links": {"self": [{"href": self.rest_url(f"webhooks/{w['id']}")}],
                           "collection": [{"href": self.rest_url("webhooks")}]}}

    def new_webhook(self, topic, delivery_url, secret, status, name):
        now = _now()
        if secret is None or secret == "":
            alphabet = string.ascii_letters + string.digits + "!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
            secret = "".join(secrets.choice(alphabet) for _ in range(50))
        w = {"id": self.next_webhook_id, "name": name or "Webhook created on " + now.strftime("%b %d, %Y @ %I:%M %p"),
             "status": status, "topic": topic, "delivery_url": delivery_url, "secret": secret,
             "date_created": now, "date_modified": now}
        self.next_webhook_id += 1
        self.webhooks[w["id"]] = w
        return w

    def _list_webhooks(self, ctx):
        args = _Args(ctx.params)
        paging = args.paging(("date", "id", "include", "title"))
        status = args.enum("status", ("all",) + WEBHOOK_STATUSES, "all")
        args.check()
        self._need(ctx, "list")
        rows = [w for w in self.webhooks.values() if status == "all" or w["status"] == status]
        rows = self._sorted(rows, paging, lambda r: r, lambda r: r["name"])
        chunk, headers = self._page(ctx, rows, paging, "webhooks")
        return 200, [self.webhook_view(w) for w in chunk], headers

    def _get_webhook(self, ctx):
        self._need(ctx, "read")
        w = self.webhooks.get(_intval(ctx.params.get("id")))
        if w is None:
            raise _WPError("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
        return 200, self.webhook_view(w), []

    def _webhook_args(self, params):
        args = _Args(params)
        args.enum("status", WEBHOOK_STATUSES)
        args.text("name")
        args.text("secret")
        args.text("topic")
        args.text("delivery_url")
        return args

    def _check_webhook_fields(self, params):
        if "topic" in params and not self.valid_topic(params["topic"]):
            raise _WPError("woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid.",
                           400)
        if "delivery_url" in params and not self.valid_url(params["delivery_url"]):
            raise _WPError("woocommerce_rest_webhook_invalid_delivery_url",
                           "Webhook delivery URL must be a valid URL starting with http:// or https://.", 400)

    def _create_webhook(self, ctx):
        params = ctx.params
        args = self._webhook_args(params)
        args.required("topic", "delivery_url")
        args.check()
        self._need(ctx, "create")
        if not _php_empty(params.get("id")):
            raise _WPError("woocommerce_rest_shop_webhook_exists", "Cannot create existing shop_webhook.", 400)
        self._check_webhook_fields(params)
        w = self.new_webhook(params["topic"], params["delivery_url"], params.get("secret"),
                             params.get("status") or "active", params.get("name"))
        return 201, self.webhook_view(w), [("Location", self.rest_url(f"webhooks/{w['id']}"))]

    def _update_webhook(self, ctx):
        params = ctx.params
        self._webhook_args(params).check()
        self._need(ctx, "edit")
        w = self.webhooks.get(_intval(params.get("id")))
        if w is None:
            raise _WPError("woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.", 400)
        self._check_webhook_fields(params)
        for key in ("name", "status", "secret", "topic", "delivery_url"):
            if _isset(params, key):
                w[key] = params[key]
        w["date_modified"] = _now()
        return 200, self.webhook_view(w), []

    def _delete_webhook(self, ctx):
        args = _Args(ctx.params)
        force = args.boolean("force", False)
        args.check()
        self._need(ctx, "delete")
        w = self.webhooks.get(_intval(ctx.params.get("id")))
        if w is None:
            raise _WPError("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
        if not force:
            raise _WPError("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501)
        view = self.webhook_view(w)
        del self.webhooks[w["id"]]
        return 200, view, []


# --- HTTP ---------------------------------------------------------------------------------------------------

class _Core:
    """Turns one HTTP request into an outcome and a record (called on the connection's thread); the
    interface the shared _Handler / _HTTPServer expect (handle, stop)."""

    def __init__(self, shop, stop):
        self.shop = shop
        self.stop = stop

    def handle(self, method, target, headers, raw):
        shop = self.shop
        info = parse_request(method, target, raw)
        split = urllib.parse.urlsplit(target)   # the path and query as sent: OAuth and the routes read them raw
        with shop.cond:
            if not (info.path == "/wp-json" or info.path.startswith("/wp-json/")):
                page = (b"<!DOCTYPE html>\n<html><head><title>Page not found</title></head>\n<body><h1>Oops! That "
                        b"page can&rsquo;t be found.</h1></body></html>\n")
                return record(shop, info, _Outcome(status=404, content_type="text/html; charset=UTF-8", body=page))
            ctx = self._context(method, split, headers, raw)
            if ctx.route.strip("/").lower().startswith(("wc/", "wc-")):
                post = {}
                if method == "POST" and self._media_type(headers) == "application/x-www-form-urlencoded":
                    post = _php_parse_str(raw.decode("latin-1"), "latin-1")
                user, error = shop.authenticate(method, split.path, _php_parse_str(split.query, "latin-1"), post,
                                                headers)
                error = error or (shop.key_permission(method) if user else None)
                if error is not None:
                    return record(shop, info, shop.error_answer(error))
                ctx.user = user
            rule = take_rule(shop.rules, info) if ctx.user else None
        if rule is not None and rule.delay > 0:
            self.stop.wait(rule.delay)
        with shop.cond:
            return record(shop, info, _ruled_outcome(rule, lambda: shop.serve(ctx), shop.canned))

    @staticmethod
    def _media_type(headers):
        return (headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _context(self, method, split, headers, raw):
        ctx = _Ctx()
        ctx.method = method.upper()
        ctx.raw_path = split.path
        ctx.route = urllib.parse.unquote(split.path)[len("/wp-json"):] or "/"
        ctx.query = _php_parse_str(split.query)
        ctx.form, ctx.json, ctx.json_error, ctx.user = {}, None, False, False
        media = self._media_type(headers)
        if raw and (media == "application/json" or media.endswith("+json")):
            try:
                ctx.json = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                ctx.json_error = True
        elif raw and media == "application/x-www-form-urlencoded":
            ctx.form = _php_parse_str(raw.decode("utf-8", "replace"))
        return ctx


class WooCommerceSim(Scripted, Recorded, ThreadedServer):
    """The simulator in a background thread of this process; a context manager. Listening once constructed."""

    @property
    def _rules_state(self):
        return self._shop

    def __init__(self, consumer_key="ck_test", consumer_secret="cs_test", tls=False, host="127.0.0.1", port=0, *,
                 permissions="read_write"):
        self._rule_type = _Rule
        self._shop = _Shop(consumer_key, consumer_secret, tls, permissions)
        self._listen_http(_HTTPServer, _Core, self._shop, host, port, "woocommerce-sim")
        self._shop.home = self.url
        self._thread.start()

    # --- seeding -------------------------------------------------------------------------------------------
    def add_product(self, id, sku, stock_quantity=None, manage_stock=True, type="simple", name=None):
        """A product as if created in the shop (type simple, variable, grouped or external)."""
        if type not in PRODUCT_TYPES:
            raise ValueError(f"type is one of {PRODUCT_TYPES}")
        with self._shop.cond:
            shop = self._shop
            pid = int(id)
            if pid in shop.products or pid in shop.variations:
                raise ValueError(f"id {pid} is taken")
            if shop._sku_taken(sku, pid):
                raise ValueError(f"SKU {sku!r} is taken (SKUs are unique, case ignored)")
            p = shop._new_product(pid, sku, stock_quantity, manage_stock and type not in ("grouped", "external"),
                                  type, name)
            shop.products[pid] = p
            shop._bump_ids(pid)
            shop._resync(pid)
            shop.cond.notify_all()
            return shop.product_view(p)

    def set_stock(self, id, stock_quantity):
        """Changes a stock-managing product's or variation's quantity as an edit in the shop's admin would
        (stock_status follows, date_modified is refreshed); KeyError if unknown."""
        with self._shop.cond:
            shop = self._shop
            is_variation = int(id) in shop.variations
            item = shop.variations[int(id)] if is_variation else shop.products[int(id)]
            item["stock_quantity"] = _intval(stock_quantity)
            item["date_modified"] = _now()
            shop._validate_stock(item, is_variation)
            shop.cond.notify_all()

    def add_variation(self, product_id, variation_id, sku, stock_quantity=None, manage_stock=True):
        """A variation of product_id (which becomes "variable"); KeyError if the product is unknown."""
        with self._shop.cond:
            shop = self._shop
            parent = shop.products.get(int(product_id))
            if parent is None:
                raise KeyError(f"no product {product_id}")
            vid = int(variation_id)
            if vid in shop.products or vid in shop.variations:
                raise ValueError(f"id {vid} is taken")
            if shop._sku_taken(sku, vid):
                raise ValueError(f"SKU {sku!r} is taken (SKUs are unique, case ignored)")
            v = shop._new_variation(vid, parent["id"], sku, stock_quantity, manage_stock)
            shop.variations[vid] = v
            parent["type"] = "variable"
            parent["variations"].append(vid)
            shop._bump_ids(vid)
            shop._resync(parent["id"])
            shop.cond.notify_all()
            return shop.variation_view(v)

    def add_order(self, id, status="processing", line_items=None, **fields):
        """An order as if placed in the shop; fields may set date_created_gmt / date_modified_gmt, billing,
        shipping, total, currency, customer_note, ... (others are answered as given)."""
        if status not in ORDER_STATUSES:
            raise ValueError(f"status is one of {ORDER_STATUSES}")
        with self._shop.cond:
            shop = self._shop
            oid = int(id)
            if oid in shop.orders:
                raise ValueError(f"order {oid} exists")
            fields = dict(fields)
            created_at = [fields.pop("date_created_gmt", None), fields.pop("date_created", None)]
            modified_at = [fields.pop("date_modified_gmt", None), fields.pop("date_modified", None)]
            created = _seed_date(created_at[0] or created_at[1]) or _now()
            modified = _seed_date(modified_at[0] or modified_at[1]) or created
            items = []
            for li in line_items or []:
                item = {"id": shop.next_item_id, "name": li.get("name") or f"Item {li.get('sku', '')}".strip(),
                        "product_id": int(li.get("product_id") or 0), "variation_id": int(li.get("variation_id") or 0),
                        "quantity": int(li.get("quantity") or 0), "tax_class": "", "subtotal": "0.00",
                        "subtotal_tax": "0.00", "total": "0.00", "total_tax": "0.00", "taxes": [], "meta_data": [],
                        "sku": li.get("sku", ""), "price": 0}
                shop.next_item_id += 1
                item.update({k: copy.deepcopy(v) for k, v in li.items() if k != "id"})
                items.append(item)
            o = {"id": oid, "status": status, "currency": fields.pop("currency", "EUR"),
                 "currency_symbol": fields.pop("currency_symbol", "€"), "total": str(fields.pop("total", "0.00")),
                 "order_key": fields.pop("order_key", "wc_order_" + secrets.token_hex(6)),
                 "billing": fields.pop("billing", {}), "shipping": fields.pop("shipping", {}),
                 "customer_note": fields.pop("customer_note", ""), "date_created": created, "date_modified": modified,
                 "date_completed": created if status == "completed" else None,
                 "date_paid": created if status in ("processing", "completed") else None,
                 "line_items": items, "notes": [], "extra": fields}
            shop.orders[oid] = o
            shop._bump_ids(oid)
            shop.cond.notify_all()
            return shop.order_view(o)

    def add_webhook(self, topic, delivery_url, secret, status="active", name=None):
        """A webhook as if created in WooCommerce > Settings > Advanced > Webhooks; returns its id."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"status is one of {WEBHOOK_STATUSES}")
        if not _Shop.valid_topic(topic):
            raise ValueError(f"invalid topic {topic!r}")
        with self._shop.cond:
            w = self._shop.new_webhook(topic, delivery_url, secret, status, name)
            self._shop.cond.notify_all()
            return w["id"]

    def set_webhook_status(self, id, status):
        """active, paused or disabled (as after delivery failures); KeyError if unknown."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"status is one of {WEBHOOK_STATUSES}")
        with self._shop.cond:
            w = self._shop.webhooks[int(id)]
            w["status"] = status
            w["date_modified"] = _now()
            self._shop.cond.notify_all()

    def set_order_status(self, id, status):
        """Changes the status as the shop admin would (status note, date_modified refreshed); KeyError if unknown."""
        if status not in ORDER_STATUSES:
            raise ValueError(f"status is one of {ORDER_STATUSES}")
        with self._shop.cond:
            self._shop.set_status(self._shop.orders[int(id)], status, manual=True)
            self._shop.cond.notify_all()

    # --- state ---------------------------------------------------------------------------------------------
    @property
    def products(self):
        """{id: product as GET /products/<id> shows it} (variations are in `variations`)."""
        with self._shop.cond:
            return {pid: self._shop.product_view(p) for pid, p in self._shop.products.items()}

    @property
    def variations(self):
        """{id: variation as GET /products/<pid>/variations/<id> shows it}."""
        with self._shop.cond:
            return {vid: self._shop.variation_view(v) for vid, v in self._shop.variations.items()}

    @property
    def orders(self):
        """{id: order as GET /orders/<id> shows it, plus "notes" oldest first}."""
        with self._shop.cond:
            out = {}
            for oid, o in self._shop.orders.items():
                view = self._shop.order_view(o)
                view["notes"] = [self._shop.note_view(n) for n in o["notes"]]
                out[oid] = view
            return out

    @property
    def webhooks(self):
        """{id: webhook as the API shows it, plus "secret"}."""
        with self._shop.cond:
            return {wid: {**self._shop.webhook_view(w), "secret": w["secret"]}
                    for wid, w in self._shop.webhooks.items()}

    def stock_of(self, sku):
        """The stock_quantity the API shows for the product or variation with exactly this SKU; None if it does
        not manage stock or no item has that SKU."""
        with self._shop.cond:
            shop = self._shop
            for item, is_var in [(p, False) for p in shop.products.values()] + \
                                [(v, True) for v in shop.variations.values()]:
                if item["sku"] == sku:
                    return shop._quantity_view(item, is_var) if shop._manage_view(item, is_var) else None
            return None

    def order_status(self, id):
        with self._shop.cond:
            return self._shop.orders[int(id)]["status"]

    def order_notes(self, id):
        """[note, ...] oldest first, each {id, author, date_created, date_created_gmt, note, customer_note}."""
        with self._shop.cond:
            return [self._shop.note_view(n) for n in self._shop.orders[int(id)]["notes"]]


# --- standalone process -------------------------------------------------------------------------------------

def main(argv=None):
    ap = process_parser(__doc__)
    ap.add_argument("--consumer-key", default="ck_test")
    ap.add_argument("--consumer-secret", default="cs_test")
    ap.add_argument("--tls", action="store_true", help="behave as behind TLS (HTTP Basic accepted, https signed)")
    ap.add_argument("--permissions", default="read_write", choices=("read", "write", "read_write"))
    ap.add_argument("--seed", help="JSON file {products, variations, orders, webhooks} in the helpers' shapes")
    ap.add_argument("--script", help="JSON list of rules to start with (no callables)")
    ap.add_argument("--dump", help="write products, variations, orders, webhooks and requests as JSON at exit")
    args = ap.parse_args(argv)
    rules = json.loads(args.script) if args.script else []
    sim = WooCommerceSim(args.consumer_key, args.consumer_secret, args.tls, host=args.host, port=args.port,
                         permissions=args.permissions)
    if args.seed:
        with open(args.seed) as f:
            seed = json.load(f)
        for p in seed.get("products", []):
            sim.add_product(**p)
        for v in seed.get("variations", []):
            sim.add_variation(**v)
        for o in seed.get("orders", []):
            sim.add_order(**o)
        for w in seed.get("webhooks", []):
            sim.add_webhook(**w)
    sim.script(*rules)
    serve_until_signalled(sim.port)
    sim.close()
    calls = sim.requests
    products, variations, orders = sim.products, sim.variations, sim.orders
    return finish_process(sim, args.dump,
                          lambda: {"products": products, "variations": variations, "orders": orders,
                                   "webhooks": sim.webhooks, "requests": [c._asdict() for c in calls]},
                          {"requests": len(calls), "products": len(products), "variations": len(variations),
                           "orders": len(orders)})


if __name__ == "__main__":
    sys.exit(main())
