#!/usr/bin/env python3
"""A ShipStation V1 REST API simulator standing in for the 3PL behind the ShipStation connector (Python
stdlib only).

It follows the ERP/3PL fact sheet (erp_3pl.md), section 4 (ShipStation V1: Basic auth, the 40 requests
per minute limit with X-Rate-Limit-* headers, the orderKey upsert of POST /orders/createorder, the order
lookup, soft delete, shipments and SHIP_NOTIFY, error bodies) and section 7.4 (the behaviours a simulator
must reproduce): Basic auth, the X-Rate-Limit-* headers on every answer, 429 once the window is used up,
the `orderKey` upsert, refusal to update shipped or cancelled orders, soft delete, SHIP_NOTIFY
{resource_url, resource_type} whose URL needs Basic auth to fetch, voided shipments. Labels are made and
voided by the test (`ship`, `void`), as a warehouse would in the ShipStation UI; the webhook subscription
endpoints (/webhooks/subscribe), POST /shipments/voidlabel and the bulk `createorders` endpoint are not
simulated (they answer 404).

In a test process:

    with ShipStationSim(limit_per_minute=5, window_seconds=2) as ss:
        ss.script({"status": 429, "match": {"method": "POST", "path_prefix": "/orders/createorder"}},
                  {"reset": True})                 # the next request: connection reset, no answer
        ... point the connector at ss.url with Basic base64("k:s") ...
        ss.wait_until(lambda s: "wc:store1:10234" in s.orders, timeout=10)
        ss.mark_shipped("wc:store1:10234")         # further upserts of that order are refused (400)

        shipment = ss.ship("wc:store1:10235", "1Z999", items=[{"lineItemKey": "wc-line-552", "quantity": 1}])
        ss.notify(receiver_url, shipment.batch_id, token="t0ken")   # the SHIP_NOTIFY POST -> (status, body)
        ss.void(shipment["shipmentId"])            # voided, in a new batch; notify that one too

Constructor: ShipStationSim(api_key="k", api_secret="s", limit_per_minute=40, window_seconds=60,
host="127.0.0.1", port=0). It listens in a daemon thread (ThreadingHTTPServer, HTTP/1.1 keep-alive,
Content-Length on every answer, TCP_NODELAY, one write per answer); a context manager with `close()`.
Attributes `url`, `port`.

State (snapshots, thread-safe): `orders` {orderKey: order doc as stored, incl. orderId, orderStatus,
items, createDate, modifyDate}, soft-deleted ones included; `inactive` the set of soft-deleted orderKeys;
`requests` [Call] where Call = (method, path, query, body, status): the URL-decoded path, the query as a
dict of first values, the parsed JSON body or None, and the status answered or "hang" / "reset";
`status_counts()`. `wait_until(predicate, timeout)` waits until predicate(sim) holds (AssertionError on
timeout). Helpers: `mark_shipped(order_key)` / `mark_cancelled(order_key)` set orderStatus "shipped" /
"cancelled" (as if done in the ShipStation UI, no shipment made: like an order marked shipped outside
ShipStation); `delete(order_key)` soft-deletes.

Shipments (labels made in ShipStation; state `shipments` {shipmentId: shipment, shipmentItems included},
`batches` {batchId: [shipmentId]}):
    ship(order_key, tracking_number, carrier_code="ups", service_code="ups_ground", items=None,
         ship_date=None, warehouse_id=None)
                 a new shipment for the stored order, returned as a `Shipment` (the dict, plus attribute
                 `batch_id`). items: [{"lineItemKey" or "sku", "quantity"}] (quantity defaults to the order
                 line's), None: every line of the order with its full quantity. KeyError for an unknown
                 orderKey; ValueError for a soft-deleted or cancelled order, an empty items list, an item
                 the order does not have, a quantity that is not a positive integer or a ship_date that is
                 not a date. Fields: shipmentId
                 (integers from 200000001), orderId, orderKey, orderNumber, createDate (now), shipDate
                 ("YYYY-MM-DD", default today), shipmentCost 0.0, insuranceCost 0.0, trackingNumber,
                 isReturnLabel false, batchNumber null, carrierCode, serviceCode, packageCode "package",
                 confirmation (the order's, else "none"), warehouseId (the argument, else the order's
                 advancedOptions.warehouseId), voided false, voidDate null, marketplaceNotified false,
                 notifyErrorMessage null, shipTo (the order's), weight (the order's, else the sum of the
                 shipped lines' weights when they share units), dimensions and insuranceOptions (the
                 order's; insuranceOptions default {"provider": null, "insureShipment": false,
                 "insuredValue": 0.0}), advancedOptions (the order's), labelData null, formData null,
                 shipmentItems [{orderItemId, lineItemKey, sku, name, imageUrl, weight, quantity, unitPrice,
                 taxAmount, shippingAmount, warehouseLocation, options, productId, fulfillmentSku, adjustment,
                 upc}] copied from the order lines (options default [], adjustment false, the rest null).
                 Once the non-voided shipments cover every line's quantity (lines matched by lineItemKey,
                 else sku, else orderItemId) the order's orderStatus becomes "shipped" (shipDate and
                 modifyDate set); a partial shipment leaves the status as it was.
    void(shipment_id)
                 voided true, voidDate now, the shipment put in a new batch; a "shipped" order that its
                 remaining shipments no longer cover goes back to "awaiting_shipment" (shipDate null).
                 Returns the Shipment; KeyError if unknown, ValueError if already voided.
    notify(target_url, batch_id, token=None, timeout=10.0)
                 POSTs {"resource_url": "<url>/shipments?batchId=<id>&includeShipmentItems=False",
                 "resource_type": "SHIP_NOTIFY"} (compact JSON, Content-Type application/json, no signature:
                 V1 signs nothing) to target_url, with "?token=<token>" (or "&token=...") appended when a
                 token is given; returns (status, answer body bytes), OSError when nothing answers; one
                 attempt, no retries. ValueError if resource_url would exceed 200 characters. Any batch id
                 is sent as given (an unknown one lists no shipments).
Each ship() and void() call makes one batch (integer ids from 10000001) holding that one shipment, so a
label and its voiding are two notifications; a shipment in GET /shipments always shows its current state.
Assumptions: the fact sheet does not say how ShipStation groups shipments into SHIP_NOTIFY batches, nor
what it does to the order when a label is voided; batchNumber (ShipStation's label-batch number) is not
the SHIP_NOTIFY batchId; a label for an already shipped order (a reshipment) is allowed and quantities are
not checked against what was shipped before; the money and package defaults are this simulator's; the
receiver is protected by a secret token in its URL, since V1 does not sign.

Scripting (the shared `Scripted` mixin): `script(*rules)` appends rules consumed in order by the requests
they match (an int N is short for {"status": N}); `clear_script()`, `pending_rules()`. Rule keys:
    status       answer this code with a canned body instead of serving the request: 400 ModelState,
                 401 / 404 {"message": ...}, 429 the throttler body, 500 the .NET error body,
                 502/503/504 an HTML gateway page (assumption: the fact sheet gives no body for these)
    body         the answer body instead (dict/list sent as JSON, str or bytes)
    headers      extra answer headers (an X-Rate-Limit-* header given here replaces the computed one);
                 retry_after: a Retry-After header
    delay        seconds before the request is served (or answered)
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    commit       True: serve the request first (its changes are kept), then hang, reset or answer
                 `status` instead (e.g. {"reset": True, "commit": True}: upserted, then no answer)
    count        requests the rule answers before it is used up (default 1; None: never)
    match        {"method": "POST", "path_prefix": "/orders/createorder", "path": exact} or a
                 callable(RequestInfo(method, path, query, body)) -> bool
Order for every request: authentication, the rate limit, the first matching rule, the endpoint.

Behaviour (paths are matched case-insensitively, a trailing slash ignored):
    any          Authorization "Basic base64(key:secret)", else 401 {"message":"Invalid API credentials"}
                 (no rule is consumed and nothing is counted against the limit)
    rate limit   per key pair, `limit_per_minute` requests per fixed window of `window_seconds` that
                 starts with the first counted request. EVERY answer (401, 404, 429, 500 and scripted
                 answers included) carries X-Rate-Limit-Limit, X-Rate-Limit-Remaining (requests left
                 after this one) and X-Rate-Limit-Reset (whole seconds until the window resets, at
                 least 1). Over the limit: 429 {"statusCode":429,"message":"ThrottlerException: Too Many
                 Requests"}; a throttled request is not counted. Assumption: the 401 answer shows the
                 configured pair's window without counting; answers that hang or reset carry nothing.
    POST /orders/createorder
                 the upsert: an existing orderKey updates the order (the whole order is replaced; orderId,
                 orderKey and createDate kept, modifyDate refreshed), an unknown orderKey creates it with
                 that key, no orderKey creates one with a generated key (a UUID: not idempotent). A new
                 order gets the next integer orderId (from 100000001) and each item an orderItemId.
                 200 with the stored order. 400 {"Message":"The request is invalid.","ModelState":
                 {"order.<field>": ["..."]}} when: orderNumber missing, not a string or over 50 chars;
                 orderDate missing or not an ISO-8601 date; orderStatus missing or not one of
                 awaiting_payment, awaiting_shipment, pending_fulfillment, shipped, on_hold, cancelled,
                 rejected_fulfillment; billTo or shipTo missing or not an object; orderId sent on create
                 (or, on update, an orderId other than the stored one); items not a list; a money field
                 (amountPaid, taxAmount, shippingAmount, items[i].unitPrice / taxAmount / shippingAmount)
                 not a JSON number; the body not a JSON object (ModelState key "order"). Updating an order
                 whose stored orderStatus is shipped or cancelled is refused with 400 and ModelState
                 {"order.orderStatus": ["Orders with status '<status>' cannot be updated."]}.
                 Assumptions: the ModelState texts and paths are this simulator's (the fact sheet fixes
                 only the envelope); a string where a number belongs is refused here although the real
                 (Json.NET) binder may coerce it, so that a connector sending strings is caught; an upsert
                 of a soft-deleted order updates and reactivates it.
    GET  /orders orderNumber (exact match; assumption: the real filter may be looser, so compare orderKey
                 too), orderStatus, page (default 1), pageSize (default 100, capped at 500) ->
                 {"orders": [...], "total": n, "page": p, "pages": k}, sorted by orderId, soft-deleted
                 orders left out; a non-integer page or pageSize below 1 is 400 ModelState.
    GET  /orders/{orderId}       the stored order (soft-deleted ones too), else 404
    GET  /shipments              filters batchId (assumption: not in the documented filter list, but the
                 SHIP_NOTIFY resource URLs carry it), orderNumber, orderId, trackingNumber, carrierCode,
                 serviceCode (exact matches), storeId (advancedOptions.storeId), createDateStart/End,
                 shipDateStart/End, voidDateStart/End (inclusive; an End given as a bare date runs to the end
                 of that day; a shipment without that date is left out), includeShipmentItems (true/True:
                 the lines; anything else, the default included: "shipmentItems": null), page (default 1),
                 pageSize (default 100, capped at 500) -> {"shipments": [...], "total": n, "page": p,
                 "pages": k}, sorted by shipmentId, voided shipments included. A non-integer batchId, orderId,
                 storeId, page or pageSize (or page/pageSize below 1) or an unreadable date is 400
                 ModelState. Assumptions: query names are bound case-insensitively (as ASP.NET does), the
                 order is this simulator's.
    DELETE /orders/{orderId}     soft delete: the order turns inactive and leaves the GET /orders lists ->
                 {"success": true, "message": "The requested order has been deleted."} (again on a second
                 delete); unknown id 404 {"message":"Resource not found"}; a non-integer id 400
                 {"message":"Invalid request parameters"}
    else         404 {"message":"Resource not found"}
    a bug        500 {"Message":"An error has occurred.","ExceptionMessage":"...","ExceptionType":"...",
                 "StackTrace":null}
Dates (orderDate echoed as sent; createDate/modifyDate "YYYY-MM-DDTHH:MM:SS.fffffff" local time without
offset, as ShipStation's Pacific-time stamps look) and money fields are stored as sent (JSON numbers).

As a process, for end-to-end tests:

    shipstation_sim.py --port 0 [--api-key k --api-secret s --limit-per-minute 40 --window-seconds 60
                       --script '[{"status": 503}]' --dump state.json]

prints {"port": N} once listening and, on SIGTERM or SIGINT, one summary line {"requests", "orders",
"status_counts"}; --dump writes {"orders", "inactive", "shipments", "batches", "requests"} there. Exits 0.
(A process has no way to make labels: shipments stay empty unless the simulator runs in the test process.)
"""
import base64
import binascii
import collections
import copy
import datetime
import json
import math
import secrets
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

from erpnext_sim import _HTTPServer, _Outcome, _Rule, _canned, _nginx_page, _ruled_outcome
from scripting import (Call, Recorded, RequestInfo, Scripted, ThreadedServer, finish_process, parse_request, post,
                       process_parser, record, serve_until_signalled, take_rule)

__all__ = ["ShipStationSim", "Shipment", "Call", "RequestInfo", "ORDER_STATUSES"]

ORDER_STATUSES = ("awaiting_payment", "awaiting_shipment", "pending_fulfillment", "shipped", "on_hold",
                  "cancelled", "rejected_fulfillment")
FROZEN_STATUSES = ("shipped", "cancelled")
ORDER_MONEY = ("amountPaid", "taxAmount", "shippingAmount")
ITEM_MONEY = ("unitPrice", "taxAmount", "shippingAmount")
JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND = {"message": "Resource not found"}
THROTTLED = {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
SHIPMENT_ITEM_FIELDS = ("orderItemId", "lineItemKey", "sku", "name", "imageUrl", "weight", "quantity", "unitPrice",
                        "taxAmount", "shippingAmount", "warehouseLocation", "options", "productId", "fulfillmentSku",
                        "adjustment", "upc")
# GET /shipments query parameters, bound case-insensitively as ASP.NET does.
SHIPMENT_QUERY = ("batchId", "orderNumber", "orderId", "trackingNumber", "carrierCode", "serviceCode", "storeId",
                  "createDateStart", "createDateEnd", "shipDateStart", "shipDateEnd", "voidDateStart", "voidDateEnd",
                  "includeShipmentItems", "page", "pageSize")
MAX_RESOURCE_URL = 200


class _Invalid(Exception):
    """A 400 answer: ModelState {path: [message]}, or a plain body."""

    def __init__(self, model_state=None, body=None):
        super().__init__(str(model_state or body))
        self.body = body if body is not None else {"Message": "The request is invalid.", "ModelState": model_state}


class _NotFound(Exception):
    pass


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _iso_date(value):
    return _parse_datetime(value) is not None


def _parse_datetime(value):
    """An ISO-8601 date or date-time as a naive datetime (an offset is dropped), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 accepts at most 6 fractional digits in some forms; .NET sends 7.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[:min(digits, 6)] + rest[digits:]
        text = head + "." + rest if rest[:1].isdigit() else head + rest
    try:
        return datetime.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


class Shipment(dict):
    """A shipment as GET /shipments?includeShipmentItems=true shows it, plus `batch_id`: the batch that ship()
    or void() put it in, i.e. the batchId of its SHIP_NOTIFY resource_url."""

    def __init__(self, doc, batch_id):
        super().__init__(doc)
        self.batch_id = batch_id


class _Site:
    def __init__(self, api_key, api_secret, limit_per_minute, window_seconds):
        self.api_key, self.api_secret = str(api_key), str(api_secret)
        self.limit = int(limit_per_minute)
        self.window = float(window_seconds)
        if self.limit < 1 or self.window <= 0:
            raise ValueError("limit_per_minute must be >= 1 and window_seconds > 0")
        self.windows = {}           # (key, secret) -> [window start (monotonic), requests counted]
        self.cond = threading.Condition(threading.RLock())
        self.rules = []
        self.calls = []
        self.orders = {}            # orderKey -> stored order
        self.by_id = {}             # orderId -> orderKey
        self.inactive = set()       # soft-deleted orderKeys
        self.next_order_id = 100000001
        self.next_item_id = 200000001
        self.shipments = {}         # shipmentId -> shipment, shipmentItems included
        self.batches = {}           # batchId -> [shipmentId]: what one SHIP_NOTIFY announces
        self.next_shipment_id = 200000001
        self.next_batch_id = 10000001
        self.last_stamp = None

    # --- helpers -------------------------------------------------------------------------------------------
    def _now(self):
        now = datetime.datetime.now()
        if self.last_stamp is not None and now <= self.last_stamp:
            now = self.last_stamp + datetime.timedelta(microseconds=1)
        self.last_stamp = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"

    def credentials(self, headers):
        """The (key, secret) pair when it is the configured one, else None."""
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            key, sep, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        if secrets.compare_digest(key, self.api_key) and secrets.compare_digest(secret, self.api_secret):
            return key, secret
        return None

    def rate(self, pair, count):
        """(headers, throttled) for the pair's fixed window; counts the request when count and not throttled."""
        now = time.monotonic()
        state = self.windows.get(pair)
        if state is None or now >= state[0] + self.window:
            state = [now, 0]
            if count:
                self.windows[pair] = state
        throttled = count and state[1] >= self.limit
        if count and not throttled:
            state[1] += 1
        reset = max(1, math.ceil(state[0] + self.window - now))
        headers = [("X-Rate-Limit-Limit", str(self.limit)),
                   ("X-Rate-Limit-Remaining", str(max(self.limit - state[1], 0))),
                   ("X-Rate-Limit-Reset", str(reset))]
        return headers, throttled

    @staticmethod
    def json_answer(status, payload, headers=()):
        return _Outcome(status=status, headers=headers, content_type=JSON_TYPE,
                        body=json.dumps(payload, separators=(",", ":")).encode())

    @staticmethod
    def server_error(message, exc_type="System.Exception", status=500):
        return _Site.json_answer(status, {"Message": "An error has occurred.", "ExceptionMessage": message,
                                          "ExceptionType": exc_type, "StackTrace": None})

    def canned(self, rule):
        """The answer of a rule with a status (or a body)."""
        return _canned(rule, self.json_answer, self._status_answer, JSON_TYPE)

    def _status_answer(self, status, headers):
        if 200 <= status < 300:
            out = self.json_answer(status, {}, headers)
        elif status == 400:
            out = self.json_answer(400, {"Message": "The request is invalid.",
                                         "ModelState": {"order": ["Simulated validation error."]}}, headers)
        elif status == 401:
            out = self.json_answer(401, {"message": "Invalid API credentials"}, headers)
        elif status == 404:
            out = self.json_answer(404, NOT_FOUND, headers)
        elif status == 429:
            out = self.json_answer(429, THROTTLED, headers)
        elif status in (502, 503, 504):
            title = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[status]
            out = _nginx_page(status, title, headers, signature=False)
        elif status >= 500:
            out = self.server_error("Simulated server error")
            out.status, out.headers = status, headers
        else:
            out = self.json_answer(status, {"message": "Simulated error"}, headers)
        return out

    # --- endpoints -----------------------------------------------------------------------------------------
    def serve(self, method, path, query, body, raw):
        try:
            return self.json_answer(200, self._route(method, path, query, body, raw))
        except _Invalid as e:
            return self.json_answer(400, e.body)
        except _NotFound:
            return self.json_answer(404, NOT_FOUND)
        except Exception as e:      # a simulator bug: say so loudly, answer like an unhandled server error
            traceback.print_exc()
            return self.server_error(str(e), f"{type(e).__module__}.{type(e).__name__}")

    def _route(self, method, path, query, body, raw):
        p = path.rstrip("/").lower() or "/"
        if p == "/orders/createorder" and method == "POST":
            return self._upsert(body, raw)
        if p == "/orders" and method == "GET":
            return self._list(query)
        if p == "/shipments" and method == "GET":
            return self._list_shipments(query)
        if p.startswith("/orders/") and p.count("/") == 2 and method in ("GET", "DELETE"):
            segment = p[len("/orders/"):]
            if not segment.isdigit():
                if method == "DELETE":
                    raise _Invalid(body={"message": "Invalid request parameters"})
                raise _NotFound()
            key = self.by_id.get(int(segment))
            if key is None:
                raise _NotFound()
            if method == "GET":
                return copy.deepcopy(self.orders[key])
            self.inactive.add(key)
            return {"success": True, "message": "The requested order has been deleted."}
        raise _NotFound()

    def _validate(self, order, stored):
        errors = {}

        def err(field, message):
            errors.setdefault(f"order.{field}", []).append(message)

        number = order.get("orderNumber")
        if number is None or number == "":
            err("orderNumber", "The orderNumber field is required.")
        elif not isinstance(number, str):
            err("orderNumber", "The orderNumber field must be a string.")
        elif len(number) > 50:
            err("orderNumber", "The field orderNumber must be a string with a maximum length of 50.")
        if order.get("orderDate") in (None, ""):
            err("orderDate", "The orderDate field is required.")
        elif not _iso_date(order["orderDate"]):
            err("orderDate", f"The value '{order['orderDate']}' is not valid for orderDate.")
        status = order.get("orderStatus")
        if status in (None, ""):
            err("orderStatus", "The orderStatus field is required.")
        elif status not in ORDER_STATUSES:
            err("orderStatus", f"The orderStatus field must be one of: {', '.join(ORDER_STATUSES)}.")
        for field in ("billTo", "shipTo"):
            if order.get(field) is None:
                err(field, f"The {field} field is required.")
            elif not isinstance(order[field], dict):
                err(field, f"The {field} field must be an address object.")
        key = order.get("orderKey")
        if key is not None and (not isinstance(key, str) or not key):
            err("orderKey", "The orderKey field must be a non-empty string.")
        order_id = order.get("orderId")
        if order_id is not None:
            if stored is None:
                err("orderId", "orderId must not be specified when creating an order.")
            elif order_id != stored["orderId"]:
                err("orderId", f"orderId {order_id} does not match the order with orderKey '{stored['orderKey']}'.")
        for field in ORDER_MONEY:
            if order.get(field) is not None and not _is_number(order[field]):
                err(field, f"The value '{order[field]}' is not valid for {field}: a number is expected.")
        items = order.get("items")
        if items is not None:
            if not isinstance(items, list):
                err("items", "The items field must be a list.")
            else:
                for i, item in enumerate(items):
                    if not isinstance(item, dict):
                        err(f"items[{i}]", "An item must be an object.")
                        continue
                    for field in ITEM_MONEY:
                        if item.get(field) is not None and not _is_number(item[field]):
                            err(f"items[{i}].{field}",
                                f"The value '{item[field]}' is not valid for {field}: a number is expected.")
                    qty = item.get("quantity")
                    if qty is not None and (not isinstance(qty, int) or isinstance(qty, bool)):
                        err(f"items[{i}].quantity", f"The value '{qty}' is not valid for quantity.")
        if errors:
            raise _Invalid(errors)

    def _upsert(self, body, raw):
        if not isinstance(body, dict):
            why = "The order is required." if not raw else "The request body must be a JSON object (an order)."
            raise _Invalid({"order": [why]})
        key = body.get("orderKey")
        stored = self.orders.get(key) if isinstance(key, str) and key else None
        self._validate(body, stored)
        if stored is not None and stored.get("orderStatus") in FROZEN_STATUSES:
            raise _Invalid({"order.orderStatus": [f"Orders with status '{stored['orderStatus']}' cannot be updated."]})
        now = self._now()
        if stored is None:
            if not key:
                key = uuid.uuid4().hex
            order_id, create_date = self.next_order_id, now
            self.next_order_id += 1
        else:
            order_id, create_date = stored["orderId"], stored["createDate"]
        doc = {"orderId": order_id, "orderNumber": body["orderNumber"], "orderKey": key,
               "orderDate": body["orderDate"], "createDate": create_date, "modifyDate": now}
        for k, v in body.items():
            if k not in doc:
                doc[k] = copy.deepcopy(v)
        for item in doc.get("items") or []:
            item["orderItemId"] = self.next_item_id
            self.next_item_id += 1
        self.orders[key] = doc
        self.by_id[order_id] = key
        self.inactive.discard(key)
        return copy.deepcopy(doc)

    @staticmethod
    def _int_param(query, name, default, minimum=1):
        value = query.get(name)
        if value in (None, ""):
            return default
        try:
            n = int(value)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            raise _Invalid({name: [f"The value '{value}' is not valid for {name}."]})
        return n

    def _paging(self, query):
        return self._int_param(query, "page", 1), min(self._int_param(query, "pageSize", 100), 500)

    def _list(self, query):
        page, size = self._paging(query)
        rows = [o for k, o in self.orders.items() if k not in self.inactive]
        if query.get("orderNumber"):
            rows = [o for o in rows if o.get("orderNumber") == query["orderNumber"]]
        if query.get("orderStatus"):
            rows = [o for o in rows if o.get("orderStatus") == query["orderStatus"]]
        rows.sort(key=lambda o: o["orderId"])
        total = len(rows)
        chunk = rows[(page - 1) * size: page * size]
        return {"orders": copy.deepcopy(chunk), "total": total, "page": page, "pages": math.ceil(total / size)}

    def _list_shipments(self, query):
        names = {n.lower(): n for n in SHIPMENT_QUERY}
        q = {}
        for k, v in query.items():
            q.setdefault(names.get(k.lower(), k), v)
        page, size = self._paging(q)
        rows = list(self.shipments.values())
        batch_id = self._int_param(q, "batchId", None, minimum=0)
        if batch_id is not None:
            members = set(self.batches.get(batch_id, ()))
            rows = [s for s in rows if s["shipmentId"] in members]
        for name in ("orderId", "storeId"):
            wanted = self._int_param(q, name, None, minimum=0)
            if wanted is not None:
                rows = [s for s in rows if (s["orderId"] if name == "orderId"
                                            else (s.get("advancedOptions") or {}).get("storeId")) == wanted]
        for name in ("orderNumber", "trackingNumber", "carrierCode", "serviceCode"):
            if q.get(name):
                rows = [s for s in rows if s.get(name) == q[name]]
        for field in ("createDate", "shipDate", "voidDate"):
            for edge in ("Start", "End"):
                name = field + edge
                if q.get(name) in (None, ""):
                    continue
                when = _parse_datetime(q[name])
                if when is None:
                    raise _Invalid({name: [f"The value '{q[name]}' is not valid for {name}."]})
                if edge == "End" and len(q[name].strip()) == 10:     # a bare date: up to the end of that day
                    when += datetime.timedelta(days=1, microseconds=-1)
                kept = []
                for s in rows:
                    stamp = _parse_datetime(s.get(field))
                    if stamp is not None and (stamp >= when if edge == "Start" else stamp <= when):
                        kept.append(s)
                rows = kept
        with_items = str(q.get("includeShipmentItems", "")).strip().lower() == "true"
        rows.sort(key=lambda s: s["shipmentId"])
        total = len(rows)
        chunk = copy.deepcopy(rows[(page - 1) * size: page * size])
        if not with_items:
            for s in chunk:
                s["shipmentItems"] = None
        return {"shipments": chunk, "total": total, "page": page, "pages": math.ceil(total / size)}

    # --- shipments (labels made in ShipStation) ------------------------------------------------------------
    @staticmethod
    def _line_key(item):
        """Which order line a shipment line covers: its lineItemKey, else its sku, else its orderItemId (an
        upsert renumbers orderItemIds)."""
        if item.get("lineItemKey"):
            return "lineItemKey", item["lineItemKey"]
        if item.get("sku"):
            return "sku", item["sku"]
        return "orderItemId", item.get("orderItemId")

    def _fully_shipped(self, order):
        shipped = collections.Counter()
        for s in self.shipments.values():
            if s["orderId"] == order["orderId"] and not s["voided"]:
                for line in s["shipmentItems"]:
                    shipped[self._line_key(line)] += line.get("quantity") or 0
        needed = collections.Counter()
        for item in order.get("items") or []:
            if isinstance(item, dict):
                needed[self._line_key(item)] += item.get("quantity") or 0
        return all(shipped[k] >= n for k, n in needed.items())

    def _shipment_lines(self, order, items):
        lines = [i for i in order.get("items") or [] if isinstance(i, dict)]
        if items is None:
            return [(line, line.get("quantity") or 0) for line in lines]
        if not items:
            raise ValueError("items is empty: give None to ship every item of the order")
        out = []
        for want in items:
            if want.get("lineItemKey") is not None:
                field = "lineItemKey"
            elif want.get("sku") is not None:
                field = "sku"
            else:
                raise ValueError(f"a shipment item needs a lineItemKey or a sku: {want!r}")
            match = [line for line in lines if line.get(field) == want[field]]
            if not match:
                raise ValueError(f"order {order['orderKey']!r} has no item with {field} {want[field]!r}")
            qty = want.get("quantity", match[0].get("quantity") or 0)
            if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
                raise ValueError(f"quantity must be a positive integer, not {qty!r}")
            out.append((match[0], qty))
        return out

    def _new_batch(self, shipment_id):
        batch_id = self.next_batch_id
        self.next_batch_id += 1
        self.batches[batch_id] = [shipment_id]
        return batch_id

    def ship(self, order_key, tracking_number, carrier_code, service_code, items, ship_date, warehouse_id):
        order = self.orders.get(order_key)
        if order is None:
            raise KeyError(f"no order with orderKey {order_key!r}")
        if order_key in self.inactive:
            raise ValueError(f"order {order_key!r} is deleted")
        if order.get("orderStatus") == "cancelled":
            raise ValueError(f"order {order_key!r} is cancelled")
        if ship_date is None:
            ship_date = datetime.date.today()
        elif isinstance(ship_date, datetime.datetime):
            ship_date = ship_date.date()
        elif not isinstance(ship_date, datetime.date):
            ship_date = datetime.date.fromisoformat(str(ship_date))
        lines = self._shipment_lines(order, items)
        now = self._now()
        shipment_items = []
        for line, qty in lines:
            row = {f: copy.deepcopy(line.get(f)) for f in SHIPMENT_ITEM_FIELDS}
            row["quantity"] = qty
            row["options"] = row["options"] if row["options"] is not None else []
            row["adjustment"] = bool(row["adjustment"])
            shipment_items.append(row)
        weight = order.get("weight")
        weights = [line.get("weight") for line, _ in lines]
        if weight is None and weights and all(isinstance(w, dict) and _is_number(w.get("value")) for w in weights) \
                and len({w.get("units") for w in weights}) == 1:
            weight = {"value": sum(w["value"] * qty for w, (_, qty) in zip(weights, lines)),
                      "units": weights[0].get("units")}
        advanced = copy.deepcopy(order.get("advancedOptions") or {})
        if warehouse_id is None:
            warehouse_id = advanced.get("warehouseId")
        shipment_id = self.next_shipment_id
        self.next_shipment_id += 1
        doc = {"shipmentId": shipment_id, "orderId": order["orderId"], "orderKey": order["orderKey"],
               "orderNumber": order["orderNumber"], "createDate": now, "shipDate": ship_date.isoformat(),
               "shipmentCost": 0.0, "insuranceCost": 0.0, "trackingNumber": tracking_number, "isReturnLabel": False,
               "batchNumber": None, "carrierCode": carrier_code, "serviceCode": service_code, "packageCode": "package",
               "confirmation": order.get("confirmation") or "none", "warehouseId": warehouse_id, "voided": False,
               "voidDate": None, "marketplaceNotified": False, "notifyErrorMessage": None,
               "shipTo": copy.deepcopy(order.get("shipTo")), "weight": copy.deepcopy(weight),
               "dimensions": copy.deepcopy(order.get("dimensions")),
               "insuranceOptions": copy.deepcopy(order.get("insuranceOptions"))
               or {"provider": None, "insureShipment": False, "insuredValue": 0.0},
               "advancedOptions": advanced, "shipmentItems": shipment_items, "labelData": None, "formData": None}
        self.shipments[shipment_id] = doc
        batch_id = self._new_batch(shipment_id)
        if order.get("orderStatus") != "shipped" and self._fully_shipped(order):
            order.update({"orderStatus": "shipped", "shipDate": doc["shipDate"], "modifyDate": now})
        self.cond.notify_all()
        return Shipment(copy.deepcopy(doc), batch_id)

    def void(self, shipment_id):
        doc = self.shipments.get(shipment_id)
        if doc is None:
            raise KeyError(f"no shipment {shipment_id!r}")
        if doc["voided"]:
            raise ValueError(f"shipment {shipment_id} is already voided")
        now = self._now()
        doc.update({"voided": True, "voidDate": now})
        batch_id = self._new_batch(shipment_id)
        order = self.orders.get(self.by_id.get(doc["orderId"]))
        if order is not None and order.get("orderStatus") == "shipped" and not self._fully_shipped(order):
            order.update({"orderStatus": "awaiting_shipment", "shipDate": None, "modifyDate": now})
        self.cond.notify_all()
        return Shipment(copy.deepcopy(doc), batch_id)

    def set_status(self, order_key, status):
        doc = self.orders.get(order_key)
        if doc is None:
            raise KeyError(f"no order with orderKey {order_key!r}")
        doc["orderStatus"] = status
        doc["modifyDate"] = self._now()
        if status == "shipped" and not doc.get("shipDate"):
            doc["shipDate"] = datetime.date.today().isoformat()
        self.cond.notify_all()


# --- HTTP ---------------------------------------------------------------------------------------------------

class _Core:
    """Turns one HTTP request into an outcome and a record (called on the connection's thread); the
    interface the shared _Handler / _HTTPServer expect (handle, stop)."""

    def __init__(self, site, stop):
        self.site = site
        self.stop = stop

    def handle(self, method, target, headers, raw):
        site = self.site
        info = parse_request(method, target, raw)
        with site.cond:
            pair = site.credentials(headers)
            if pair is None:
                rate_headers, _ = site.rate((site.api_key, site.api_secret), count=False)
                outcome = site.json_answer(401, {"message": "Invalid API credentials"}, rate_headers)
                return record(site, info, outcome)
            rate_headers, throttled = site.rate(pair, count=True)
            if throttled:
                return record(site, info, site.json_answer(429, THROTTLED, rate_headers))
            rule = take_rule(site.rules, info)
        if rule is not None and rule.delay > 0:
            self.stop.wait(rule.delay)
        with site.cond:
            outcome = _ruled_outcome(rule, lambda: site.serve(method, info.path, info.query, info.body, raw),
                                     site.canned)
            if outcome.kind == "answer":
                given = {k.lower() for k, _ in outcome.headers}
                outcome.headers[:0] = [h for h in rate_headers if h[0].lower() not in given]
            return record(site, info, outcome)


class ShipStationSim(Scripted, Recorded, ThreadedServer):
    """The simulator in a background thread of this process; a context manager. Listening once constructed."""

    @property
    def _rules_state(self):
        return self._site

    def __init__(self, api_key="k", api_secret="s", limit_per_minute=40, window_seconds=60, host="127.0.0.1",
                 port=0):
        self._rule_type = _Rule
        self._site = _Site(api_key, api_secret, limit_per_minute, window_seconds)
        self._listen_http(_HTTPServer, _Core, self._site, host, port, "shipstation-sim")
        self._thread.start()

    # --- state ---------------------------------------------------------------------------------------------
    @property
    def orders(self):
        """{orderKey: stored order}, soft-deleted orders included (see `inactive`)."""
        with self._site.cond:
            return copy.deepcopy(self._site.orders)

    @property
    def inactive(self):
        """The orderKeys of soft-deleted orders."""
        with self._site.cond:
            return set(self._site.inactive)

    def mark_shipped(self, order_key):
        """orderStatus "shipped" (and a shipDate), as if a label was made in ShipStation; KeyError if unknown."""
        with self._site.cond:
            self._site.set_status(order_key, "shipped")

    def mark_cancelled(self, order_key):
        """orderStatus "cancelled", as if cancelled in the ShipStation UI; KeyError if unknown."""
        with self._site.cond:
            self._site.set_status(order_key, "cancelled")

    def delete(self, order_key):
        """Soft-deletes the order, as DELETE /orders/{orderId} would; KeyError if unknown."""
        with self._site.cond:
            if order_key not in self._site.orders:
                raise KeyError(f"no order with orderKey {order_key!r}")
            self._site.inactive.add(order_key)
            self._site.cond.notify_all()

    # --- shipments -----------------------------------------------------------------------------------------
    @property
    def shipments(self):
        """{shipmentId: shipment}, shipmentItems included, voided ones too."""
        with self._site.cond:
            return copy.deepcopy(self._site.shipments)

    @property
    def batches(self):
        """{batchId: [shipmentId]}: the shipments each SHIP_NOTIFY batch announces."""
        with self._site.cond:
            return {b: list(ids) for b, ids in self._site.batches.items()}

    def ship(self, order_key, tracking_number, carrier_code="ups", service_code="ups_ground", items=None,
             ship_date=None, warehouse_id=None):
        """A label made in ShipStation for the stored order: a new shipment in a new batch. items: [{"lineItemKey"
        or "sku", "quantity"}] (quantity defaults to the order line's), None: every line with its full quantity.
        ship_date: a date or "YYYY-MM-DD" (default today). Returns the Shipment (a dict with `batch_id`); the
        order turns "shipped" once its non-voided shipments cover every line. KeyError for an unknown orderKey,
        ValueError for a deleted or cancelled order, an item the order does not have or a bad quantity or
        ship_date."""
        with self._site.cond:
            return self._site.ship(order_key, tracking_number, carrier_code, service_code, items, ship_date,
                                   warehouse_id)

    def void(self, shipment_id):
        """Voids the label: voided true, voidDate now, the shipment in a new batch; a "shipped" order that is no
        longer covered goes back to "awaiting_shipment". Returns the Shipment (with `batch_id`); KeyError if
        unknown, ValueError if already voided."""
        with self._site.cond:
            return self._site.void(shipment_id)

    def notify(self, target_url, batch_id, token=None, timeout=10.0):
        """POSTs the SHIP_NOTIFY of a batch to target_url (with ?token=<token> appended when given) and returns
        (status, answer body bytes); OSError when the target does not answer."""
        resource_url = f"{self.url}/shipments?batchId={int(batch_id)}&includeShipmentItems=False"
        if len(resource_url) > MAX_RESOURCE_URL:
            raise ValueError(f"resource_url longer than {MAX_RESOURCE_URL} characters: {resource_url}")
        if token is not None:
            sep = "&" if urllib.parse.urlsplit(target_url).query else "?"
            target_url = f"{target_url}{sep}{urllib.parse.urlencode({'token': token})}"
        body = json.dumps({"resource_url": resource_url, "resource_type": "SHIP_NOTIFY"},
                          separators=(",", ":")).encode()
        return post(target_url, body, {"Content-Type": "application/json"}, timeout)



# --- standalone process -------------------------------------------------------------------------------------

def main(argv=None):
    ap = process_parser(__doc__)
    ap.add_argument("--api-key", default="k")
    ap.add_argument("--api-secret", default="s")
    ap.add_argument("--limit-per-minute", type=int, default=40)
    ap.add_argument("--window-seconds", type=float, default=60)
    ap.add_argument("--script", help="JSON list of rules to start with (no callables)")
    ap.add_argument("--dump", help="write orders, inactive order keys, shipments, batches and requests as JSON to "
                                   "this file at exit")
    args = ap.parse_args(argv)
    rules = json.loads(args.script) if args.script else []
    sim = ShipStationSim(args.api_key, args.api_secret, args.limit_per_minute, args.window_seconds,
                         host=args.host, port=args.port)
    sim.script(*rules)
    serve_until_signalled(sim.port)
    sim.close()
    orders, calls = sim.orders, sim.requests
    return finish_process(sim, args.dump,
                          lambda: {"orders": orders, "inactive": sorted(sim.inactive), "shipments": sim.shipments,
                                   "batches": sim.batches, "requests": [c._asdict() for c in calls]},
                          {"requests": len(calls), "orders": len(orders)})


if __name__ == "__main__":
    sys.exit(main())
