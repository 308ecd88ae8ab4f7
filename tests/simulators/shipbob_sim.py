#!/usr/bin/env python3
"""A ShipBob REST API simulator standing in for the 3PL behind the ShipBob connector (Python stdlib only).

It follows the ERP/3PL fact sheet (erp_3pl.md), section 5 (ShipBob: Bearer auth plus the shipbob_channel_id
header on writes, 150 requests per minute in a sliding window with x-retry-after / x-remaining-calls, POST
/{ver}/order with its required fields, 422 "Duplicate reference ID", the ReferenceIds lookup, cancel, the
shipment statuses, topic webhooks signed in the Standard Webhooks style, the tracking payload, errors) and
section 7.4 (the behaviours a simulator must reproduce): shipbob_channel_id required, 422 on a duplicate
reference_id, 429 with x-retry-after, out-of-order webhooks with Standard Webhooks signatures, redelivery
with the same webhook-id. What happens in the warehouse is done by the test (`ship`, `deliver`,
`exception`, `on_hold`, `cancel_shipment`), and each of these sends its webhook. Inventory levels (section
5.5: GET /{ver}/inventory-level and /inventory-level/{inventoryId}) are served from what the test sets
(`set_inventory`, or the constructor's `inventory`); orders do not move stock. Products, returns, locations,
the per-fulfillment-center and per-lot inventory variants and the bulk endpoints are not simulated (404).

In a test process:

    with ShipBobSim(webhook_secret="whsec_" + base64.b64encode(b"key").decode(), limit_per_minute=5,
                    window_seconds=2) as sb:
        sb.subscribe(receiver_url, ["order.shipped", "order.shipment.delivered"])
        sb.set_inventory("SKU-RED-M", 40, committed=3)          # GET /inventory-level shows it (id 400001)
        sb.script({"status": 503, "match": {"method": "POST", "path": "/2025-07/order"}},
                  {"reset": True, "commit": True})    # the next one: created, then connection reset
        ... point the connector at sb.url (http://127.0.0.1:<port>/2025-07) with "Bearer pat-test" and
            shipbob_channel_id 1234 ...
        sb.wait_until(lambda s: "wc:store1:10234" in s.orders, timeout=10)
        shipped = sb.ship("wc:store1:10234", "9400111899223")   # order.shipped, signed, POSTed now
        sb.hold_events()
        sb.deliver("wc:store1:10234")                           # queued, not sent
        sb.exception("wc:store1:10235")
        sb.release_events("reverse")                            # the exception first, then delivered
        sb.resend(shipped)                                      # a retry: the same webhook-id and body

Constructor: ShipBobSim(token="pat-test", channel_id=1234, limit_per_minute=150, window_seconds=60,
version="2025-07", webhook_secret=None, host="127.0.0.1", port=0, scopes=None, inventory=None). It listens in
a daemon thread (ThreadingHTTPServer, HTTP/1.1 keep-alive, Content-Length on every answer, TCP_NODELAY, one write per
answer); a context manager with `close()`. Attributes `url` = http://127.0.0.1:<port>/<version> (the API
base a connector is configured with), `port`, `version`, `channel_id`. `version` is the path segment the
API lives under (e.g. "1.0", "2.0", "2025-07", "2026-01"); requests under any other first segment are 404.
`webhook_secret` is the signing secret as ShipBob shows it, "whsec_<base64 key>" (the prefix may be left
out); None: webhooks are sent unsigned (no webhook-signature header). ValueError for a secret that is not
base64, a limit below 1, a window <= 0 or a version containing "/". `scopes`: what the token may do (a list
of scope names, or one string split at commas / white space); None: every scope GET /channel lists
(orders_read, orders_write, products_read, products_write, inventory_read, webhooks_read, webhooks_write,
fulfillments_read, channels_read, locations_read); attribute `scopes`. `inventory`: levels to start with,
{sku: on_hand | (on_hand, committed) | (on_hand, committed, exception) | {set_inventory keyword arguments}},
made in the dict's order through set_inventory (ids 400001, 400002, ...; ValueError as there).

State (snapshots, thread-safe): `orders` {reference_id: order as GET /order/{id} shows it}; `inventory`
{inventory_id: inventory level as GET /inventory-level/{id} shows it}; `webhooks`
{subscription id: subscription}; `events` [Event] every event made so far (held ones included), oldest
first; `held_events` [Event] the events queued by hold_events() and not sent yet; `webhook_log`
[WebhookCall] one per webhook POST in the order the answers came: WebhookCall(url, headers (the dict sent),
body bytes, status: the answer's code or "error", error: why, else None); `requests` [Call] where Call =
(method, path, query, body, status): the URL-decoded path (with the /<version> prefix), the query as a dict
of first values, the parsed JSON body or None, and the status answered or "hang" / "reset";
`status_counts()`. `wait_until(predicate, timeout, what)` waits until predicate(sim) holds (woken by every
request and every webhook answer; AssertionError on timeout).

Scripting (the shared `Scripted` mixin): `script(*rules)` appends rules consumed in order by the requests
they match (an int N is short for {"status": N}); `clear_script()`, `pending_rules()`. Rule keys:
    status       answer this code with a canned body instead of serving the request: 400 the validation
                 body with errors {"$": ["Simulated validation error."]}, 401 / 403 / 404 / 500
                 {"statusCode": N, "message": ...} (401 with WWW-Authenticate: Bearer), 422 the duplicate
                 body, 429 the rate-limit body "Try again in N seconds." with N the rule's x-retry-after
                 (default 1, the header added), 502/503/504 an HTML gateway page (assumption: the fact
                 sheet gives no body for these), any other {"statusCode": N, "message": "Simulated error"}
    body         the answer body instead (dict/list sent as JSON, str or bytes)
    headers      extra answer headers (an x-remaining-calls given here replaces the computed one);
                 retry_after: an x-retry-after header (ShipBob's name; no Retry-After is sent)
    delay        seconds before the request is served (or answered)
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    commit       True: serve the request first (its changes are kept), then hang, reset or answer
                 `status` instead (e.g. {"reset": True, "commit": True}: created, answer lost; the retry
                 then gets 422 and must look the order up by ReferenceIds)
    count        requests the rule answers before it is used up (default 1; None: never)
    match        {"method": "POST", "path_prefix": "/2025-07/order", "path": exact} (paths as sent, with
                 the version prefix, URL-decoded) or a callable(RequestInfo(method, path, query, body)) -> bool
Order for every request: authentication, the rate limit, the token's scope, the channel header of a write,
the first matching rule, the endpoint. A refused request (401, 429, the scope 403, the channel 400/403)
consumes no rule.

Behaviour (paths below are relative to /<version>; matched case-insensitively, a trailing slash ignored):
    any          Authorization "Bearer <token>" (scheme case-insensitive), else 401 {"statusCode":401,
                 "message":"Unauthorized. Access token is missing or invalid."} with WWW-Authenticate:
                 Bearer; not counted against the limit. Assumption: the fact sheet gives no 401 body; this
                 is the API gateway's (Azure API Management) wording, matching the {statusCode, message}
                 envelope of the documented 429.
    rate limit   per token, `limit_per_minute` requests in any `window_seconds` (a sliding window over the
                 times of the counted requests). EVERY answer (401, 404, 429, scripted ones included)
                 carries x-remaining-calls: requests left in the window after this one (the 401 shows the
                 configured token's without counting). Over the limit: 429 {"statusCode":429,"message":
                 "Rate limit is exceeded. Try again in N seconds."} with x-retry-after: N (whole seconds
                 until the oldest counted request leaves the window, at least 1) and x-remaining-calls: 0;
                 a throttled request is not counted (assumption). Answers that hang or reset carry nothing.
    scopes       each area needs a scope of the token: GET /order... orders_read, POST /order... (create,
                 cancel) orders_write, GET /webhook webhooks_read, POST and DELETE /webhook... webhooks_write,
                 GET /channel channels_read, GET /inventory-level... inventory_read. Without it: 403
                 {"statusCode":403,"message":"Forbidden. The access token does not have the required scope
                 '<scope>'."} (counted against the limit, x-remaining-calls on it). Other paths and methods
                 need none (they end in 404). Assumptions: the 403 body (the fact sheet gives only "403
                 (scope)"), the area-to-scope map beyond inventory_read, that a scope refusal comes before the
                 channel header's check.
    writes       POST, PUT, PATCH and DELETE need the header shipbob_channel_id: <channel_id>. Missing or not an
                 integer: 400 {"type": ..., "title": "One or more validation errors occurred.", "status":
                 400, "errors": {"shipbob_channel_id": ["The shipbob_channel_id header is required."]}
                 (or [... "is not a valid channel id."]), "traceId": ...}; an integer other than
                 channel_id: 403 {"statusCode":403,"message":"The channel <id> in the shipbob_channel_id
                 header is not accessible with this token."}. Assumptions: which of 400/403 answers (the
                 errors page: 400 for a missing parameter, 403 for missing permission); reads ignore the
                 header; it is also required on POST /webhook although the webhooks guide calls it an
                 optional channel filter there.
    GET  /channel
                 [{"id": channel_id, "name": "orderbridge", "application_name": "orderbridge", "scopes":
                 the token's scopes (default ["orders_read", "orders_write", ..., "inventory_read", ...])}]
                 (assumption: the shape beyond id and scopes).
    POST /order  creates an order, 201 with it. Validation (400, the ASP.NET ValidationProblemDetails body
                 {"type", "title": "One or more validation errors occurred.", "status": 400, "errors":
                 {field: [message, ...]}, "traceId"}; every failing field is named, keys are JSON paths as
                 sent: "reference_id", "recipient.address.country", "products[0].quantity"; "$" for a body
                 that is not a JSON object):
                   reference_id     required string, 1 to 300 characters
                   recipient        required object; name required string; address required object with
                                    address1, city (required strings), country (required, two letters:
                                    ISO 3166-1 alpha-2), address2, company_name, state, zip_code
                                    (optional strings); email, phone_number optional strings
                   products         required non-empty list; each an object with reference_id (the SKU)
                                    and name (required strings), quantity (required integer >= 1),
                                    unit_price (optional number), external_line_id (optional integer),
                                    gtin, upc (optional strings)
                   shipping_method  required non-empty string (free text: any value is taken)
                   type             required, "DTC" or "B2B" (exactly)
                   order_number     optional string, at most 400 characters (not unique)
                   purchase_date    optional ISO-8601 date-time string
                   financials       optional object; total_price an optional number
                   tags             optional list of {"name": string, "value": string}
                   gift_message     optional string; location_id optional integer
                 Then a reference_id already used answers 422 {"type": ..., "title": "Duplicate reference
                 ID", "status": 422, "errors": {"reference_id": ["Duplicate reference ID: an order with
                 reference_id '<id>' already exists."]}, "traceId": ...} (the existing order's id is not
                 given: look it up by ReferenceIds). The created order: {"id" (integers from 100001),
                 "created_date", "purchase_date" (as sent, else null), "reference_id", "order_number" (as
                 sent, else the reference_id), "status": "Processing", "type", "channel": {"id",
                 "name"}, "shipping_method", "recipient" (as sent), "products" [each as sent plus "id":
                 one id per SKU across orders (integers from 300001, as ShipBob creates unknown products
                 on the fly) and "sku": its reference_id], "tags" (as sent, else []), "gift_message",
                 "location_id", "financials" (as sent, else null), "shipments": [one shipment {"id"
                 (integers from 200001), "order_id", "reference_id", "recipient", "created_date",
                 "last_update_at", "status": "Processing", "status_details": [], "location_id",
                 "tracking": null, "actual_fulfillment_date": null, "delivery_date": null, "products":
                 [{"id", "reference_id", "name", "quantity"}]}]}. Assumptions: the error-body shapes
                 and texts (the fact sheet gives only the status codes and the words "Duplicate reference
                 ID"); strings where numbers belong and numbers where strings belong are refused (as
                 System.Text.Json does by default); the country must be two letters although ShipBob
                 only recommends ISO-2; one shipment per order (no splitting); the order_number default.
    GET  /order  ReferenceIds (comma-separated, or the parameter repeated), HasTracking (true/false, else 400), Page
                 (default 1), Limit (default 50, 1..250) -> a JSON list sorted by id, with headers
                 total-count, page-number, total-pages and, when there is a further page, next-page (that
                 page's path and query, e.g. /2025-07/order?Page=2&Limit=50). Query names bind
                 case-insensitively. A Page below 1 or a Limit outside 1..250 (or not an integer) is 400
                 with errors {"Page"/"Limit": [...]}. Assumptions: the filter name (the fact sheet marks
                 it [inf]), the order, the header values, 400 rather than capping the Limit.
    GET  /order/{id}
                 the order, else 404 {"statusCode":404,"message":"Order not found"}
    POST /order/{id}:cancel            (dated versions; "/order/{id}/cancel" in versions 1.0 and 2.0)
                 200 {"order": {...}, "canceled_shipment_results": [{"shipment_id", "action": "Cancel",
                 "is_success", "reason"}]}. Cancellable while no shipment is Completed: every shipment not
                 yet Cancelled (Processing, Exception, On Hold) turns "Cancelled" (is_success true, reason
                 null) and the order "Cancelled". Otherwise nothing changes and each shipment's result has
                 is_success false with reason "Shipment has already shipped (status Completed) and cannot
                 be cancelled." or, for an order already cancelled, "Shipment is already cancelled.".
                 Unknown id 404 "Order not found". The other version's form is 404 "Resource not found".
                 Assumptions: a refused cancel still answers 200 (check is_success, not the status code);
                 a repeated cancel is refused, not a no-op success; a cancel through the API sends no
                 order.shipment.cancelled webhook (ShipBob documents that the topic does not fire for
                 manual cancellations; cancel_shipment() below is the warehouse-side cancellation).
    POST /webhook {"topics": [...], "url": "...", "description"?}
                 201 {"id" (integers from 1), "topics", "url", "description", "created_at"}. 400 errors
                 when topics is not a non-empty list of known topics (order.shipped,
                 order.shipment.tracking.updated, order.shipment.delivered, order.delivered,
                 order.shipment.exception, order.shipment.on_hold, order.shipment.cancelled,
                 order.shipment.address.updated, order.shipment.tracking_received, or any topic starting
                 with order.shipment.line_item., return., billing.) or url is not an absolute http(s) URL.
                 Assumptions: plain http is accepted (ShipBob demands https; tests listen on plain http);
                 the old snake-case topic names (order_shipped, ...) are refused whatever the version.
    GET  /webhook               the subscriptions, a JSON list sorted by id
    GET  /inventory-level
                 every inventory level, a JSON list sorted by inventory_id, paged like GET /order: Page
                 (default 1), Limit (default 50, 1..250; names bind case-insensitively; 400 {"Page"/"Limit":
                 [...]} otherwise), headers total-count, page-number, total-pages and, when there is a
                 further page, next-page (e.g. /2025-07/inventory-level?Page=2&Limit=50). Each level:
                 {"inventory_id": int, "sku", "name", "total_on_hand_quantity", "total_committed_quantity",
                 "total_fulfillable_quantity" (on hand minus committed), "total_sellable_quantity" (on hand
                 minus committed minus exception), "total_awaiting_quantity", "total_backordered_quantity",
                 "total_exception_quantity", "total_internal_transfer_quantity"} (integers). Other query
                 parameters are ignored. Assumptions: Page / Limit and a bare JSON list, as this simulator's
                 GET /order (ShipBob's dated versions document other paging for this endpoint; the fact sheet
                 does not say which); the same path under every version; one level per SKU; fulfillable and
                 sellable never below 0.
    GET  /inventory-level/{inventoryId}
                 that level, else 404 {"statusCode":404,"message":"Inventory not found"} (a non-numeric id:
                 404 "Resource not found").
    DELETE /webhook/{id}        204 (no body); unknown id 404 "Subscription not found"
    else         404 {"statusCode":404,"message":"Resource not found"} (an unknown path or method)
    a bug        500 {"statusCode":500,"message":"Internal server error"} (the traceback on stderr)
Timestamps (created_date, last_update_at, created_at, event_time) are UTC "YYYY-MM-DDTHH:MM:SS.fffffffZ"
(seven fractional digits, as in ShipBob's webhook example), each at least 1 ms after the previous one (so
events made in a row differ even when compared at millisecond precision).

Inventory (the test sets what the API shows; thread-safe):
    set_inventory(sku, on_hand, committed=0, exception=0, inventory_id=None, *, name=None, awaiting=0,
                  backordered=0, internal_transfer=0)
                 creates or replaces a level and returns it as the API shows it: every quantity is set anew
                 (those not given are 0), fulfillable = max(0, on_hand - committed), sellable = max(0,
                 on_hand - committed - exception). Without inventory_id the level holding sku is updated, or a
                 new one made (ids from 400001); with one, that level is updated (its sku may change) or made
                 under that id. name None keeps the level's name (a new one's is its sku). ValueError for a
                 negative or non-integer quantity, an empty sku, an inventory_id below 1, or a sku another
                 inventory_id holds (SKUs are unique).

Warehouse side (each changes the order's one shipment at once, then makes an Event and sends it, or queues
it while events are held; KeyError for an unknown reference_id, ValueError for a change the shipment's
status does not allow; event_time: a datetime (naive ones are UTC) or a string sent as given, default now):
    ship(reference_id, tracking_id, carrier="USPS", carrier_service="Ground", tracking_url=None,
         event_time=None)
                 from Processing, Exception or On Hold: shipment "Completed", tracking {"carrier",
                 "carrier_service", "tracking_number", "tracking_url", "shipping_date"},
                 actual_fulfillment_date set; order "Fulfilled". Topic order.shipped, status "Completed".
    deliver(reference_id, event_time=None)
                 from Completed: delivery_date set, status_details [{"name": "Delivered", ...}] (the
                 shipment stays Completed). Topic order.shipment.delivered, status "Delivered".
    exception(reference_id, reason="OutOfStock", description="...", event_time=None)
                 from Processing or On Hold: shipment "Exception" with status_details [{"name": reason,
                 "description"}]; order "Exception". Topic order.shipment.exception, status "Exception".
    on_hold(reference_id, reason="ManualHold", description="...", event_time=None)
                 from Processing or Exception: shipment "On Hold" (the fact sheet's spelling), order
                 "Exception". Topic order.shipment.on_hold, status "On Hold".
    cancel_shipment(reference_id, event_time=None)
                 from Processing, Exception or On Hold: shipment and order "Cancelled". Topic
                 order.shipment.cancelled, status "Cancelled".
Each returns the Event: a dict, the payload {"event_time", "order_id", "reference_id", "shipment_id",
"status", "status_details", "tracking": {"carrier", "carrier_service", "tracking_id", "tracking_url"} or
null before shipping, "topic"}, with attributes `webhook_id` ("msg_" + 32 hex digits, unique per event),
`topic`, `body` (the exact bytes sent, compact JSON, the same on every delivery) and `targets` (the URLs
of the subscriptions to its topic when it was made, one entry per subscription). Assumptions: the payload
fields beyond the fact sheet's tracking example (shipment_id, status_details, topic), the per-topic
"status" values, the order-level statuses (Fulfilled, Exception, Cancelled), "tracking_number" in the
REST shipment but "tracking_id" in the webhook (as in ShipBob's examples), a null tracking_url unless
given.

Webhook delivery: one POST per target (sequential, in the calling thread, 15 s timeout, no automatic
retries: call resend()), with Content-Type application/json, webhook-id, webhook-timestamp (unix seconds
of this attempt), webhook-signature "v1,<base64(HMAC-SHA256(key, f'{webhook-id}.{webhook-timestamp}.{body}'))>"
when a secret is set (key: the base64-decoded part after "whsec_"), and x-webhook-topic. Each POST is
recorded in `webhook_log`. `sign(webhook_id, timestamp, body)` gives the webhook-signature value the simulator
sends (None without a secret); a test should compute its own.
    subscribe(url, topics, description=None)   a subscription as POST /webhook makes it; returns it
    hold_events()          from now on events are queued instead of sent
    release_events(order="reverse")
                 sends the queued events ("reverse": newest first, so an older event arrives after a
                 newer one, as ShipBob does not guarantee order; "as_is": oldest first), stops holding;
                 returns the events in the order sent
    resend(event, url=None) sends the event again to its targets (or to url only): same webhook-id and
                 body, a fresh timestamp and signature, as ShipBob's retries do; returns the WebhookCalls

As a process, for end-to-end tests:

    shipbob_sim.py --port 0 [--token pat-test --channel-id 1234 --version 2025-07 --webhook-secret whsec_...
                   --limit-per-minute 150 --window-seconds 60 --scopes orders_read,inventory_read
                   --inventory '{"SKU-RED-M": [40, 3], "SKU-BLUE-L": 7}' --script '[{"status": 503}]'
                   --dump state.json]

prints {"port": N} once listening and, on SIGTERM or SIGINT, one summary line {"requests", "orders",
"webhooks", "status_counts"}; --dump writes {"orders", "webhooks", "inventory", "requests"} there. Exits 0.
(A process has no way to ship: no warehouse events are sent unless the simulator runs in the test process.)
"""
import base64
import binascii
import collections
import copy
import datetime
import hashlib
import hmac
import http.client
import json
import math
import re
import secrets
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

from erpnext_sim import WebhookCall, _HTTPServer, _Outcome, _Rule, _canned, _nginx_page, _ruled_outcome
from scripting import (Call, Recorded, RequestInfo, Scripted, ThreadedServer, finish_process, parse_request, post,
                       process_parser, record, serve_until_signalled, take_rule)

__all__ = ["ShipBobSim", "Event", "Call", "RequestInfo", "WebhookCall", "TOPICS", "SHIPMENT_STATUSES"]

JSON_TYPE = "application/json; charset=utf-8"
SHIPMENT_STATUSES = ("Processing", "Exception", "On Hold", "Completed", "Cancelled")
OPEN_STATUSES = ("Processing", "Exception", "On Hold")
ORDER_TYPES = ("DTC", "B2B")
TOPICS = ("order.shipped", "order.shipment.tracking.updated", "order.shipment.delivered", "order.delivered",
          "order.shipment.exception", "order.shipment.on_hold", "order.shipment.cancelled",
          "order.shipment.address.updated", "order.shipment.tracking_received")
TOPIC_PREFIXES = ("order.shipment.line_item.", "return.", "billing.")
UNDATED_VERSIONS = ("1.0", "2.0")
CHANNEL_HEADER = "shipbob_channel_id"
CHANNEL_NAME = "orderbridge"
CHANNEL_SCOPES = ["orders_read", "orders_write", "products_read", "products_write", "inventory_read",
                  "webhooks_read", "webhooks_write", "fulfillments_read", "channels_read", "locations_read"]
# The scope each API area needs: {first path segment: {method: scope}} (a path or method not named here needs
# none and ends in the endpoint's 404).
ROUTE_SCOPES = {"order": {"GET": "orders_read", "POST": "orders_write"},
                "webhook": {"GET": "webhooks_read", "POST": "webhooks_write", "DELETE": "webhooks_write"},
                "channel": {"GET": "channels_read"},
                "inventory-level": {"GET": "inventory_read"}}
FIRST_INVENTORY_ID = 400001
UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."}
NOT_FOUND = {"statusCode": 404, "message": "Resource not found"}
INTERNAL = {"statusCode": 500, "message": "Internal server error"}
VALIDATION_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
DUPLICATE_TYPE = "https://tools.ietf.org/html/rfc4918#section-11.2"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
WEBHOOK_TIMEOUT = 15.0
MAX_REFERENCE_ID, MAX_ORDER_NUMBER = 300, 400


def throttled_body(seconds):
    return {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {seconds} seconds."}


def _trace_id():
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def validation_body(errors):
    return {"type": VALIDATION_TYPE, "title": "One or more validation errors occurred.", "status": 400,
            "errors": errors, "traceId": _trace_id()}


def duplicate_body(reference_id):
    what = f"an order with reference_id '{reference_id}' already exists." if reference_id is not None else \
        "an order with this reference_id already exists."
    return {"type": DUPLICATE_TYPE, "title": "Duplicate reference ID", "status": 422,
            "errors": {"reference_id": [f"Duplicate reference ID: {what}"]}, "traceId": _trace_id()}


def _stamp(when):
    """A UTC datetime as "YYYY-MM-DDTHH:MM:SS.fffffffZ" (naive ones are taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _iso_datetime(value):
    if not isinstance(value, str) or not value.strip():
        return False
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:     # .NET sends 7 fractional digits; Python takes at most 6
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[:min(digits, 6)] + rest[digits:]
        text = head + "." + rest if rest[:1].isdigit() else head + rest
    try:
        datetime.datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def _signing_key(secret):
    """The HMAC key of a "whsec_<base64>" secret (the prefix is optional); ValueError if not base64."""
    text = str(secret)
    if text.startswith("whsec_"):
        text = text[len("whsec_"):]
    try:
        key = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as e:
        raise ValueError(f"webhook_secret is not 'whsec_' + base64: {e}") from None
    if not key:
        raise ValueError("webhook_secret has an empty key")
    return key


def known_topic(topic):
    return isinstance(topic, str) and (topic in TOPICS or topic.startswith(TOPIC_PREFIXES))


class _Invalid(Exception):
    """A 400 answer with ValidationProblemDetails errors {field: [message]}."""

    def __init__(self, errors):
        super().__init__(str(errors))
        self.errors = errors


class _Answer(Exception):
    """Any other non-2xx answer: status and JSON payload."""

    def __init__(self, status, payload):
        super().__init__(f"{status} {payload}")
        self.status, self.payload = status, payload


class _ShipBobRule(_Rule):
    """The shared rule, except that retry_after sets ShipBob's x-retry-after header (not Retry-After)."""
    __slots__ = ()

    def __init__(self, spec):
        super().__init__(spec)
        if isinstance(spec, dict) and spec.get("retry_after") is not None:
            self.headers[-1] = ("x-retry-after", self.headers[-1][1])


class Event(dict):
    """A webhook event: the payload dict, plus `webhook_id`, `topic`, `body` (the bytes sent on every
    delivery) and `targets` (the subscribed URLs when it was made)."""

    def __init__(self, payload, webhook_id, topic, body, targets):
        super().__init__(payload)
        self.webhook_id, self.topic, self.body, self.targets = webhook_id, topic, body, list(targets)

    def __repr__(self):
        return f"Event({self.topic!r}, {self.webhook_id!r}, {dict.__repr__(self)})"


def _scope_list(scopes):
    """The granted scopes as a list: None is every scope of CHANNEL_SCOPES; a string is split at commas and
    white space; else an iterable of strings."""
    if scopes is None:
        return list(CHANNEL_SCOPES)
    if isinstance(scopes, str):
        return [s for s in re.split(r"[\s,]+", scopes) if s]
    out = list(scopes)
    if not all(isinstance(s, str) for s in out):
        raise ValueError(f"scopes must be strings, not {scopes!r}")
    return out


def _quantity(name, value):
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, not {value!r}")
    return value


class _Site:
    def __init__(self, token, channel_id, limit_per_minute, window_seconds, version, scopes=None):
        self.token = str(token)
        self.scopes = _scope_list(scopes)
        self.channel_id = int(channel_id)
        self.limit = int(limit_per_minute)
        self.window = float(window_seconds)
        if self.limit < 1 or self.window <= 0:
            raise ValueError("limit_per_minute must be >= 1 and window_seconds > 0")
        self.version = str(version)
        if not self.version or "/" in self.version or self.version.strip() != self.version:
            raise ValueError(f"version must be one path segment such as '2025-07', not {version!r}")
        self.prefix = "/" + self.version.lower()
        self.windows = {}               # token -> deque of the monotonic times of counted requests
        self.cond = threading.Condition(threading.RLock())
        self.rules = []
        self.calls = []
        self.orders = {}                # reference_id -> order
        self.by_id = {}                 # order id -> reference_id
        self.catalog = {}               # product reference_id (SKU) -> product id
        self.inventory = {}             # inventory_id -> inventory level (as GET /inventory-level/{id} shows it)
        self.next_inventory_id = FIRST_INVENTORY_ID
        self.subscriptions = {}         # id -> subscription
        self.events = []
        self.held = []                  # queued events while holding
        self.holding = False
        self.webhook_log = []
        self.next_order_id = 100001
        self.next_shipment_id = 200001
        self.next_product_id = 300001
        self.next_subscription_id = 1
        self.last_stamp = None

    # --- helpers -------------------------------------------------------------------------------------------
    def now(self):
        """The current UTC time as a datetime, at least 1 ms after the previous call's (so that stamps compared at
        millisecond precision still differ)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if self.last_stamp is not None and now < self.last_stamp + datetime.timedelta(milliseconds=1):
            now = self.last_stamp + datetime.timedelta(milliseconds=1)
        self.last_stamp = now
        return now

    def stamp(self):
        return _stamp(self.now())

    def bearer(self, headers):
        """The token when it is the configured one, else None."""
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return token if secrets.compare_digest(token.encode(), self.token.encode()) else None

    def rate(self, token, count):
        """(headers, retry_after or None): the token's sliding window; counts the request when count and not
        throttled; retry_after is set when the request is throttled."""
        now = time.monotonic()
        times = self.windows.setdefault(token, collections.deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        retry = None
        if count:
            if len(times) >= self.limit:
                retry = max(1, math.ceil(times[0] + self.window - now))
            else:
                times.append(now)
        headers = [("x-remaining-calls", str(max(self.limit - len(times), 0)))]
        if retry is not None:
            headers.append(("x-retry-after", str(retry)))
        return headers, retry

    def scope_refusal(self, method, path):
        """The 403 refusing a request whose API area needs a scope the token lacks, else None."""
        p = path.rstrip("/").lower()
        if p != self.prefix and not p.startswith(self.prefix + "/"):
            return None
        area = p[len(self.prefix):].lstrip("/").split("/", 1)[0]
        area = area.split(":", 1)[0]
        needed = ROUTE_SCOPES.get(area, {}).get(method)
        if needed is None or needed in self.scopes:
            return None
        return self.json_answer(403, {"statusCode": 403, "message": f"Forbidden. The access token does not have "
                                                                    f"the required scope '{needed}'."})

    def channel_refusal(self, method, headers):
        """The answer refusing a write without the right shipbob_channel_id header, else None."""
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            return None
        value = headers.get(CHANNEL_HEADER)
        if value is None or not value.strip():
            return self.json_answer(400, validation_body(
                {CHANNEL_HEADER: [f"The {CHANNEL_HEADER} header is required."]}))
        text = value.strip()
        if not re.fullmatch(r"[0-9]{1,18}", text):
            return self.json_answer(400, validation_body(
                {CHANNEL_HEADER: [f"The value '{text}' is not a valid channel id."]}))
        if int(text) != self.channel_id:
            return self.json_answer(403, {"statusCode": 403, "message": f"The channel {int(text)} in the "
                                          f"{CHANNEL_HEADER} header is not accessible with this token."})
        return None

    @staticmethod
    def json_answer(status, payload, headers=()):
        return _Outcome(status=status, headers=headers, content_type=JSON_TYPE,
                        body=json.dumps(payload, separators=(",", ":")).encode())

    def canned(self, rule):
        """The answer of a rule with a status (or a body)."""
        return _canned(rule, self.json_answer, self._status_answer, JSON_TYPE)

    def _status_answer(self, status, headers):
        if 200 <= status < 300:
            return self.json_answer(status, {}, headers)
        if status == 400:
            return self.json_answer(400, validation_body({"$": ["Simulated validation error."]}), headers)
        if status == 401:
            return self.json_answer(401, UNAUTHORIZED, headers + [("WWW-Authenticate", "Bearer")])
        if status == 403:
            return self.json_answer(403, {"statusCode": 403, "message": "Forbidden"}, headers)
        if status == 404:
            return self.json_answer(404, NOT_FOUND, headers)
        if status == 422:
            return self.json_answer(422, duplicate_body(None), headers)
        if status == 429:
            given = [v for k, v in headers if k.lower() == "x-retry-after"]
            seconds = given[-1] if given else "1"
            if not given:
                headers = headers + [("x-retry-after", seconds)]
            return self.json_answer(429, throttled_body(seconds), headers)
        if status in (502, 503, 504):
            title = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[status]
            return _nginx_page(status, title, headers, signature=False)
        if status == 500:
            return self.json_answer(500, INTERNAL, headers)
        return self.json_answer(status, {"statusCode": status, "message": "Simulated error"}, headers)

    # --- endpoints -----------------------------------------------------------------------------------------
    def serve(self, method, path, target, body, raw):
        try:
            status, payload, headers = self._route(method, path, target, body, raw)
            if status == 204:
                return _Outcome(status=204, headers=headers, content_type=JSON_TYPE, body=b"")
            return self.json_answer(status, payload, headers)
        except _Invalid as e:
            return self.json_answer(400, validation_body(e.errors))
        except _Answer as e:
            return self.json_answer(e.status, e.payload)
        except Exception:      # a simulator bug: say so loudly, answer like an unhandled server error
            traceback.print_exc()
            return self.json_answer(500, INTERNAL)

    def _route(self, method, path, target, body, raw):
        p = path.rstrip("/").lower() or "/"
        if p != self.prefix and not p.startswith(self.prefix + "/"):
            raise _Answer(404, NOT_FOUND)
        p = p[len(self.prefix):] or "/"
        if p == "/order":
            if method == "POST":
                return 201, self._create(body, raw), []
            if method == "GET":
                return self._list(target)
        elif p.startswith("/order/"):
            rest = p[len("/order/"):]
            if self.version in UNDATED_VERSIONS:
                m = re.fullmatch(r"([0-9]+)/cancel", rest)
            else:
                m = re.fullmatch(r"([0-9]+):cancel", rest)
            if m and method == "POST":
                return 200, self._cancel(int(m.group(1))), []
            if rest.isdigit() and method == "GET":
                return 200, copy.deepcopy(self._order_by_id(int(rest))), []
        elif p == "/channel" and method == "GET":
            return 200, [{"id": self.channel_id, "name": CHANNEL_NAME, "application_name": CHANNEL_NAME,
                          "scopes": list(self.scopes)}], []
        elif p == "/inventory-level" and method == "GET":
            pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query, keep_blank_values=True)
            rows = [item for _, item in sorted(self.inventory.items())]
            return self._paged(rows, pairs, "/inventory-level")
        elif p.startswith("/inventory-level/") and method == "GET":
            rest = p[len("/inventory-level/"):]
            if rest.isdigit():
                item = self.inventory.get(int(rest))
                if item is None:
                    raise _Answer(404, {"statusCode": 404, "message": "Inventory not found"})
                return 200, copy.deepcopy(item), []
        elif p == "/webhook":
            if method == "POST":
                if not isinstance(body, dict):
                    raise _Invalid({"$": ["The request body must be a JSON object {topics, url}."]})
                return 201, self.subscribe(body.get("url"), body.get("topics"), body.get("description")), []
            if method == "GET":
                return 200, [copy.deepcopy(s) for _, s in sorted(self.subscriptions.items())], []
        elif p.startswith("/webhook/") and method == "DELETE":
            rest = p[len("/webhook/"):]
            if rest.isdigit() and int(rest) in self.subscriptions:
                del self.subscriptions[int(rest)]
                return 204, None, []
            raise _Answer(404, {"statusCode": 404, "message": "Subscription not found"})
        raise _Answer(404, NOT_FOUND)

    def _order_by_id(self, order_id):
        ref = self.by_id.get(order_id)
        if ref is None:
            raise _Answer(404, {"statusCode": 404, "message": "Order not found"})
        return self.orders[ref]

    # --- create ---------------------------------------------------------------------------------------------
    @staticmethod
    def _validate(order):
        errors = {}

        def err(field, message):
            errors.setdefault(field, []).append(message)

        def string(obj, field, path, required=False, max_len=None, min_len=1):
            value = obj.get(field)
            if value is None:
                if required:
                    err(path, f"The {field} field is required.")
                return None
            if not isinstance(value, str):
                err(path, f"The {field} field must be a string.")
                return None
            if required and len(value.strip()) < min_len:
                err(path, f"The {field} field is required.")
            elif max_len is not None and len(value) > max_len:
                err(path, f"The field {field} must be a string with a maximum length of {max_len}.")
            return value

        string(order, "reference_id", "reference_id", required=True, max_len=MAX_REFERENCE_ID)
        string(order, "order_number", "order_number", max_len=MAX_ORDER_NUMBER)
        string(order, "shipping_method", "shipping_method", required=True)
        string(order, "gift_message", "gift_message")
        kind = order.get("type")
        if kind is None:
            err("type", "The type field is required.")
        elif kind not in ORDER_TYPES:
            err("type", f"The value '{kind}' is not valid for type: one of {', '.join(ORDER_TYPES)} is expected.")
        if order.get("purchase_date") is not None and not _iso_datetime(order["purchase_date"]):
            err("purchase_date", f"The value '{order['purchase_date']}' is not a valid date-time for purchase_date.")
        if order.get("location_id") is not None and not _is_int(order["location_id"]):
            err("location_id", f"The value '{order['location_id']}' is not valid for location_id: an integer is "
                               f"expected.")
        recipient = order.get("recipient")
        if recipient is None:
            err("recipient", "The recipient field is required.")
        elif not isinstance(recipient, dict):
            err("recipient", "The recipient field must be an object.")
        else:
            string(recipient, "name", "recipient.name", required=True)
            string(recipient, "email", "recipient.email")
            string(recipient, "phone_number", "recipient.phone_number")
            address = recipient.get("address")
            if address is None:
                err("recipient.address", "The address field is required.")
            elif not isinstance(address, dict):
                err("recipient.address", "The address field must be an object.")
            else:
                string(address, "address1", "recipient.address.address1", required=True)
                string(address, "city", "recipient.address.city", required=True)
                for field in ("address2", "company_name", "state", "zip_code"):
                    string(address, field, f"recipient.address.{field}")
                country = string(address, "country", "recipient.address.country", required=True)
                if country is not None and country.strip() and not re.fullmatch(r"[A-Za-z]{2}", country):
                    err("recipient.address.country",
                        f"The value '{country}' is not a valid country: an ISO 3166-1 alpha-2 code is expected.")
        products = order.get("products")
        if products is None:
            err("products", "The products field is required.")
        elif not isinstance(products, list):
            err("products", "The products field must be a list.")
        elif not products:
            err("products", "The products field must contain at least one product.")
        else:
            for i, product in enumerate(products):
                path = f"products[{i}]"
                if not isinstance(product, dict):
                    err(path, "A product must be an object.")
                    continue
                string(product, "reference_id", f"{path}.reference_id", required=True)
                string(product, "name", f"{path}.name", required=True)
                for field in ("gtin", "upc"):
                    string(product, field, f"{path}.{field}")
                qty = product.get("quantity")
                if qty is None:
                    err(f"{path}.quantity", "The quantity field is required.")
                elif not _is_int(qty):
                    err(f"{path}.quantity", f"The value '{qty}' is not valid for quantity: an integer is expected.")
                elif qty < 1:
                    err(f"{path}.quantity", "The field quantity must be at least 1.")
                if product.get("unit_price") is not None and not _is_number(product["unit_price"]):
                    err(f"{path}.unit_price",
                        f"The value '{product['unit_price']}' is not valid for unit_price: a number is expected.")
                line = product.get("external_line_id")
                if line is not None and not _is_int(line):
                    err(f"{path}.external_line_id",
                        f"The value '{line}' is not valid for external_line_id: an integer is expected.")
        financials = order.get("financials")
        if financials is not None:
            if not isinstance(financials, dict):
                err("financials", "The financials field must be an object.")
            elif financials.get("total_price") is not None and not _is_number(financials["total_price"]):
                err("financials.total_price", f"The value '{financials['total_price']}' is not valid for "
                                              f"total_price: a number is expected.")
        tags = order.get("tags")
        if tags is not None:
            if not isinstance(tags, list):
                err("tags", "The tags field must be a list.")
            else:
                for i, tag in enumerate(tags):
                    if not isinstance(tag, dict):
                        err(f"tags[{i}]", "A tag must be an object {name, value}.")
                        continue
                    string(tag, "name", f"tags[{i}].name", required=True)
                    string(tag, "value", f"tags[{i}].value")
        if errors:
            raise _Invalid(errors)

    def _create(self, body, raw):
        if not isinstance(body, dict):
            why = "A non-empty request body is required." if not raw else \
                "The request body must be a JSON object (an order)."
            raise _Invalid({"$": [why]})
        self._validate(body)
        ref = body["reference_id"]
        if ref in self.orders:
            raise _Answer(422, duplicate_body(ref))
        now = self.stamp()
        order_id = self.next_order_id
        self.next_order_id += 1
        products = []
        for product in body["products"]:
            line = copy.deepcopy(product)
            sku = line["reference_id"]
            if sku not in self.catalog:
                self.catalog[sku] = self.next_product_id
                self.next_product_id += 1
            line = {**line, "id": self.catalog[sku], "sku": sku}
            products.append(line)
        shipment_id = self.next_shipment_id
        self.next_shipment_id += 1
        shipment = {"id": shipment_id, "order_id": order_id, "reference_id": ref,
                    "recipient": copy.deepcopy(body["recipient"]), "created_date": now, "last_update_at": now,
                    "status": "Processing", "status_details": [], "location_id": body.get("location_id"),
                    "tracking": None, "actual_fulfillment_date": None, "delivery_date": None,
                    "products": [{"id": p["id"], "reference_id": p["reference_id"], "name": p["name"],
                                  "quantity": p["quantity"]} for p in products]}
        order = {"id": order_id, "created_date": now, "purchase_date": body.get("purchase_date"),
                 "reference_id": ref, "order_number": body.get("order_number") or ref, "status": "Processing",
                 "type": body["type"], "channel": {"id": self.channel_id, "name": CHANNEL_NAME},
                 "shipping_method": body["shipping_method"], "recipient": copy.deepcopy(body["recipient"]),
                 "products": products, "tags": copy.deepcopy(body.get("tags") or []),
                 "gift_message": body.get("gift_message"), "location_id": body.get("location_id"),
                 "financials": copy.deepcopy(body.get("financials")), "shipments": [shipment]}
        self.orders[ref] = order
        self.by_id[order_id] = ref
        self.cond.notify_all()
        return copy.deepcopy(order)

    # --- list -----------------------------------------------------------------------------------------------
    @staticmethod
    def _int_param(query, name, default, low, high=None):
        value = query.get(name)
        if value in (None, ""):
            return default
        try:
            n = int(value)
        except ValueError:
            n = None
        if n is None or n < low or (high is not None and n > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise _Invalid({name: [f"The value '{value}' is not valid for {name}: an integer {bound} is "
                                   f"expected."]})
        return n

    def _page_params(self, pairs):
        """(page, limit) from Page / Limit in the query pairs (names bound case-insensitively, the first value
        counts; 400 errors {"Page"/"Limit": [...]} outside 1.. / 1..250)."""
        query = {}
        for k, v in pairs:
            if k.lower() in ("page", "limit"):
                query.setdefault(k[0].upper() + k[1:].lower(), v)
        return (self._int_param(query, "Page", 1, 1),
                self._int_param(query, "Limit", DEFAULT_LIMIT, 1, MAX_LIMIT))

    def _paged(self, rows, pairs, path, page_limit=None):
        """(200, the page of rows, the paging headers) for Page / Limit in the query pairs (or page_limit, as
        _page_params gave it); path: the list's path for next-page, without the version."""
        page, limit = page_limit or self._page_params(pairs)
        total = len(rows)
        pages = math.ceil(total / limit)
        headers = [("total-count", str(total)), ("page-number", str(page)), ("total-pages", str(pages))]
        if page < pages:
            rest = [(k, v) for k, v in pairs if k.lower() not in ("page", "limit")]
            headers.append(("next-page", f"/{self.version}{path}?" + urllib.parse.urlencode(
                [("Page", str(page + 1)), ("Limit", str(limit))] + rest)))
        return 200, copy.deepcopy(rows[(page - 1) * limit: page * limit]), headers

    def _list(self, target):
        pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query, keep_blank_values=True)
        names = {n.lower(): n for n in ("ReferenceIds", "HasTracking", "Page", "Limit")}
        query, refs = {}, []
        for k, v in pairs:
            name = names.get(k.lower(), k)
            if name == "ReferenceIds":
                refs.extend(r.strip() for r in v.split(",") if r.strip())
            else:
                query.setdefault(name, v)
        page_limit = self._page_params(pairs)
        rows = list(self.orders.values())
        if refs:
            wanted = set(refs)
            rows = [o for o in rows if o["reference_id"] in wanted]
        tracking = str(query.get("HasTracking", "")).strip().lower()
        if tracking in ("true", "false"):
            rows = [o for o in rows if any(s["tracking"] for s in o["shipments"]) == (tracking == "true")]
        elif tracking:
            raise _Invalid({"HasTracking": [f"The value '{query['HasTracking']}' is not valid for HasTracking."]})
        rows.sort(key=lambda o: o["id"])
        return self._paged(rows, pairs, "/order", page_limit)

    # --- cancel ---------------------------------------------------------------------------------------------
    def _cancel(self, order_id):
        order = self._order_by_id(order_id)
        shipments = order["shipments"]
        shipped = [s for s in shipments if s["status"] == "Completed"]
        results = []
        if shipped or all(s["status"] == "Cancelled" for s in shipments):
            for s in shipments:
                if s["status"] == "Cancelled":
                    reason = "Shipment is already cancelled."
                else:
                    reason = f"Shipment has already shipped (status {s['status']}) and cannot be cancelled." \
                        if s["status"] == "Completed" else \
                        "The order has a shipment that has already shipped and cannot be cancelled."
                results.append({"shipment_id": s["id"], "action": "Cancel", "is_success": False, "reason": reason})
        else:
            now = self.stamp()
            for s in shipments:
                if s["status"] != "Cancelled":
                    s.update({"status": "Cancelled", "last_update_at": now})
                    results.append({"shipment_id": s["id"], "action": "Cancel", "is_success": True, "reason": None})
            order["status"] = "Cancelled"
            self.cond.notify_all()
        return {"order": copy.deepcopy(order), "canceled_shipment_results": results}

    # --- inventory ------------------------------------------------------------------------------------------
    def set_inventory(self, sku, on_hand, committed=0, exception=0, inventory_id=None, name=None, awaiting=0,
                      backordered=0, internal_transfer=0):
        """Creates or replaces an inventory level (see ShipBobSim.set_inventory); returns a copy of it."""
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError(f"sku must be a non-empty string, not {sku!r}")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string, not {name!r}")
        on_hand = _quantity("on_hand", on_hand)
        committed = _quantity("committed", committed)
        exception = _quantity("exception", exception)
        extra = {"total_awaiting_quantity": _quantity("awaiting", awaiting),
                 "total_backordered_quantity": _quantity("backordered", backordered),
                 "total_internal_transfer_quantity": _quantity("internal_transfer", internal_transfer)}
        holder = next((i for i, item in self.inventory.items() if item["sku"] == sku), None)
        if inventory_id is None:
            inventory_id = holder
        elif not _is_int(inventory_id) or inventory_id < 1:
            raise ValueError(f"inventory_id must be an integer >= 1, not {inventory_id!r}")
        elif holder is not None and holder != inventory_id:
            raise ValueError(f"sku {sku!r} is already inventory_id {holder}")
        if inventory_id is None:
            inventory_id = self.next_inventory_id
        self.next_inventory_id = max(self.next_inventory_id, inventory_id + 1)
        old = self.inventory.get(inventory_id)
        if name is None:
            name = old["name"] if old is not None else sku
        item = {"inventory_id": inventory_id, "sku": sku, "name": name,
                "total_on_hand_quantity": on_hand,
                "total_committed_quantity": committed,
                "total_fulfillable_quantity": max(0, on_hand - committed),
                "total_sellable_quantity": max(0, on_hand - committed - exception),
                "total_awaiting_quantity": extra["total_awaiting_quantity"],
                "total_backordered_quantity": extra["total_backordered_quantity"],
                "total_exception_quantity": exception,
                "total_internal_transfer_quantity": extra["total_internal_transfer_quantity"]}
        self.inventory[inventory_id] = item
        self.cond.notify_all()
        return copy.deepcopy(item)

    # --- webhooks -------------------------------------------------------------------------------------------
    def subscribe(self, url, topics, description=None):
        errors = {}
        if not isinstance(topics, list) or not topics:
            errors["topics"] = ["The topics field must be a non-empty list of topics."]
        else:
            bad = [t for t in topics if not known_topic(t)]
            if bad:
                errors["topics"] = [f"Unknown topic '{t}'." for t in bad]
        split = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if split is None or split.scheme not in ("http", "https") or not split.hostname:
            errors["url"] = ["The url field must be an absolute http(s) URL."]
        if description is not None and not isinstance(description, str):
            errors["description"] = ["The description field must be a string."]
        if errors:
            raise _Invalid(errors)
        sub_id = self.next_subscription_id
        self.next_subscription_id += 1
        sub = {"id": sub_id, "topics": list(topics), "url": url, "description": description,
               "created_at": self.stamp()}
        self.subscriptions[sub_id] = sub
        self.cond.notify_all()
        return copy.deepcopy(sub)


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
            token = site.bearer(headers)
            if token is None:
                rate_headers, _ = site.rate(site.token, count=False)
                outcome = site.json_answer(401, UNAUTHORIZED, rate_headers + [("WWW-Authenticate", "Bearer")])
                return record(site, info, outcome)
            rate_headers, retry = site.rate(token, count=True)
            if retry is not None:
                return record(site, info, site.json_answer(429, throttled_body(retry), rate_headers))
            refusal = site.scope_refusal(method, info.path) or site.channel_refusal(method, headers)
            if refusal is not None:
                refusal.headers[:0] = rate_headers
                return record(site, info, refusal)
            rule = take_rule(site.rules, info)
        if rule is not None and rule.delay > 0:
            self.stop.wait(rule.delay)
        with site.cond:
            outcome = _ruled_outcome(rule, lambda: site.serve(method, info.path, target, info.body, raw), site.canned)
            if outcome.kind == "answer":
                given = {k.lower() for k, _ in outcome.headers}
                outcome.headers[:0] = [h for h in rate_headers if h[0].lower() not in given]
            return record(site, info, outcome)


def _inventory_spec(sku, spec):
    """set_inventory's keyword arguments for one entry of the constructor's inventory option: on_hand, a list or
    tuple (on_hand[, committed[, exception]]), or a dict of set_inventory's keyword arguments."""
    if isinstance(spec, dict):
        unknown = set(spec) - {"on_hand", "committed", "exception", "inventory_id", "name", "awaiting", "backordered",
                               "internal_transfer"}
        if unknown or "on_hand" not in spec:
            raise ValueError(f"inventory[{sku!r}] needs on_hand and takes set_inventory's keyword arguments only, "
                             f"not {sorted(unknown) or spec!r}")
        return dict(spec)
    if isinstance(spec, (list, tuple)) and 1 <= len(spec) <= 3:
        return dict(zip(("on_hand", "committed", "exception"), spec))
    if _is_int(spec):
        return {"on_hand": spec}
    raise ValueError(f"inventory[{sku!r}] must be on_hand, (on_hand, committed[, exception]) or a dict, not {spec!r}")


class ShipBobSim(Scripted, Recorded, ThreadedServer):
    """The simulator in a background thread of this process; a context manager. Listening once constructed."""

    @property
    def _rules_state(self):
        return self._site

    def __init__(self, token="pat-test", channel_id=1234, limit_per_minute=150, window_seconds=60, version="2025-07",
                 webhook_secret=None, host="127.0.0.1", port=0, scopes=None, inventory=None):
        self._rule_type = _ShipBobRule
        self._site = _Site(token, channel_id, limit_per_minute, window_seconds, version, scopes)
        self._key = _signing_key(webhook_secret) if webhook_secret is not None else None
        self.version, self.channel_id = self._site.version, self._site.channel_id
        self.scopes = list(self._site.scopes)
        for sku, spec in (inventory or {}).items():
            self.set_inventory(sku, **_inventory_spec(sku, spec))
        self._listen_http(_HTTPServer, _Core, self._site, host, port, "shipbob-sim")
        self.url = f"{self.url}/{self.version}"
        self._thread.start()

    # --- state ---------------------------------------------------------------------------------------------
    @property
    def orders(self):
        """{reference_id: order as GET /order/{id} shows it}."""
        with self._site.cond:
            return copy.deepcopy(self._site.orders)

    @property
    def inventory(self):
        """{inventory_id: inventory level as GET /inventory-level/{id} shows it}."""
        with self._site.cond:
            return copy.deepcopy(self._site.inventory)

    def set_inventory(self, sku, on_hand, committed=0, exception=0, inventory_id=None, *, name=None, awaiting=0,
                      backordered=0, internal_transfer=0):
        """Creates or replaces the inventory level of sku (or of inventory_id) and returns it as the API shows it:
        every quantity is set anew (those not given are 0); fulfillable = max(0, on_hand - committed), sellable =
        max(0, on_hand - committed - exception). Without inventory_id the item holding sku is updated, else a new
        one made (ids from 400001); with one, that item is updated (its sku may change) or made with that id.
        name: None keeps the item's name (a new item's is its sku). ValueError for a negative or non-integer
        quantity, an empty sku, an inventory_id below 1, or a sku another inventory_id holds."""
        with self._site.cond:
            return self._site.set_inventory(sku, on_hand, committed, exception, inventory_id, name, awaiting,
                                            backordered, internal_transfer)

    @property
    def webhooks(self):
        """{subscription id: {"id", "topics", "url", "description", "created_at"}}."""
        with self._site.cond:
            return copy.deepcopy(self._site.subscriptions)

    @property
    def events(self):
        """Every Event made so far (held ones included), oldest first."""
        with self._site.cond:
            return list(self._site.events)

    @property
    def held_events(self):
        """The Events queued by hold_events() and not sent yet, oldest first."""
        with self._site.cond:
            return list(self._site.held)

    @property
    def webhook_log(self):
        """Every webhook POST so far, in the order the answers came: WebhookCall(url, headers, body bytes,
        status int or "error", error text or None)."""
        with self._site.cond:
            return list(self._site.webhook_log)

    # --- webhooks ------------------------------------------------------------------------------------------
    def subscribe(self, url, topics, description=None):
        """A subscription as POST /webhook makes it (ValueError where that answers 400); returns it."""
        with self._site.cond:
            try:
                return self._site.subscribe(url, list(topics) if isinstance(topics, (list, tuple)) else topics,
                                            description)
            except _Invalid as e:
                raise ValueError(f"invalid subscription: {e.errors}") from None

    def hold_events(self):
        """Queues events from now on instead of sending them (see release_events)."""
        with self._site.cond:
            self._site.holding = True
        return self

    def release_events(self, order="reverse"):
        """Sends the queued events, newest first ("reverse") or oldest first ("as_is"), and stops holding.
        Returns the events in the order they were sent."""
        if order not in ("reverse", "as_is"):
            raise ValueError(f"order is 'reverse' or 'as_is', not {order!r}")
        with self._site.cond:
            queued, self._site.held, self._site.holding = list(self._site.held), [], False
        if order == "reverse":
            queued.reverse()
        for event in queued:
            self._deliver_all(event, event.targets)
        return queued

    def resend(self, event, url=None):
        """Sends the event again (same webhook-id and body, fresh timestamp and signature) to its targets, or to
        url only; returns the WebhookCalls of these POSTs."""
        return self._deliver_all(event, [url] if url is not None else event.targets)

    def sign(self, webhook_id, timestamp, body):
        """The webhook-signature value for these, or None without a secret."""
        if self._key is None:
            return None
        content = f"{webhook_id}.{timestamp}.".encode() + body
        return "v1," + base64.b64encode(hmac.new(self._key, content, hashlib.sha256).digest()).decode()

    def _deliver_all(self, event, urls):
        return [self._deliver(event, url) for url in urls]

    def _deliver(self, event, url):
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "webhook-id": event.webhook_id,
                   "webhook-timestamp": timestamp, "x-webhook-topic": event.topic}
        signature = self.sign(event.webhook_id, timestamp, event.body)
        if signature is not None:
            headers["webhook-signature"] = signature
        try:
            status, _ = post(url, event.body, headers, WEBHOOK_TIMEOUT)
            call = WebhookCall(url, headers, event.body, status, None)
        except (OSError, http.client.HTTPException, ValueError) as e:
            call = WebhookCall(url, headers, event.body, "error", f"{type(e).__name__}: {e}")
        with self._site.cond:
            self._site.webhook_log.append(call)
            self._site.cond.notify_all()
        return call

    # --- the warehouse -------------------------------------------------------------------------------------
    def _event_time(self, event_time):
        if event_time is None:
            return self._site.stamp()
        if isinstance(event_time, datetime.datetime):
            return _stamp(event_time)
        return str(event_time)

    def _change(self, reference_id, allowed, topic, status, change, event_time):
        """Applies change(order, shipment, when) to the order's shipment when its status is in allowed, makes
        the event and sends it (or queues it); returns the Event."""
        site = self._site
        with site.cond:
            order = site.orders.get(reference_id)
            if order is None:
                raise KeyError(f"no order with reference_id {reference_id!r}")
            shipment = order["shipments"][0]
            if shipment["status"] not in allowed:
                raise ValueError(f"{topic}: the shipment of {reference_id!r} is {shipment['status']!r}, not one of "
                                 f"{', '.join(allowed)}")
            when = self._event_time(event_time)
            change(order, shipment, when)
            shipment["last_update_at"] = site.stamp()
            tracking = shipment["tracking"]
            payload = {"event_time": when, "order_id": order["id"], "reference_id": reference_id,
                       "shipment_id": shipment["id"], "status": status,
                       "status_details": copy.deepcopy(shipment["status_details"]),
                       "tracking": None if tracking is None else
                       {"carrier": tracking["carrier"], "carrier_service": tracking["carrier_service"],
                        "tracking_id": tracking["tracking_number"], "tracking_url": tracking["tracking_url"]},
                       "topic": topic}
            targets = [s["url"] for _, s in sorted(site.subscriptions.items()) if topic in s["topics"]]
            event = Event(payload, "msg_" + uuid.uuid4().hex, topic,
                          json.dumps(payload, separators=(",", ":")).encode(), targets)
            site.events.append(event)
            held = site.holding
            if held:
                site.held.append(event)
            site.cond.notify_all()
        if not held:
            self._deliver_all(event, event.targets)
        return event

    def ship(self, reference_id, tracking_id, carrier="USPS", carrier_service="Ground", tracking_url=None,
             event_time=None):
        """The shipment leaves the warehouse: "Completed" with tracking, the order "Fulfilled"; sends
        order.shipped. Returns the Event (KeyError for an unknown reference_id, ValueError unless the shipment
        is Processing, Exception or On Hold)."""
        def change(order, shipment, when):
            shipment.update({"status": "Completed", "status_details": [], "actual_fulfillment_date": when,
                             "tracking": {"carrier": carrier, "carrier_service": carrier_service,
                                          "tracking_number": tracking_id, "tracking_url": tracking_url,
                                          "shipping_date": when}})
            order["status"] = "Fulfilled"
        return self._change(reference_id, OPEN_STATUSES, "order.shipped", "Completed", change, event_time)

    def deliver(self, reference_id, event_time=None):
        """The carrier delivered the shipment (it stays Completed, delivery_date set); sends
        order.shipment.delivered. ValueError unless the shipment is Completed."""
        def change(order, shipment, when):
            shipment["delivery_date"] = when
            shipment["status_details"] = [{"name": "Delivered", "description": "Delivered to the recipient"}]
        return self._change(reference_id, ("Completed",), "order.shipment.delivered", "Delivered", change,
                            event_time)

    def exception(self, reference_id, reason="OutOfStock", description="One or more products are out of stock",
                  event_time=None):
        """The shipment turns "Exception" (the order too); sends order.shipment.exception. ValueError unless the
        shipment is Processing or On Hold."""
        def change(order, shipment, when):
            shipment.update({"status": "Exception", "status_details": [{"name": reason, "description": description}]})
            order["status"] = "Exception"
        return self._change(reference_id, ("Processing", "On Hold"), "order.shipment.exception", "Exception",
                            change, event_time)

    def on_hold(self, reference_id, reason="ManualHold", description="The shipment was put on hold",
                event_time=None):
        """The shipment turns "On Hold" (the order "Exception"); sends order.shipment.on_hold. ValueError unless
        the shipment is Processing or Exception."""
        def change(order, shipment, when):
            shipment.update({"status": "On Hold", "status_details": [{"name": reason, "description": description}]})
            order["status"] = "Exception"
        return self._change(reference_id, ("Processing", "Exception"), "order.shipment.on_hold", "On Hold", change,
                            event_time)

    def cancel_shipment(self, reference_id, event_time=None):
        """ShipBob cancels the shipment (and so the order); sends order.shipment.cancelled. ValueError unless the
        shipment is Processing, Exception or On Hold."""
        def change(order, shipment, when):
            shipment.update({"status": "Cancelled", "status_details": []})
            order["status"] = "Cancelled"
        return self._change(reference_id, OPEN_STATUSES, "order.shipment.cancelled", "Cancelled", change, event_time)


# --- standalone process -------------------------------------------------------------------------------------

def main(argv=None):
    ap = process_parser(__doc__)
    ap.add_argument("--token", default="pat-test")
    ap.add_argument("--channel-id", type=int, default=1234)
    ap.add_argument("--version", default="2025-07")
    ap.add_argument("--webhook-secret", default=None)
    ap.add_argument("--limit-per-minute", type=int, default=150)
    ap.add_argument("--window-seconds", type=float, default=60)
    ap.add_argument("--scopes", default=None, help="comma-separated scopes of the token (default: all)")
    ap.add_argument("--inventory", default=None,
                    help='JSON object {sku: on_hand | [on_hand, committed, exception] | {set_inventory kwargs}}')
    ap.add_argument("--script", help="JSON list of rules to start with (no callables)")
    ap.add_argument("--dump", help="write orders, webhook subscriptions, inventory and requests as JSON to this "
                                   "file at exit")
    args = ap.parse_args(argv)
    rules = json.loads(args.script) if args.script else []
    sim = ShipBobSim(args.token, args.channel_id, args.limit_per_minute, args.window_seconds, args.version,
                     args.webhook_secret, host=args.host, port=args.port, scopes=args.scopes,
                     inventory=json.loads(args.inventory) if args.inventory else None)
    sim.script(*rules)
    serve_until_signalled(sim.port)
    sim.close()
    orders, webhooks, inventory, calls = sim.orders, sim.webhooks, sim.inventory, sim.requests
    return finish_process(sim, args.dump,
                          lambda: {"orders": orders, "webhooks": webhooks, "inventory": inventory,
                                   "requests": [c._asdict() for c in calls]},
                          {"requests": len(calls), "orders": len(orders), "webhooks": len(webhooks)})


if __name__ == "__main__":
    sys.exit(main())
