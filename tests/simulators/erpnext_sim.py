#!/usr/bin/env python3
"""An ERPNext (Frappe v15) REST API simulator standing in for the ERP behind the ERPNext connector
(Python stdlib only).

It follows the ERP/3PL fact sheet (erp_3pl.md), section 1 (ERPNext: auth, the generic REST surface,
Customer, Sales Order, idempotent lookup, Sales Invoice credit notes for refunds, stock levels per Bin,
errors, rate limiting, webhooks back to the middleware) and section 7.4 (the behaviours a simulator must
reproduce), with the awkward parts kept: HTTP 417 for every validation error, a `_server_messages` member
that is a JSON string holding a list of JSON strings, informational `_server_messages` on HTTP 200, a
second customer with an existing name silently created as "Name - 1", a duplicate `po_no` for the same
customer refused on Sales Orders (the server-side dedupe key) but not on Sales Invoices, documents
answered as `{"data": doc}` with HTTP 200 (not 201), docstatus transitions, credit notes as Sales
Invoices with is_return 1 and negative quantities, Delivery Notes mapped from a Sales Order (make_delivery_note)
that move its delivered quantities on submit and back on cancel, lists that return only `name` and 20 rows
unless asked otherwise, a signed webhook per stock level change. Where the
fact sheet is silent, the Frappe/ERPNext v15 sources decided the detail (message texts, exception
classes, where the exception text is omitted).

In a test process:

    with ErpNextSim(items=("SKU-1", "SKU-2"), warehouses=("Stores - ACME",)) as erp:
        erp.script({"status": 429, "retry_after": "2"},
                   {"status": 503, "match": {"method": "POST", "path_prefix": "/api/resource/Sales Order"}})
        erp.ack_then_reset_next_sales_order()     # created, then the connection is reset unanswered
        ... point the connector at erp.url with "token k:s" ...
        erp.wait_until(lambda e: len(e.sales_orders) == 1, timeout=10)
        (so,) = erp.sales_orders.values()
        erp.set_delivered(so["name"])             # a submitted Delivery Note now blocks cancelling it
        erp.configure_stock_webhook(receiver_url, secret="whsec")
        erp.set_stock("SKU-1", "Stores - ACME", 12, reserved_qty=2)   # the Bin changes, its webhook is POSTed

    with ErpNextSim() as erp:                                          # a 3PL's shipment recorded in ERPNext
        erp.ack_then_reset_next_delivery_note()   # inserted and submitted, then the connection is reset
        ... the connector POSTs {"source_name": "SAL-ORD-2025-00001"} to /api/method/erpnext.selling.doctype.
            sales_order.sales_order.make_delivery_note, trims message.items to what was shipped, sets lr_no
            (the tracking number), lr_date, transporter_name, then POSTs it with "docstatus": 1 to
            /api/resource/Delivery Note ...
        erp.wait_until(lambda e: any(dn["lr_no"] == "1Z999" for dn in e.delivery_notes_by_name.values()))
        assert erp.sales_orders["SAL-ORD-2025-00001"]["delivery_status"] == "Partly Delivered"

    with ErpNextSim(non_stock_items=("WOO-REFUND",)) as erp:            # a refund connector's credit notes
        erp.add_customer("Jane Doe")
        erp.script({"reset": True, "commit": True,
                    "match": {"method": "POST", "path_prefix": "/api/resource/Sales Invoice"}})
        ... the connector POSTs {"customer", "is_return": 1, "po_no", "docstatus": 1,
                                 "items": [{"item_code": "WOO-REFUND", "qty": -1, "rate": 12.5}]} ...
        erp.wait_until(lambda e: any(si["status"] == "Return" for si in e.sales_invoices.values()))

Constructor: ErpNextSim(api_key="k", api_secret="s", company="Acme Ltd", items=("SKU-1", "SKU-2", "SKU-3"),
warehouses=("Stores - ACME",), allow_against_multiple_purchase_orders=False, *, non_stock_items=(),
custom_fields=(), currency="EUR", naming_year=2025, rate_limit=None, tracebacks=True, stock_webhook=None,
stock_webhook_secret=None, host="127.0.0.1").
It listens on host, port 0, in a daemon thread (ThreadingHTTPServer, HTTP/1.1 keep-alive, every answer
with Content-Length); a context manager. Attributes `url`, `port`.
    items / non_stock_items  the Item master (item codes); a non-stock item needs no warehouse
    custom_fields            extra field names a Customer, Sales Order, Sales Invoice or Delivery Note keeps
                             (e.g. "woo_order_id"; make_delivery_note copies them from the order); any other
                             unknown field in a body is dropped silently, as Frappe does
    naming_year              the YYYY of "SAL-ORD-YYYY-NNNNN", "ACC-SINV-YYYY-NNNNN" and "MAT-DN-YYYY-NNNNN"
                             (ERPNext uses the current year)
    rate_limit               {"limit": s, "window": s, "cost": s}: Frappe's processing-time budget;
                             each answered request counts `cost` seconds (default 0.1); every answer
                             carries X-RateLimit-Limit/-Remaining (microseconds) and -Reset (seconds);
                             over budget: 429 TooManyRequestsError with Retry-After
    tracebacks               False: error bodies carry only exc_type and _server_messages (a site
                             where tracebacks are not allowed for the API user)
    stock_webhook(_secret)   as configure_stock_webhook(url, secret) (below)

State (snapshots, thread-safe): `customers` {name: doc}, `sales_orders` {name: doc}, `sales_invoices` {name:
doc} (credit notes included), `delivery_notes_by_name` {name: doc} (drafts, submitted and cancelled ones),
`requests` [Call] where Call = (method, path, query, body, status): the URL-decoded path, the query as a dict
of first values, the parsed JSON body or None, and the status answered or "hang" / "reset".
`wait_until(predicate, timeout)` waits until predicate(sim) holds (AssertionError on timeout). Helpers:
`add_customer(name, **fields)` (same naming rules as the API), `set_delivered(so_name)` (delivery_status
"Fully Delivered", status "To Bill", a submitted Delivery Note linked: a real one, made as make_delivery_note
and the POST with docstatus 1 make it, for what is left to deliver; its name is returned, or the last
submitted note's when nothing is left; KeyError for an unknown order, ValueError for one not submitted),
`ack_then_reset_next_sales_order(n=1)` (the next n Sales Orders that pass validation are created, then the
connection is reset without an answer: the ambiguous failure after which a client must look the order up by
po_no before retrying), `ack_then_reset_next_sales_invoice(n=1)` (the same for Sales Invoices),
`ack_then_reset_next_delivery_note(n=1)` (the same for Delivery Notes POSTed: inserted, and submitted with the
Sales Orders updated when the body says docstatus 1, then reset; the client must look its note up, e.g. by
po_no and lr_no, before retrying, since a blind retry is an over-delivery 417), `add_sales_invoice(**fields)`
(a Sales Invoice made as the POST makes it, e.g. a submitted original to return against: docstatus=1; returns
its name; ValueError("<exc_type>: <message>") where the POST would answer 417).

Stock levels (state `bins` {name: Bin doc}, `webhook_log` [WebhookCall]):
    set_stock(item_code, warehouse, actual_qty, reserved_qty=0, *, ordered_qty=0, indented_qty=0,
              planned_qty=0, reserved_qty_for_production=0, reserved_qty_for_sub_contract=0, wait=True)
                 what stock transactions would leave behind: the Bin of (item_code, warehouse) is created
                 (named "MAT-BIN-YYYY-NNNNN", stock_uom the item's "Nos") or updated, every quantity set as
                 given (floats; so a quantity not given is 0), projected_qty = actual + ordered + indented +
                 planned - reserved - reserved_for_production - reserved_for_sub_contract (fact sheet 1.7),
                 modified refreshed ("YYYY-MM-DD HH:MM:SS.ffffff", strictly increasing). Returns the Bin doc
                 (fields name, owner, creation, modified, modified_by, docstatus, idx, item_code, warehouse,
                 actual_qty, reserved_qty, ordered_qty, indented_qty, planned_qty, projected_qty,
                 reserved_qty_for_production, reserved_qty_for_sub_contract, stock_uom, doctype). Item code
                 and warehouse are matched case-insensitively; KeyError for an unknown one, ValueError for a
                 non-stock item, TypeError for a quantity that is not a number.
    configure_stock_webhook(url, secret=None)
                 a Webhook on Bin (url None: none). Every set_stock then POSTs, from a background thread (as
                 Frappe sends webhooks from a background job), the JSON {"doctype": "Bin", "name",
                 "item_code", "warehouse", "actual_qty", "reserved_qty", "ordered_qty", "indented_qty",
                 "planned_qty", "projected_qty", "reserved_qty_for_production",
                 "reserved_qty_for_sub_contract", "stock_uom", "modified", "creation"} serialised as Frappe's
                 json.dumps does (", " and ": " separators), with Content-Type application/json and, when a
                 secret is set, X-Frappe-Webhook-Signature = base64(HMAC-SHA256(secret, the raw body))
                 (fact sheet 1.10; frappe/integrations/doctype/webhook/webhook.py). set_stock returns once
                 the POST has its answer (or failed; 5 s timeout, the Webhook default); with wait=False at
                 once, and `wait_webhooks(timeout=10)` waits for every POST started (False if some still
                 runs). Each POST is recorded in `webhook_log` as WebhookCall(url, headers, body bytes,
                 status: the answer's code or "error", error: why, else None); `wait_until` wakes on it.
                 Several set_stock(wait=False) calls post concurrently, so they may arrive out of order.
                 Assumptions: the Webhook fires on Bin on_update with a JSON template listing those fields
                 (the fact sheet suggests Stock Ledger Entry on_submit or polling Bin; Frappe sends whatever
                 the template renders); the Content-Type header is configured on the Webhook (Frappe adds
                 none itself); one attempt per change, although Frappe's job tries up to 3 times, pausing
                 1 s and 4 s, when the answer is not 2xx or the connection fails; no event id (the fact
                 sheet: dedupe on (doctype, name, modified)); the "MAT-BIN-" naming series is that of older
                 ERPNext trees (newer ones may name Bins by hash), so a client should not rely on the name.

Scripting: `script(*rules)` appends rules consumed in order by the requests they match (an int N is
short for {"status": N}); `clear_script()`, `pending_rules()`. Rule keys:
    status       answer this code with a canned body instead of serving the request: Frappe JSON for
                 401/403/404/409/417/429/500/503 (429 carries no message, 503 is SessionStopped),
                 an nginx HTML page for 502/504, a non-JSON text/html page for 508 (deadlock)
    body         the answer body instead (dict/list sent as JSON, str or bytes)
    headers      extra answer headers; retry_after: a Retry-After header
    delay        seconds before the request is served (or answered)
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    commit       True: serve the request first (its changes are kept), then hang, reset or answer
                 `status` instead (e.g. {"status": 504, "commit": True}: a proxy timeout after commit)
    count        requests the rule answers before it is used up (default 1; None: never)
    match        {"method": "POST", "path_prefix": "/api/resource/Sales Order", "path": exact} or a
                 callable(RequestInfo(method, path, query, body)) -> bool
Order for every request: authentication (401, no rule consumed), the rate limit, the first matching rule,
the endpoint.

Endpoints (paths URL-decoded, so ".../Sales%20Order" is ".../Sales Order"; "/api/v1/..." answers like
"/api/..."):
    any          Authorization "token <key>:<secret>" or "Basic base64(key:secret)", else 401
                 AuthenticationError with a message (a real site treats a request without usable
                 credentials as Guest, which usually ends in a 403 PermissionError instead)
    GET  /api/resource/{Customer|Sales Order|Sales Invoice|Delivery Note|Item|Warehouse|Company|Bin}
                 filters (JSON [[field, op, value], ...] or [[doctype, field, op, value], ...] or a
                 dict of equalities / [op, value]; ops = != < > <= >= in, not in, like, not like, is,
                 between; strings compare case-insensitively and ignore trailing spaces, as MariaDB
                 does; a Sales Order Item / Sales Invoice Item / Delivery Note Item field such as
                 item_code or against_sales_order matches through the child rows),
                 or_filters, fields (JSON list, default ["name"], "*" = every header field),
                 order_by (default "modified desc"), limit_start, limit_page_length (default 20,
                 0 = all) -> {"data": [...]}; an unknown field is a 500 OperationalError (1054). Bin
                 lists the stock levels set_stock made (e.g. filters [["item_code", "=", "SKU-1"]],
                 fields ["warehouse", "actual_qty", "reserved_qty", "projected_qty"])
    GET  /api/resource/{doctype}/{name}       {"data": doc}, or 404 DoesNotExistError
    POST /api/resource/Customer               named by customer_name; an existing name (compared
                 case-insensitively) gives "Name - 1", "Name - 2"... with an informational
                 _server_messages note on the 200 answer; customer_name missing: 417 MandatoryError
    POST /api/resource/Sales Order            "SAL-ORD-YYYY-00001", ...; docstatus 0, status "Draft",
                 delivery_status "Not Delivered" (docstatus 1 in the body submits at once). 417 on:
                 unknown customer / company / item / warehouse (LinkValidationError, one message
                 "Could not find Customer: X, Row #1: Item Code: Y"), zero qty (InvalidQtyError), no
                 delivery date at header or on every item ("Please enter Delivery Date"), a delivery
                 date before transaction_date, a duplicate po_no for the same customer among
                 docstatus < 2 orders ("Sales Order SAL-ORD-... already exists against Customer's
                 Purchase Order ..."; a 200 with a warning when allow_against_multiple_purchase_orders),
                 a stock item without warehouse (exc_type WarehouseRequired, a ValidationError
                 subclass), missing mandatory fields (MandatoryError). Totals: amount = qty * rate;
                 taxes "Actual" (tax_amount), "On Net Total" (rate %, included_in_print_rate honoured),
                 "On Previous Row Amount/Total", "On Item Quantity"; discount_amount or
                 additional_discount_percentage on "Grand Total" (default) or "Net Total"; grand_total,
                 rounded_total (smallest currency fraction, e.g. 0.05 CHF) and rounding_adjustment;
                 amounts rounded to 2 decimals the way Frappe's flt() does
    PUT  /api/resource/Sales Order/{name}     fields merged (items/taxes replaced) and revalidated;
                 {"docstatus": 1} submits (status "To Deliver and Bill"), 2 cancels; allowed moves
                 0->0, 0->1, 1->1 (only po_no, po_date, delivery_date and custom fields may change:
                 UpdateAfterSubmitError otherwise), 1->2; else 417 "Cannot change docstatus from 1
                 (Submitted) to 0 (Draft)", "... from 0 (Draft) to 2 (Cancelled)" or "Cannot edit
                 cancelled document"
    POST /api/resource/Sales Invoice          "ACC-SINV-YYYY-00001", ... (naming_series
                 "ACC-SINV-RET-.YYYY.-", the other option of the doctype, numbers "ACC-SINV-RET-YYYY-NNNNN";
                 any other series: 417); {"data": doc} with HTTP 200; docstatus 0, status "Draft"
                 (docstatus 1 in the body submits at once). Kept: customer, company, posting_date,
                 posting_time, set_posting_time, due_date, currency, conversion_rate, is_return,
                 return_against, update_outstanding_for_self, update_stock, set_warehouse, po_no, po_date,
                 remarks, taxes and discounts as on Sales Order, custom fields; items [{item_code, qty, rate,
                 uom, warehouse, ...}] with amount = qty * rate; total, net_total, grand_total,
                 rounded_total, outstanding_amount (rounded_total, else grand_total; negative on a credit
                 note), computed as on Sales Order (a credit note's amounts come out negative). company
                 and currency default to the site's; posting_date and posting_time are set to now unless
                 set_posting_time is 1 (TransactionBase.validate_posting_time: a posting_date sent
                 without it is overwritten); due_date defaults to posting_date; remarks to "No Remarks".
                 417 on:
                   unknown customer / company / return_against / set_warehouse / item / warehouse:
                     LinkValidationError "Could not find Customer: X, Return Against: Y, Row #1: Item
                     Code: Z" (labels Customer, Company, Return Against, Source Warehouse, Item Code,
                     Warehouse); a cancelled return_against: CancelledLinkError "Cannot link cancelled
                     document: Return Against: Y"
                   a zero qty: InvalidQtyError "Row #1: Item quantity cannot be zero"
                   is_return 1 with a qty > 0: "For an item X, quantity must be negative number"; is_return
                     0 with a qty < 0: "For an item X, quantity must be positive number"; a rate < 0: "For
                     item <strong>X</strong>, rate must be a positive number. To Allow negative rates,
                     enable ... in Selling Settings" (ValidationError; the texts of StatusUpdater.validate_qty)
                   update_stock 1 with a stock item without warehouse: "Warehouse required for stock Item X"
                   is_return 1 with return_against that is not a submitted invoice of the same customer and
                     company: "Invalid Return Against: Y"; an earlier posting timestamp than the original's:
                     "Posting timestamp must be after DD-MM-YYYY HH:MM:SS"; another conversion_rate:
                     "Exchange Rate must be same as Sales Invoice Y (1.0)"; update_stock 1 against an
                     original without it: "'Update Stock' can not be checked because items are not
                     delivered via Y"
                   missing customer / posting_date / currency / items / item_code: MandatoryError
                     ("Error: Value missing for Sales Invoice: Customer", "Error: Data missing in table:
                     Items", "Error: <strong>Sales Invoice Item</strong> Row #1: Value missing for: Item Code")
                 Not checked: a duplicate po_no (Sales Invoices have no such rule: a client must look its
                 invoice up by po_no, or a custom field, before creating). update_stock 1 on a non-stock
                 item, or on a credit note without return_against, is accepted (no Bin changes).
                 status once submitted (SalesInvoice.set_status, one payment term due on due_date, no
                 payments): outstanding > 0 and due_date before today "Overdue", 0 < outstanding <
                 total "Partly Paid", outstanding > 0 "Unpaid", a non-return with a submitted credit note
                 against it "Credit Note Issued", is_return "Return", else "Paid"; "Cancelled" once
                 cancelled. A submitted credit note with return_against and update_outstanding_for_self 0
                 has outstanding 0 and lowers its original's outstanding_amount instead (restored on cancel)
    PUT  /api/resource/Sales Invoice/{name}   draft: fields merged (items/taxes replaced) and revalidated
                 (so an unset set_posting_time moves posting_date to today); {"docstatus": 1} submits, 2
                 cancels; moves and their 417 texts as on Sales Order; 1 -> 1 changes only po_no, po_date
                 and custom fields (UpdateAfterSubmitError otherwise), without revalidating
    PUT  /api/resource/Customer/{name}        fields merged (the name never changes)
    GET|POST /api/method/erpnext.selling.doctype.sales_order.sales_order.make_delivery_note
                 source_name from the JSON body, a form-encoded body or the query string ->
                 {"message": <unsaved Delivery Note>}: doctype "Delivery Note", __islocal 1, __onload
                 {"load_after_mapping": true}, docstatus 0, no name, naming_series "MAT-DN-.YYYY.-", customer,
                 customer_name, company, currency, conversion_rate, selling_price_list, set_warehouse, po_date,
                 discount fields and custom fields copied from the order, po_no the order's (set_po_nos),
                 posting_date/lr_date today, posting_time now, set_posting_time 0, status "Draft", the
                 order's taxes (whole: an "Actual" shipping charge is on every note), totals; items: one per
                 order row with delivered_qty < qty (and not delivered_by_supplier), with item_code,
                 item_name, description, qty = qty - delivered_qty, stock_qty, uom, stock_uom,
                 conversion_factor, rate, amount (and net/base amounts), warehouse, against_sales_order,
                 so_detail (the order row's name), __islocal 1; None fields left out (as_dict(no_nulls)).
                 Nothing left to deliver: 200 with "items": [] (the insert then fails). Unknown order: 404
                 DoesNotExistError "Sales Order X not found"; a draft or cancelled order: 417 ValidationError
                 "Cannot map because following condition fails: docstatus=1"; no source_name: 500 TypeError
    POST /api/resource/Delivery Note          "MAT-DN-YYYY-00001", ... (naming_series "MAT-DN-RET-.YYYY.-"
                 also accepted, any other: 417); {"data": doc}; docstatus 0 status "Draft", or docstatus 1 in
                 the body: submitted at once, status "To Bill". Kept: customer, company, posting_date,
                 posting_time, set_posting_time, currency, conversion_rate, selling_price_list, set_warehouse,
                 po_no, po_date, lr_no (Transport Receipt No), lr_date (default today), transporter_name,
                 vehicle_no, driver_name, instructions, discounts and taxes as on Sales Order, custom fields;
                 items [{item_code, qty, rate, uom, conversion_factor, warehouse, against_sales_order,
                 so_detail, ...}] (rows may be left out and quantities lowered: whatever the client sends);
                 posting date/time now unless set_posting_time 1 (as on Sales Invoice); an empty po_no is
                 filled with the rows' orders' po_no. 417 on insert and save (in this order):
                   unknown customer / company / set_warehouse / transporter (a Supplier link: there are no
                     Suppliers, so any value) / item / warehouse / against_sales_order: LinkValidationError
                     "Could not find Customer: X, Row #1: Against Sales Order: Y"; a cancelled order:
                     CancelledLinkError "Cannot link cancelled document: Row #1: Against Sales Order: Y"
                   qty 0: InvalidQtyError "Row #1: Item quantity cannot be zero"
                   against_sales_order without so_detail or the reverse: "'Sales Order Item' reference
                     (<strong>so_detail</strong>) is missing in row <strong>1</strong><br>" (or "'Sales Order'
                     reference (<strong>against_sales_order</strong>) ..."), title "References to Sales Orders
                     are Incomplete"
                   a stock item without warehouse: "Warehouse required for stock Item X"
                   the header against each order: "Incorrect value: Customer must be = Jane Doe" (also
                     Company, Project, Currency)
                   so_detail not a row of against_sales_order: "Invalid reference Sales Order Item abc123";
                     a row against its order row: "Incorrect value in row 1: Item Code must be = SKU-1" (also
                     UOM, UOM Conversion Factor)
                   no rows / no customer ...: MandatoryError, messages "Error: Data missing in table: Delivery
                     Note Item", "Error: Value missing for Delivery Note: Customer", exception
                     "[Delivery Note, MAT-DN-...]: items"
                 and, when submitting (docstatus 1 in the POST, or the PUT below), before anything changes:
                   a row's order not submitted (a draft): "Sales Order SAL-ORD-... is not submitted"
                   a qty < 0: "For an item SKU-1, quantity must be positive number"
                   over-delivery (the order row's delivered qty, this note included, above its qty):
                     OverAllowanceError (exception "erpnext.controllers.status_updater.OverAllowanceError:
                     ..."), title "Limit Crossed", "This document is over limit by <strong>Qty</strong>
                     <strong>2.0</strong> for item <strong>SKU-1</strong>. Are you making another
                     <strong>Delivery Note</strong> against the same <strong>Sales Order Item</strong>?<br><br>To
                     allow over receipt / delivery, update "Over Receipt/Delivery Allowance" in Stock Settings or
                     the Item." (the amount over, a float; no allowance; a draft may hold too much, its submit
                     is refused)
                 Submitting sets each order row's delivered_qty to what the submitted notes deliver of it, then
                 per the order: per_delivered = sum(min(qty, delivered_qty)) / sum(qty) * 100 (6 decimals),
                 delivery_status "Not Delivered" (0) / "Partly Delivered" / "Fully Delivered" (>= 99.999999),
                 status "To Deliver and Bill" / "To Bill" (nothing is billed here), modified refreshed
    PUT  /api/resource/Delivery Note/{name}   draft: fields merged (items/taxes replaced) and revalidated;
                 {"docstatus": 1} submits (the checks and effects above), 2 cancels; moves and their 417 texts as
                 on Sales Order; 1 -> 1 changes only po_no and custom fields (UpdateAfterSubmitError "Not
                 allowed to change <strong>Transport Receipt No</strong> after submission from ..." for lr_no:
                 set the tracking number before or with the submit)
    POST /api/method/frappe.client.cancel     {"doctype", "name"} -> {"message": doc}; docstatus 1 -> 2,
                 status "Cancelled"; 417 as above when not submitted; 417 LinkExistsError
                 ("Cannot delete or cancel because Sales Order ... is linked with Delivery Note ...")
                 while a submitted Delivery Note has a row against the order (a cancelled or draft one does not
                 block), and ("... because Sales Invoice ... is linked with Sales Invoice ...") for an invoice
                 with a submitted credit note against it. A cancelled Delivery Note gives its quantities back
                 to its orders (delivered_qty, per_delivered, delivery_status, status as on submit)
    else         404 with a Frappe-style JSON body

Sales Invoice assumptions (ERPNext v15 sources decided the rest):
    Assumption: the quantity sign texts are raised on every insert and save; ERPNext raises them from
    StatusUpdater.validate_qty on submit, and for a credit note only when it updates the Sales Order's billed
    amount (otherwise v15 does not check the sign at all), so the simulator is stricter than a real site.
    Assumption: "Invalid Return Against: Y" for a draft, other-customer or other-company original is the
    text older ERPNext (v10 to v13) raised from validate_return_against; v15 checks only that the original
    exists (a link), and skips its further checks (posting timestamp, exchange rate, update stock) when it
    does not match.
    Assumption: "Warehouse required for stock Item X" is the Delivery Note's text.
    Assumption: update_outstanding_for_self defaults to 1 (recent v15 releases); returned quantities are not
    checked against the original (ERPNext does so only with update_stock and for rows linked by
    sales_invoice_item, a field the simulator does not keep); no stock moves with update_stock.
    Assumption: remarks default "No Remarks"; the posting timestamp is formatted with the default System
    Settings (dd-mm-yyyy, HH:mm:ss); CancelledLinkError is raised for every save, not only on submit.
    Assumption: a missing customer is a MandatoryError as on Sales Order (the doctype does not mark it
    reqd; a real site fails later, without a debit_to account); an unknown naming_series is refused with
    the select-field text 'Series cannot be "X". It should be one of ...'.

Delivery Note assumptions (ERPNext v15 sources decided the rest: sales_order.py make_delivery_note,
delivery_note.py, delivery_note.json, status_updater.py, transaction_base.py, frappe/model/mapper.py):
    Assumption: a note without rows fails with the MandatoryError of the items table (reqd, label "Delivery Note
    Item"); nothing in DeliveryNote.validate was found to raise first.
    Assumption: "Sales Order X is not submitted" (Sales Invoice's check_prev_docstatus text) on submitting a note
    against a draft order; v15's Delivery Note has no such check (it would count the delivery on the draft).
    Assumption: "Invalid reference Sales Order Item X" also when so_detail is a row of another order than
    against_sales_order; v15 checks only that the row exists and matches item_code, uom, conversion_factor.
    Assumption: posting_time in the mapped note is now (v15 may leave it out until saved); the mapped note has no
    title, company address or packed items; lr_date gets its default (today) also on insert.
    Assumption: transporter_name is kept as sent (a read-only field fetched from Transporter, a Supplier link,
    which a real site fills from the Supplier); any transporter value is an unknown link.
    Not modelled: stock. Submitting moves no Bin (actual_qty, reserved_qty stay as set_stock left them) and has
    no negative-stock check (a real site with allow_negative_stock off refuses a note the warehouse cannot
    cover, NegativeStockError "N units of Item needed in Warehouse to complete this transaction."); no stock
    reservation entries, serial or batch numbers, credit limit check, over-delivery allowance, billing of
    notes, returns (is_return), Closed / On Hold orders (the "Sales Order X is Y" check is there, but nothing
    sets those statuses).

A Frappe error body is built as in frappe/utils/response.py report_error: {"exception": "<module>.<Class>:
<text>", "exc_type": "<Class>", "exc": "[\"Traceback ...\"]", "_server_messages": "[\"{\\\"message\\\": ...,
\\\"title\\\": ..., \\\"indicator\\\": \\\"red\\\", \\\"raise_exception\\\": 1, ...}\"]"}; exception and exc are
left out for 404 answers and when tracebacks=False, _server_messages when there is no message.

As a process, for end-to-end tests:

    erpnext_sim.py --port 0 [--api-key k --api-secret s --company C --items SKU-1,SKU-2
                   --non-stock-items WOO-REFUND --custom-fields woo_order_id
                   --warehouses "Stores - ACME" --allow-multiple-po --script '[{"status": 503}]'
                   --stock-webhook URL --stock-webhook-secret S
                   --stock '[{"item_code": "SKU-1", "warehouse": "Stores - ACME", "actual_qty": 5}]'
                   --dump state.json]

sets the --stock levels (each as set_stock, so each fires the webhook), then prints {"port": N} once
listening and, on SIGTERM or SIGINT, one summary line {"requests", "customers", "sales_orders",
"sales_invoices", "status_counts"}; --dump writes {"customers", "sales_orders", "sales_invoices",
"delivery_notes", "bins", "webhooks" (the webhook_log, bodies as text), "requests"} there. Exits 0.
"""
import base64
import binascii
import collections
import copy
import datetime
import decimal
import hashlib
import hmac
import http.client
import http.server
import json
import math
import re
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import urllib.parse

from scripting import (Call, Recorded, RequestInfo, Scripted, ThreadedServer, finish_process, parse_request, post,
                       process_parser, record, serve_until_signalled, take_rule)

__all__ = ["ErpNextSim", "Call", "RequestInfo", "WebhookCall", "WEBHOOK_SECRET_HEADER"]

# One webhook POST the simulator sent: status is the answer's code, or "error" (then error says why).
WebhookCall = collections.namedtuple("WebhookCall", "url headers body status error")

RULE_KEYS = {"status", "body", "headers", "retry_after", "delay", "hang", "reset", "commit", "count", "match"}
MAX_BODY = 64 * 1024 * 1024
OWNER = "Administrator"

# Exception class -> (module in the traceback's last line, HTTP status), per frappe/exceptions.py.
EXCEPTIONS = {
    "ValidationError": ("frappe.exceptions", 417),
    "LinkValidationError": ("frappe.exceptions", 417),
    "MandatoryError": ("frappe.exceptions", 417),
    "CancelledLinkError": ("frappe.exceptions", 417),
    "DocstatusTransitionError": ("frappe.exceptions", 417),
    "UpdateAfterSubmitError": ("frappe.exceptions", 417),
    "LinkExistsError": ("frappe.exceptions", 417),
    "WarehouseRequired": ("erpnext.selling.doctype.sales_order.sales_order", 417),
    "InvalidQtyError": ("erpnext.controllers.accounts_controller", 417),
    "OverAllowanceError": ("erpnext.controllers.status_updater", 417),
    "DoesNotExistError": ("frappe.exceptions", 404),
    "AuthenticationError": ("frappe.exceptions", 401),
    "PermissionError": ("frappe.exceptions", 403),
    "DuplicateEntryError": ("frappe.exceptions", 409),
    "TooManyRequestsError": ("frappe.exceptions", 429),
    "SessionStopped": ("frappe.exceptions", 503),
    "OperationalError": ("pymysql.err", 500),
    "JSONDecodeError": ("json.decoder", 500),
    "TypeError": ("builtins", 500),
}

STD_FIELDS = ["name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"]
MASTER_STD = {"owner": OWNER, "creation": "2025-01-01 00:00:00.000000", "modified": "2025-01-01 00:00:00.000000",
              "modified_by": OWNER, "docstatus": 0, "idx": 0}
CHILD_STD_FIELDS = ["name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "parent",
                    "parentfield", "parenttype", "doctype"]

CUSTOMER_INPUT = ["customer_name", "customer_type", "customer_group", "territory", "email_id", "mobile_no",
                  "tax_id", "default_currency", "language", "disabled", "website", "customer_details",
                  "customer_primary_contact", "customer_primary_address"]
CUSTOMER_FIELDS = STD_FIELDS + ["naming_series"] + CUSTOMER_INPUT

SO_INPUT = ["customer", "company", "order_type", "transaction_date", "delivery_date", "po_no", "po_date",
            "currency", "conversion_rate", "selling_price_list", "set_warehouse", "skip_delivery_note",
            "apply_discount_on", "additional_discount_percentage", "discount_amount", "taxes_and_charges",
            "disable_rounded_total", "customer_address", "shipping_address_name", "contact_person",
            "contact_email", "contact_phone", "terms", "project"]
SO_FIELDS = STD_FIELDS + ["naming_series", "title", "customer_name", "price_list_currency", "plc_conversion_rate",
                          "total_qty", "total", "net_total", "base_total", "base_net_total", "base_discount_amount",
                          "total_taxes_and_charges", "base_total_taxes_and_charges", "grand_total",
                          "base_grand_total", "rounding_adjustment", "base_rounding_adjustment", "rounded_total",
                          "base_rounded_total", "advance_paid", "status", "delivery_status", "billing_status",
                          "per_delivered", "per_billed", "amended_from"] + SO_INPUT
SO_ITEM_INPUT = ["item_code", "item_name", "description", "qty", "rate", "uom", "conversion_factor",
                 "delivery_date", "warehouse", "price_list_rate", "delivered_by_supplier", "supplier"]
SO_ITEM_FIELDS = CHILD_STD_FIELDS + SO_ITEM_INPUT + ["stock_uom", "stock_qty", "amount", "net_rate", "net_amount",
                                                     "base_rate", "base_amount", "base_net_amount", "delivered_qty",
                                                     "billed_amt"]
TAX_INPUT = ["charge_type", "account_head", "description", "rate", "tax_amount", "included_in_print_rate",
             "row_id", "cost_center"]
TAX_FIELDS = CHILD_STD_FIELDS + TAX_INPUT + ["total", "tax_amount_after_discount_amount", "base_tax_amount",
                                             "base_total"]
CHARGE_TYPES = ["Actual", "On Net Total", "On Previous Row Amount", "On Previous Row Total", "On Item Quantity"]
# Sales Order fields with allow_on_submit: the only ones a 1 -> 1 update may change (besides custom fields).
SO_ALLOW_ON_SUBMIT = {"po_no", "po_date", "delivery_date", "terms", "contact_email", "contact_phone"}
SO_LABELS = {"customer": "Customer", "company": "Company", "currency": "Currency", "transaction_date": "Date",
             "set_warehouse": "Set Source Warehouse", "selling_price_list": "Price List",
             "conversion_rate": "Exchange Rate", "order_type": "Order Type", "apply_discount_on":
             "Apply Additional Discount On", "discount_amount": "Additional Discount Amount",
             "additional_discount_percentage": "Additional Discount Percentage", "skip_delivery_note":
             "Skip Delivery Note", "disable_rounded_total": "Disable Rounded Total", "taxes_and_charges":
             "Sales Taxes and Charges Template", "customer_address": "Customer Address",
             "shipping_address_name": "Shipping Address Name", "contact_person": "Contact Person",
             "project": "Project", "item_code": "Item Code", "qty": "Quantity", "rate": "Rate",
             "warehouse": "Delivery Warehouse", "uom": "UOM", "charge_type": "Type", "account_head":
             "Account Head", "tax_amount": "Amount", "included_in_print_rate": "Is this Tax included in Basic Rate?"}
SI_INPUT = ["customer", "company", "posting_date", "posting_time", "set_posting_time", "due_date", "currency",
            "conversion_rate", "selling_price_list", "is_return", "return_against", "update_outstanding_for_self",
            "update_stock", "set_warehouse", "po_no", "po_date", "remarks", "apply_discount_on",
            "additional_discount_percentage", "discount_amount", "taxes_and_charges", "disable_rounded_total",
            "customer_address", "shipping_address_name", "contact_person", "project"]
SI_FIELDS = STD_FIELDS + ["naming_series", "title", "customer_name", "price_list_currency", "plc_conversion_rate",
                          "total_qty", "total", "net_total", "base_total", "base_net_total", "base_discount_amount",
                          "total_taxes_and_charges", "base_total_taxes_and_charges", "grand_total",
                          "base_grand_total", "rounding_adjustment", "base_rounding_adjustment", "rounded_total",
                          "base_rounded_total", "outstanding_amount", "status", "amended_from"] + SI_INPUT
SI_ITEM_INPUT = ["item_code", "item_name", "description", "qty", "rate", "uom", "conversion_factor", "warehouse",
                 "price_list_rate"]
SI_ITEM_FIELDS = CHILD_STD_FIELDS + SI_ITEM_INPUT + ["stock_uom", "stock_qty", "amount", "net_rate", "net_amount",
                                                     "base_rate", "base_amount", "base_net_amount"]
# The Sales Invoice naming_series options (sales_invoice.json); the first is the default.
SI_SERIES = ("ACC-SINV-.YYYY.-", "ACC-SINV-RET-.YYYY.-")
SI_ALLOW_ON_SUBMIT = {"po_no", "po_date"}
SI_LABELS = {**SO_LABELS, "posting_date": "Date", "posting_time": "Posting Time", "set_posting_time":
             "Edit Posting Date and Time", "due_date": "Payment Due Date", "is_return": "Is Return (Credit Note)",
             "return_against": "Return Against", "update_outstanding_for_self": "Update Outstanding for Self",
             "update_stock": "Update Stock", "set_warehouse": "Source Warehouse", "remarks": "Remarks",
             "warehouse": "Warehouse"}
# Field kinds compared by value when a submitted document is updated (UpdateAfterSubmitError otherwise).
NUMERIC_INPUT = {"conversion_rate", "discount_amount", "additional_discount_percentage"}
CHECK_INPUT = {"skip_delivery_note", "disable_rounded_total", "is_return", "update_stock", "set_posting_time",
               "update_outstanding_for_self"}
DATE_INPUT = {"transaction_date", "posting_date", "due_date", "po_date", "lr_date"}
DN_INPUT = ["customer", "company", "posting_date", "posting_time", "set_posting_time", "currency", "conversion_rate",
            "selling_price_list", "set_warehouse", "po_no", "po_date", "lr_no", "lr_date", "transporter",
            "transporter_name", "vehicle_no", "driver_name", "instructions", "apply_discount_on",
            "additional_discount_percentage", "discount_amount", "taxes_and_charges", "disable_rounded_total",
            "customer_address", "shipping_address_name", "contact_person", "project"]
DN_FIELDS = STD_FIELDS + ["naming_series", "title", "customer_name", "is_return", "price_list_currency",
                          "plc_conversion_rate", "total_qty", "total", "net_total", "base_total", "base_net_total",
                          "base_discount_amount", "total_taxes_and_charges", "base_total_taxes_and_charges",
                          "grand_total", "base_grand_total", "rounding_adjustment", "base_rounding_adjustment",
                          "rounded_total", "base_rounded_total", "status", "per_billed", "per_installed",
                          "per_returned", "installation_status", "amended_from"] + DN_INPUT
DN_ITEM_INPUT = ["item_code", "item_name", "description", "qty", "rate", "uom", "conversion_factor", "warehouse",
                 "price_list_rate", "against_sales_order", "so_detail"]
DN_ITEM_FIELDS = CHILD_STD_FIELDS + DN_ITEM_INPUT + ["stock_uom", "stock_qty", "amount", "net_rate", "net_amount",
                                                     "base_rate", "base_amount", "base_net_amount", "billed_amt"]
# The Delivery Note naming_series options (delivery_note.json); the first is the default.
DN_SERIES = ("MAT-DN-.YYYY.-", "MAT-DN-RET-.YYYY.-")
# Delivery Note header fields with allow_on_submit (delivery_note.json) among those kept: lr_no is not one of them.
DN_ALLOW_ON_SUBMIT = {"po_no"}
DN_LABELS = {**SO_LABELS, "posting_date": "Date", "posting_time": "Posting Time", "set_posting_time":
             "Edit Posting Date and Time", "set_warehouse": "Set Source Warehouse", "warehouse": "Warehouse",
             "po_no": "Customer's Purchase Order No", "po_date": "Customer's Purchase Order Date",
             "lr_no": "Transport Receipt No", "lr_date": "Transport Receipt Date", "transporter": "Transporter",
             "transporter_name": "Transporter Name", "vehicle_no": "Vehicle No", "driver_name": "Driver Name",
             "instructions": "Instructions"}
MAKE_DELIVERY_NOTE = "/api/method/erpnext.selling.doctype.sales_order.sales_order.make_delivery_note"
# doctype -> (header fields, [(table, child fields, child doctype)]) of the submittable documents kept.
LAYOUT = {
    "Sales Order": (SO_FIELDS, [("items", SO_ITEM_FIELDS, "Sales Order Item"),
                                ("taxes", TAX_FIELDS, "Sales Taxes and Charges")]),
    "Sales Invoice": (SI_FIELDS, [("items", SI_ITEM_FIELDS, "Sales Invoice Item"),
                                  ("taxes", TAX_FIELDS, "Sales Taxes and Charges")]),
    "Delivery Note": (DN_FIELDS, [("items", DN_ITEM_FIELDS, "Delivery Note Item"),
                                  ("taxes", TAX_FIELDS, "Sales Taxes and Charges")]),
}
BIN_QTY_FIELDS = ["actual_qty", "reserved_qty", "ordered_qty", "indented_qty", "planned_qty", "projected_qty",
                  "reserved_qty_for_production", "reserved_qty_for_sub_contract"]
BIN_FIELDS = STD_FIELDS + ["item_code", "warehouse"] + BIN_QTY_FIELDS + ["stock_uom"]
BIN_WEBHOOK_FIELDS = ["doctype", "name", "item_code", "warehouse"] + BIN_QTY_FIELDS + ["stock_uom", "modified",
                                                                                      "creation"]
WEBHOOK_SECRET_HEADER = "X-Frappe-Webhook-Signature"
WEBHOOK_TIMEOUT = 5.0       # the Webhook doctype's default timeout (seconds)
# Currency.smallest_currency_fraction_value for a few currencies; 0.01 otherwise.
SMALLEST_FRACTION = {"CHF": 0.05, "JPY": 1.0, "HUF": 1.0, "KRW": 1.0, "CLP": 1.0, "ISK": 1.0}


# --- Frappe number and message helpers ---------------------------------------------------------------------

def _rounded(num, precision):
    """frappe.utils.rounded with the "Banker's Rounding (legacy)" method: half up at 1+ decimals."""
    multiplier = 10 ** precision
    num = round(num * multiplier if precision else num, 8)
    floor_num = math.floor(num)
    part = num - floor_num
    if not precision and part == 0.5:
        num = floor_num if floor_num % 2 == 0 else floor_num + 1
    elif part == 0.5:
        num = floor_num + 1
    else:
        num = round(num)
    return num / multiplier if precision else float(num)


def _flt(value, precision=None):
    """frappe.utils.flt: a float (0 for None, "" or garbage), optionally rounded."""
    try:
        num = float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        num = 0.0
    if math.isnan(num) or math.isinf(num):
        num = 0.0
    return num if precision is None else _rounded(num, precision)


def _cint(value):
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        return 0


def _round_fraction(value, currency):
    """erpnext round_based_on_smallest_currency_fraction."""
    fraction = SMALLEST_FRACTION.get((currency or "").upper(), 0.01)
    d_value, d_fraction = decimal.Decimal(repr(value)), decimal.Decimal(repr(fraction))
    remainder = float(d_value % d_fraction)
    if remainder > fraction / 2:
        value += fraction - remainder
    else:
        value -= remainder
    return _flt(value, 2)


def _bold(text):
    return f"<strong>{text}</strong>"


def _msg(message, title=None, indicator=None, raise_exception=False, alert=False):
    """One frappe.msgprint entry of the message log (key order as Frappe builds it)."""
    out = {"message": message, "title": title or "Message"}
    if indicator is None and raise_exception:
        indicator = "red"
    if indicator:
        out["indicator"] = indicator
    if alert:
        out["alert"] = 1
    if raise_exception:
        out["raise_exception"] = 1
        out["__frappe_exc_id"] = secrets.token_hex(28)
    return out


class _FrappeError(Exception):
    """An exception as Frappe's handle_exception would report it."""

    def __init__(self, exc_type, text=None, messages=()):
        super().__init__(text)
        module, self.status = EXCEPTIONS[exc_type]
        self.exc_type = exc_type
        self.exception = f"{module}.{exc_type}: {text}" if text else f"{module}.{exc_type}"
        self.messages = list(messages)


    @classmethod
    def unhandled(cls, e, status=500):
        err = cls("ValidationError")
        err.exc_type, err.status = type(e).__name__, status
        err.exception = f"{type(e).__module__}.{type(e).__name__}: {e}"
        return err


def _throw(message, exc="ValidationError", title=None, indicator=None):
    """frappe.throw: the message goes to the message log and the exception carries it."""
    return _FrappeError(exc, message, [_msg(message, title, indicator, raise_exception=True)])


def _strip_name(name):
    return str(name).strip() if name is not None else ""


def _ci(value):
    """A string as a MariaDB *_ci collation compares it: case-insensitive, trailing spaces ignored."""
    return str(value).rstrip(" ").casefold()


def _getdate(value):
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise _throw(f"{_bold(text)} is not a valid date string.", title="Invalid Date")


def _gettime(value):
    """frappe.utils.get_time: a time of day, or None when the text is not one."""
    for fmt in ("%H:%M:%S.%f", "%H:%M:%S", "%H:%M"):
        try:
            return datetime.datetime.strptime(str(value).strip(), fmt).time()
        except ValueError:
            pass
    return None


def _as_datetime(text):
    """"YYYY-MM-DD HH:MM:SS[.ffffff]" as a datetime (frappe.utils.get_datetime)."""
    day, _, clock = text.partition(" ")
    return datetime.datetime.combine(_getdate(day), _gettime(clock) or datetime.time())


def _hash(length=10):
    return secrets.token_hex(length)[:length]


# --- scripted rules -----------------------------------------------------------------------------------------

class _Rule:
    __slots__ = ("status", "body", "headers", "delay", "hang", "reset", "commit", "match", "remaining")

    def __init__(self, spec):
        if isinstance(spec, int):
            spec = {"status": spec}
        if not isinstance(spec, dict):
            raise TypeError(f"a rule is a dict or a status code, not {spec!r}")
        unknown = set(spec) - RULE_KEYS
        if unknown:
            raise ValueError(f"unknown rule keys {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
        self.status = int(spec["status"]) if spec.get("status") is not None else None
        self.body = spec.get("body")
        self.headers = [(str(k), str(v)) for k, v in (spec.get("headers") or {}).items()]
        if spec.get("retry_after") is not None:
            self.headers.append(("Retry-After", str(spec["retry_after"])))
        self.delay = float(spec.get("delay") or 0.0)
        self.hang = float(spec["hang"]) if spec.get("hang") is not None else None
        self.reset = bool(spec.get("reset", False))
        self.commit = bool(spec.get("commit", False))
        match = spec.get("match")
        if isinstance(match, dict):
            unknown = set(match) - {"method", "path_prefix", "path"}
            if unknown:
                raise ValueError(f"unknown match keys {sorted(unknown)}; known: method, path_prefix, path")
        elif match is not None and not callable(match):
            raise TypeError("match is a dict or a callable")
        self.match = match
        count = spec.get("count", 1)
        self.remaining = None if count is None else int(count)
        if self.remaining is not None and self.remaining < 1:
            raise ValueError("count must be at least 1 (None: never used up)")

    def applies(self, info):
        m = self.match
        if m is None:
            return True
        if callable(m):
            return bool(m(info))
        if "method" in m and info.method.upper() != str(m["method"]).upper():
            return False
        if "path_prefix" in m and not info.path.startswith(m["path_prefix"]):
            return False
        if "path" in m and info.path != m["path"]:
            return False
        return True


class _Outcome:
    """What the connection does: answer (status, headers, body), hang, or reset."""
    __slots__ = ("kind", "status", "headers", "body", "content_type", "hang")

    def __init__(self, kind="answer", status=200, headers=(), body=b"", content_type="application/json", hang=0.0):
        self.kind, self.status, self.headers, self.body = kind, status, list(headers), body
        self.content_type, self.hang = content_type, hang


def _ruled_outcome(rule, serve, canned):
    """The outcome of a request a scripted rule (or None) was picked for. serve() runs the endpoint (the site's
    own outcome); it is called unless the rule answers instead (a status, body, hang or reset) without commit.
    Then the rule's hang or reset wins, else its canned(rule) answer, else the served outcome with the rule's
    headers added."""
    answers = rule is not None and (rule.status is not None or rule.body is not None or rule.hang is not None
                                    or rule.reset)
    served = serve() if not answers or rule.commit else None
    if rule is None:
        return served
    if rule.hang is not None:
        return _Outcome("hang", hang=rule.hang)
    if rule.reset:
        return _Outcome("reset")
    if rule.status is not None or rule.body is not None:
        return canned(rule)
    served.headers.extend(rule.headers)
    return served


def _canned(rule, json_answer, status_answer, content_type="application/json"):
    """The answer of a rule with a status or a body (status 200 when it gives none; its headers): the body as
    given (bytes or str as they are, with content_type; anything else as JSON through json_answer(status, body,
    headers)), else status_answer(status, headers), the site's own answer for that status."""
    status = rule.status if rule.status is not None else 200
    headers = list(rule.headers)
    body = rule.body
    if body is None:
        return status_answer(status, headers)
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        return _Outcome(status=status, headers=headers, body=body, content_type=content_type)
    return json_answer(status, body, headers)


def _nginx_page(status, title, headers, signature=True):
    """nginx's own error page (as a proxy in front of the application answers it), with or without its
    "nginx" signature line."""
    sign = "<hr><center>nginx</center>\r\n" if signature else ""
    return _Outcome(status=status, headers=headers, content_type="text/html",
                    body=(f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n<center><h1>"
                          f"{status} {title}</h1></center>\r\n{sign}</body>\r\n</html>\r\n").encode())


def _html_page(status, title, text):
    return (f"<!DOCTYPE html>\n<html>\n<head><title>{status} {title}</title></head>\n<body>\n<h1>{title}</h1>\n"
            f"<p>{text}</p>\n</body>\n</html>\n").encode()


# --- the site: state and endpoints --------------------------------------------------------------------------

class _Ctx:
    """Per-request state: the message log (informational messages end up in _server_messages)."""
    __slots__ = ("messages", "reset_after")

    def __init__(self):
        self.messages = []
        self.reset_after = False


class _Site:
    def __init__(self, api_key, api_secret, company, items, warehouses, allow_multiple_po, non_stock_items,
                 custom_fields, currency, naming_year, rate_limit, tracebacks):
        self.api_key, self.api_secret = str(api_key), str(api_secret)
        self.company = company
        self.items = {str(i): {"is_stock_item": 1} for i in items}
        for i in non_stock_items:
            self.items[str(i)] = {"is_stock_item": 0}
        self.warehouses = [str(w) for w in warehouses]
        self.allow_multiple_po = bool(allow_multiple_po)
        self.custom_fields = [str(f) for f in custom_fields]
        self.currency = currency
        self.naming_year = int(naming_year)
        self.tracebacks = bool(tracebacks)
        self.rate_limit = None
        if rate_limit:
            self.rate_limit = {"limit": int(float(rate_limit["limit"]) * 1_000_000),
                               "window": max(1, int(rate_limit["window"])),
                               "cost": int(float(rate_limit.get("cost", 0.1)) * 1_000_000)}
        self.rate_spent = {}
        self.url = ""
        self.cond = threading.Condition(threading.RLock())
        self.customers = {}
        self.sales_orders = {}
        self.sales_invoices = {}
        self.delivery_notes = {}        # Delivery Note name -> doc
        self.bins = {}                  # Bin name -> doc
        self.bin_names = {}             # (item_code, warehouse) -> Bin name
        self.stock_webhook = None       # (url, secret or None)
        self.webhook_log = []
        self.series = collections.Counter()
        self.rules = []
        self.ack_then_reset = 0
        self.ack_then_reset_si = 0
        self.ack_then_reset_dn = 0
        self.calls = []
        self.last_modified = None

    # --- helpers -------------------------------------------------------------------------------------------
    def _now(self):
        now = datetime.datetime.now()
        if self.last_modified is not None and now <= self.last_modified:
            now = self.last_modified + datetime.timedelta(microseconds=1)
        self.last_modified = now
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _link_url(self, doctype, name):
        slug = doctype.lower().replace(" ", "-")
        return f'<a href="{self.url}/app/{urllib.parse.quote(slug)}/{urllib.parse.quote(name)}">{name}</a>'

    def _collection(self, doctype):
        if doctype == "Customer":
            return self.customers
        if doctype == "Sales Order":
            return self.sales_orders
        if doctype == "Sales Invoice":
            return self.sales_invoices
        if doctype == "Delivery Note":
            return self.delivery_notes
        if doctype == "Item":
            return {code: self._item_doc(code) for code in self.items}
        if doctype == "Warehouse":
            return {w: {"name": w, "warehouse_name": w.rsplit(" - ", 1)[0], "company": self.company, "is_group": 0,
                        "disabled": 0, **MASTER_STD} for w in self.warehouses}
        if doctype == "Company":
            return {self.company: {"name": self.company, "company_name": self.company,
                                   "default_currency": self.currency, **MASTER_STD}}
        if doctype == "Bin":
            return self.bins
        raise _throw(f"DocType {doctype} not found", "DoesNotExistError")

    def _item_doc(self, code):
        return {"name": code, "item_code": code, "item_name": code, "item_group": "Products", "stock_uom": "Nos",
                "is_stock_item": self.items[code]["is_stock_item"], "disabled": 0, **MASTER_STD}

    def _fields_of(self, doctype):
        if doctype == "Customer":
            return CUSTOMER_FIELDS + self.custom_fields
        if doctype in LAYOUT:
            return LAYOUT[doctype][0] + self.custom_fields
        if doctype == "Bin":
            return BIN_FIELDS
        sample = next(iter(self._collection(doctype).values()), {})
        return list(dict.fromkeys(STD_FIELDS + list(sample)))

    def _find(self, coll, name):
        """A document by name, compared as MariaDB does (case-insensitive)."""
        if name in coll:
            return coll[name]
        key = _ci(name)
        for doc_name, doc in coll.items():
            if _ci(doc_name) == key:
                return doc
        return None

    def _get(self, doctype, name):
        doc = self._find(self._collection(doctype), name)
        if doc is None:
            raise _throw(f"{doctype} {name} not found", "DoesNotExistError")
        return doc

    # --- requests ------------------------------------------------------------------------------------------
    def authorized(self, headers):
        auth = (headers.get("Authorization") or "").strip()
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        try:
            if scheme.lower() == "token":
                key, secret = token.split(":")
            elif scheme.lower() == "basic":
                key, secret = base64.b64decode(token, validate=True).decode().split(":")
            else:
                return False
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(key, self.api_key) and secrets.compare_digest(secret, self.api_secret)

    def rate_check(self):
        """Frappe's RateLimiter at the start of a request: (headers, rejected, window number)."""
        rl = self.rate_limit
        window_number, spent = divmod(int(time.time()), rl["window"])
        counter = self.rate_spent.get(window_number, 0)
        reset = rl["window"] - spent
        headers = [("X-RateLimit-Reset", str(reset)), ("X-RateLimit-Limit", str(rl["limit"])),
                   ("X-RateLimit-Remaining", str(max(rl["limit"] - counter, 0)))]
        rejected = counter > rl["limit"]
        if rejected:
            headers.append(("Retry-After", str(reset)))
        return headers, rejected, window_number

    def json_answer(self, status, payload, headers=()):
        return _Outcome(status=status, headers=headers,
                        body=json.dumps(payload, separators=(",", ":"), default=str).encode())

    def error_answer(self, err, ctx=None, headers=()):
        body = {}
        show = self.tracebacks and err.status != 404
        if show:
            body["exception"] = err.exception
        body["exc_type"] = err.exc_type
        if show:
            trace = ("Traceback (most recent call last):\n"
                     '  File "apps/frappe/frappe/app.py", line 114, in application\n'
                     "    response = frappe.api.handle(request)\n"
                     '  File "apps/frappe/frappe/api/__init__.py", line 49, in handle\n'
                     "    data = endpoint(**arguments)\n"
                     f"{err.exception}\n")
            body["exc"] = json.dumps([trace])
        messages = (ctx.messages if ctx else []) + err.messages
        if messages:
            body["_server_messages"] = json.dumps([json.dumps(m) for m in messages])
        return self.json_answer(err.status, body, headers)

    def canned(self, rule):
        """The answer of a rule with a status (or a body)."""
        return _canned(rule, self.json_answer, self._status_answer)

    def _status_answer(self, status, headers):
        if status == 508:
            return _Outcome(status=508, headers=headers, content_type="text/html; charset=utf-8",
                            body=_html_page(508, "Server Error", "Deadlock found when trying to get lock; "
                                                                 "try restarting transaction"))
        if status in (502, 504):
            return _nginx_page(status, "Bad Gateway" if status == 502 else "Gateway Time-out", headers)
        if 200 <= status < 300:
            return self.json_answer(status, {}, headers)
        by_status = {401: ("AuthenticationError", None), 403: ("PermissionError", "Not permitted"),
                     404: ("DoesNotExistError", "Not found"), 409: ("DuplicateEntryError", "Duplicate entry"),
                     417: ("ValidationError", "Simulated validation error"), 429: ("TooManyRequestsError", None),
                     503: ("SessionStopped", None)}
        exc, message = by_status.get(status, (None, None))
        if exc is None:
            err = _FrappeError.unhandled(Exception("Simulated server error"), status)
            err.exception = "Exception: Simulated server error"
        elif exc == "SessionStopped":
            err = _FrappeError(exc, "Session Stopped")
        elif message is None:
            err = _FrappeError(exc)
        else:
            err = _throw(message, exc)
        return self.error_answer(err, None, headers)

    def serve(self, method, path, query, body, raw, content_type):
        """Runs the endpoint; returns an _Outcome (with the lock held by the caller)."""
        ctx = _Ctx()
        try:
            payload = self._route(ctx, method, path, query, body, raw, content_type)
        except _FrappeError as err:
            return self.error_answer(err, ctx), ctx
        except Exception as e:      # a simulator bug: say so loudly, answer like an unhandled server error
            traceback.print_exc()
            return self.error_answer(_FrappeError.unhandled(e), ctx), ctx
        if ctx.messages:
            payload["_server_messages"] = json.dumps([json.dumps(m) for m in ctx.messages])
        return self.json_answer(200, payload), ctx

    def _route(self, ctx, method, path, query, body, raw, content_type):
        if path.startswith("/api/v1/"):
            path = "/api/" + path[len("/api/v1/"):]
        if path.startswith("/api/resource/"):
            rest = path[len("/api/resource/"):]
            doctype, _, name = rest.partition("/")
            if not doctype:
                raise _throw("Not found", "DoesNotExistError")
            if not name:
                if method == "GET":
                    self._collection(doctype)
                    return {"data": self._list(doctype, query)}
                if method == "POST":
                    data = self._body_dict(body, raw, content_type)
                    if doctype == "Customer":
                        return {"data": self._insert_customer(ctx, data)}
                    if doctype == "Sales Order":
                        return {"data": self._insert_sales_order(ctx, data)}
                    if doctype == "Sales Invoice":
                        return {"data": self._insert_sales_invoice(ctx, data)}
                    if doctype == "Delivery Note":
                        return {"data": self._insert_delivery_note(ctx, data)}
                    self._collection(doctype)
                    raise _throw(f"Not permitted to create {doctype} in this simulator", "PermissionError")
            else:
                if method == "GET":
                    return {"data": copy.deepcopy(self._get(doctype, name))}
                if method == "PUT":
                    data = self._body_dict(body, raw, content_type)
                    if doctype == "Sales Order":
                        return {"data": self._update_sales_order(ctx, name, data)}
                    if doctype == "Sales Invoice":
                        return {"data": self._update_sales_invoice(ctx, name, data)}
                    if doctype == "Delivery Note":
                        return {"data": self._update_delivery_note(ctx, name, data)}
                    if doctype == "Customer":
                        return {"data": self._update_customer(name, data)}
                    self._collection(doctype)
                    raise _throw("Not permitted", "PermissionError")
        elif path == "/api/method/frappe.client.cancel":
            if method not in ("POST", "PUT"):
                raise _throw("Not permitted", "PermissionError")
            args = dict(query)
            if raw:
                args.update(self._body_dict(body, raw, content_type))
            missing = [a for a in ("doctype", "name") if not args.get(a)]
            if missing:
                raise _FrappeError("TypeError", f"cancel() missing 1 required positional argument: '{missing[0]}'")
            return {"message": self._cancel(args["doctype"], args["name"])}
        elif path == MAKE_DELIVERY_NOTE:
            if method not in ("GET", "POST", "PUT", "DELETE"):     # a whitelisted method without methods=[...]
                raise _throw("Not permitted", "PermissionError")
            args = dict(query)
            if raw:
                args.update(self._body_dict(body, raw, content_type))
            if not args.get("source_name"):
                raise _FrappeError("TypeError", "make_delivery_note() missing 1 required positional argument: "
                                                "'source_name'")
            return {"message": self._map_delivery_note(args["source_name"])}
        raise _throw(f"{method} {path} not found", "DoesNotExistError")

    def _body_dict(self, body, raw, content_type):
        if isinstance(body, dict):
            return body
        if raw and "application/x-www-form-urlencoded" in (content_type or ""):
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
            if "data" in form:
                body = self._parse_json(form["data"][0])
                if isinstance(body, dict):
                    return body
            return {k: v[0] for k, v in form.items()}
        if raw:
            body = self._parse_json(raw.decode("utf-8", "replace"))
            if isinstance(body, dict):
                return body
        if body is None and not raw:
            return {}
        raise _throw("Invalid request arguments")

    @staticmethod
    def _parse_json(text):
        try:
            return json.loads(text)
        except ValueError as e:
            raise _FrappeError("JSONDecodeError", str(e))

    # --- listing -------------------------------------------------------------------------------------------
    def _list(self, doctype, query):
        docs = list(self._collection(doctype).values())
        header = self._fields_of(doctype)
        child = LAYOUT[doctype][1][0][1] if doctype in LAYOUT else []      # the items table's fields
        fields = self._parse_json(query["fields"]) if query.get("fields") else ["name"]
        if isinstance(fields, str):
            fields = [fields]
        if not isinstance(fields, list):
            raise _throw("Invalid fields")
        out_fields = []
        for f in fields:
            f = self._column(f)
            if f == "*":
                out_fields.extend(header)
            elif f not in header:
                raise _FrappeError("OperationalError", f"(1054, \"Unknown column '{f}' in 'field list'\")")
            else:
                out_fields.append(f)
        filters = self._filters(doctype, query.get("filters"), header, child)
        or_filters = self._filters(doctype, query.get("or_filters"), header, child)
        docs = [d for d in docs if all(self._match(d, f) for f in filters)
                and (not or_filters or any(self._match(d, f) for f in or_filters))]
        order_by = query.get("order_by") or "modified desc"
        for part in reversed([p.strip() for p in order_by.split(",") if p.strip()]):
            words = part.split()
            field = self._column(words[0])
            desc = len(words) > 1 and words[1].lower() == "desc"
            if field not in header:
                raise _FrappeError("OperationalError", f"(1054, \"Unknown column '{field}' in 'order clause'\")")
            docs.sort(key=lambda d, f=field: self._sort_key(d.get(f)), reverse=desc)
        start = _cint(query.get("limit_start"))
        length = query.get("limit_page_length", query.get("limit"))
        length = 20 if length in (None, "") else _cint(length)
        docs = docs[start:start + length] if length else docs[start:]
        return [{f: copy.deepcopy(d.get(f)) for f in out_fields} for d in docs]

    @staticmethod
    def _column(field):
        field = str(field).strip()
        if "." in field:
            field = field.rsplit(".", 1)[1]
        return field.strip("`")

    @staticmethod
    def _sort_key(value):
        if value is None:
            return (0, 0, "")
        if isinstance(value, (int, float)):
            return (1, float(value), "")
        return (2, 0, _ci(value))

    def _filters(self, doctype, raw, header, child):
        if raw in (None, ""):
            return []
        spec = self._parse_json(raw) if isinstance(raw, str) else raw
        if isinstance(spec, dict):
            items = []
            for field, value in spec.items():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    items.append([field, value[0], value[1]])
                else:
                    items.append([field, "=", value])
        elif isinstance(spec, list):
            items = spec
        else:
            raise _throw(f"Invalid filters: {raw}")
        out = []
        for f in items:
            if not isinstance(f, list) or len(f) not in (2, 3, 4):
                raise _throw(f"Invalid filter: {json.dumps(f)}")
            if len(f) == 4:
                f = f[1:]
            if len(f) == 2:
                f = [f[0], "=", f[1]]
            field, op, value = self._column(f[0]), str(f[1]).strip().lower(), f[2]
            if op == "==":
                op = "="
            if op not in ("=", "!=", "<", ">", "<=", ">=", "in", "not in", "like", "not like", "is", "between"):
                raise _throw("Operator must be one of =, !=, >, <, >=, <=, like, not like, in, not in, is, between")
            if field in header:
                out.append((False, field, op, value))
            elif field in child:
                out.append((True, field, op, value))
            else:
                raise _FrappeError("OperationalError", f"(1054, \"Unknown column '{field}' in 'where clause'\")")
        return out

    def _match(self, doc, flt):
        through_child, field, op, value = flt
        if through_child:
            return any(_compare(row.get(field), op, value) for row in doc.get("items") or [])
        return _compare(doc.get(field), op, value)

    # --- Customer ------------------------------------------------------------------------------------------
    def _insert_customer(self, ctx, data):
        customer_name = data.get("customer_name")
        if customer_name in (None, "") or not str(customer_name).strip():
            msg = "Error: Value missing for Customer: Customer Name"
            raise _FrappeError("MandatoryError", "[Customer, None]: customer_name", [_msg(msg)])
        customer_name = str(customer_name)
        customer_type = data.get("customer_type") or "Company"
        if customer_type not in ("Company", "Individual", "Partnership"):
            raise _throw(f'Customer Type cannot be "{customer_type}". It should be one of "Company", "Individual", '
                         f'"Partnership"')
        name = _strip_name(customer_name)
        if self._find(self.customers, name) is not None:
            needle = f"{name} - ".casefold()
            counts = [0]
            for existing in self.customers:
                if needle in existing.casefold():
                    digits = re.match(r"\d*", existing.rsplit(" ", 1)[-1]).group()
                    counts.append(int(digits) if digits else 0)
            new_name = f"{name} - {max(counts) + 1}"
            ctx.messages.append(_msg(f"Changed customer name to '{new_name}' as '{name}' already exists.",
                                     title="Note", indicator="yellow", alert=True))
            name = new_name
        now = self._now()
        doc = {"name": name, "owner": OWNER, "creation": now, "modified": now, "modified_by": OWNER, "docstatus": 0,
               "idx": 0, "naming_series": None, "customer_name": customer_name, "customer_type": customer_type,
               "customer_group": data.get("customer_group") or "All Customer Groups",
               "territory": data.get("territory") or "All Territories", "disabled": _cint(data.get("disabled")),
               "doctype": "Customer"}
        for f in CUSTOMER_INPUT + self.custom_fields:
            if f in data and f not in doc:
                doc[f] = data[f]
        self.customers[name] = doc
        return copy.deepcopy(doc)

    def _update_customer(self, name, data):
        doc = self._get("Customer", name)
        for f in CUSTOMER_INPUT + self.custom_fields:
            if f in data:
                doc[f] = data[f]
        doc["modified"] = self._now()
        return copy.deepcopy(doc)

    def add_customer(self, customer_name, fields):
        return self._insert_customer(_Ctx(), {"customer_name": customer_name, **fields})["name"]

    # --- Sales Order ---------------------------------------------------------------------------------------
    def _next_so_name(self):
        prefix = f"SAL-ORD-{self.naming_year}-"
        return prefix, f"{prefix}{self.series[prefix] + 1:05d}"

    @staticmethod
    def _insert_docstatus(data):
        """The docstatus a new document is inserted with: 0, or 1 (submitted at once)."""
        docstatus = data.get("docstatus", 0)
        if docstatus not in (0, 1, "0", "1"):
            if _cint(docstatus) == 2:
                raise _throw("Cannot change docstatus from 0 (Draft) to 2 (Cancelled)", "DocstatusTransitionError")
            raise _throw("Invalid docstatus")
        return _cint(docstatus)

    @staticmethod
    def _docstatus_move(stored, data):
        """(before, after) of an update; 417 for a move Frappe refuses."""
        before = stored["docstatus"]
        after = data.get("docstatus", before)
        if after not in (0, 1, 2, "0", "1", "2"):
            raise _throw("Invalid docstatus")
        after = _cint(after)
        if before == 2:
            raise _throw("Cannot edit cancelled document")
        if before == 1 and after == 0:
            raise _throw("Cannot change docstatus from 1 (Submitted) to 0 (Draft)", "DocstatusTransitionError")
        if before == 0 and after == 2:
            raise _throw("Cannot change docstatus from 0 (Draft) to 2 (Cancelled)", "DocstatusTransitionError")
        return before, after

    def _insert_sales_order(self, ctx, data):
        docstatus = self._insert_docstatus(data)
        prefix, name = self._next_so_name()
        doc = {"name": name, "doctype": "Sales Order"}
        self._apply_input(doc, data, new=True)
        self._validate_sales_order(ctx, doc, name)
        self.series[prefix] += 1
        now = self._now()
        doc.update({"owner": OWNER, "creation": now, "modified": now, "modified_by": OWNER, "idx": 0,
                    "naming_series": "SAL-ORD-.YYYY.-", "docstatus": docstatus})
        self._finish_rows(doc, now)
        self._set_status(doc)
        doc = self.sales_orders[name] = self._ordered(doc)
        if self.ack_then_reset > 0:
            self.ack_then_reset -= 1
            ctx.reset_after = True
        return copy.deepcopy(doc)

    def _apply_input(self, doc, data, new, inputs=SO_INPUT, item_inputs=SO_ITEM_INPUT):
        for f in inputs + self.custom_fields:
            if f in data:
                doc[f] = data[f]
        if "items" in data:
            rows = data["items"] if isinstance(data["items"], list) else []
            doc["items"] = [{f: row[f] for f in item_inputs if f in row} for row in rows if isinstance(row, dict)]
        if "taxes" in data:
            rows = data["taxes"] if isinstance(data["taxes"], list) else []
            doc["taxes"] = [{f: row[f] for f in TAX_INPUT if f in row} for row in rows if isinstance(row, dict)]
        if new:
            doc.setdefault("items", [])
            doc.setdefault("taxes", [])

    def _ordered(self, doc, doctype="Sales Order"):
        header, tables = LAYOUT[doctype]
        out = {f: doc[f] for f in header + self.custom_fields if f in doc}
        for table, fields, _ in tables:
            out[table] = [{f: row[f] for f in fields if f in row} for row in doc.get(table) or []]
        out.update({k: v for k, v in doc.items() if k not in out and k != "doctype"})
        out["doctype"] = doctype
        return out

    def _finish_rows(self, doc, now, doctype="Sales Order"):
        for table, _, child_doctype in LAYOUT[doctype][1]:
            for idx, row in enumerate(doc.get(table) or [], 1):
                row.setdefault("name", _hash())
                row.update({"owner": OWNER, "creation": row.get("creation") or now, "modified": now,
                            "modified_by": OWNER, "docstatus": doc["docstatus"], "idx": idx, "parent": doc["name"],
                            "parentfield": table, "parenttype": doctype, "doctype": child_doctype})

    def _validate_sales_order(self, ctx, doc, name):
        """SalesOrder.insert/save: links, SellingController.validate, SalesOrder.validate, mandatory fields."""
        doc.setdefault("order_type", "Sales")
        self._selling_defaults(doc)
        doc["skip_delivery_note"] = _cint(doc.get("skip_delivery_note"))
        doc["disable_rounded_total"] = _cint(doc.get("disable_rounded_total"))
        if not doc.get("transaction_date"):
            doc["transaction_date"] = datetime.date.today().isoformat()
        for field in ("transaction_date", "delivery_date", "po_date"):
            if doc.get(field):
                doc[field] = _getdate(doc[field]).isoformat()
        for row in doc["items"]:
            if row.get("delivery_date"):
                row["delivery_date"] = _getdate(row["delivery_date"]).isoformat()

        # Document._validate_links: every broken link in one message.
        invalid = []
        self._link_party(doc, invalid)
        self._link_warehouses_and_items(doc, invalid, "Set Source Warehouse", "Delivery Warehouse")
        if invalid:
            raise _throw("Could not find " + ", ".join(invalid), "LinkValidationError")

        # set_missing_values / get_item_details
        self._set_missing_values(doc)
        for row in doc["items"]:
            row["delivered_by_supplier"] = _cint(row.get("delivered_by_supplier"))
            row.setdefault("delivered_qty", 0.0)
            row.setdefault("billed_amt", 0.0)

        # AccountsController.validate_qty_is_not_zero
        _check_qty_not_zero(doc)
        _calculate_taxes_and_totals(doc)

        if doc["order_type"] == "Sales" and not doc["skip_delivery_note"]:
            dates = [row["delivery_date"] for row in doc["items"] if row.get("delivery_date")]
            if dates and doc.get("delivery_date") != max(dates):
                doc["delivery_date"] = max(dates)
            if doc.get("delivery_date"):
                for row in doc["items"]:
                    row["delivery_date"] = row.get("delivery_date") or doc["delivery_date"]
                    if doc["transaction_date"] > row["delivery_date"]:
                        raise _throw("Expected Delivery Date should be after Sales Order Date",
                                     title="Invalid Delivery Date", indicator="orange")
            else:
                raise _throw("Please enter Delivery Date")

        if doc.get("po_date") and not doc["skip_delivery_note"]:
            for idx, row in enumerate(doc["items"], 1):
                if row.get("delivery_date") and doc["po_date"] > row["delivery_date"]:
                    raise _throw(f"Row #{idx}: Expected Delivery Date cannot be before Purchase Order Date")
        if doc.get("po_no") and doc.get("customer") and not doc["skip_delivery_note"]:
            others = [so for so in self.sales_orders.values()
                      if so["name"] != name and so["docstatus"] < 2 and _ci(so.get("po_no") or "") == _ci(doc["po_no"])
                      and so.get("customer") == doc["customer"]]
            if others:
                existing = others[0]["name"]
                if self.allow_multiple_po:
                    ctx.messages.append(_msg(f"Warning: Sales Order {_bold(existing)} already exists against "
                                             f"Customer's Purchase Order {_bold(doc['po_no'])}", alert=True))
                else:
                    setting = _bold("'Allow Multiple Sales Orders Against a Customer's Purchase Order'")
                    link = f'<a href="{self.url}/app/selling-settings/Selling%20Settings">Selling Settings</a>'
                    raise _throw(f"Sales Order {_bold(existing)} already exists against Customer's Purchase Order "
                                 f"{_bold(doc['po_no'])}. To allow multiple Sales Orders, Enable {setting} in {link}")

        for idx, row in enumerate(doc["items"], 1):
            code = row.get("item_code")
            if (code in self.items and self.items[code]["is_stock_item"] and not row.get("warehouse")
                    and not row["delivered_by_supplier"]):
                raise _throw(f"Delivery warehouse required for stock item {code}", "WarehouseRequired")
            if row["delivered_by_supplier"] and not row.get("supplier"):
                raise _throw(f"Row #{idx}: Set Supplier for item {code}")

        doc.setdefault("billing_status", "Not Billed")
        doc.setdefault("delivery_status", "Not Delivered")
        doc.setdefault("per_delivered", 0.0)
        doc.setdefault("per_billed", 0.0)
        doc.setdefault("advance_paid", 0.0)
        warehouses = {row.get("warehouse") for row in doc["items"]}    # reset_default_field_value
        if len(warehouses) > 1:
            doc["set_warehouse"] = None
        elif len(warehouses) == 1:
            doc["set_warehouse"] = warehouses.pop()

        # Document._validate_mandatory: one message per missing field, then MandatoryError.
        _check_mandatory(doc, name, "Sales Order", "transaction_date", SO_LABELS)

    # --- what Sales Order and Sales Invoice validate alike -------------------------------------------------
    def _selling_defaults(self, doc):
        """The header defaults of a selling document: company, currency, price list, discount basis."""
        doc["company"] = doc.get("company") or self.company
        doc["currency"] = doc.get("currency") or self.currency
        doc["conversion_rate"] = _flt(doc.get("conversion_rate") or 1, 9)
        doc["selling_price_list"] = doc.get("selling_price_list") or "Standard Selling"
        doc["price_list_currency"] = doc["currency"]
        doc["plc_conversion_rate"] = 1.0
        doc["apply_discount_on"] = doc.get("apply_discount_on") or "Grand Total"

    def _link_party(self, doc, invalid):
        """Document._validate_links for customer and company: canonical names (and the customer's name and the
        title), or the broken link appended to invalid."""
        if doc.get("customer"):
            found = self._find(self.customers, doc["customer"])
            if found is None:
                invalid.append(f"Customer: {doc['customer']}")
            else:
                doc["customer"] = found["name"]
                doc["customer_name"] = found.get("customer_name")
                doc["title"] = found.get("customer_name")
        if doc["company"] != self.company:
            if _ci(doc["company"]) == _ci(self.company):
                doc["company"] = self.company
            else:
                invalid.append(f"Company: {doc['company']}")

    def _link_warehouses_and_items(self, doc, invalid, set_warehouse_label, warehouse_label, header_links=None,
                                   row_links=None):
        """Document._validate_links for set_warehouse and the items' item_code and warehouse (labelled as the
        doctype labels them): canonical names, or the broken links appended to invalid. A doctype's further
        links are checked in the same order: header_links() after set_warehouse, row_links(idx, row) after
        each row's own."""
        if doc.get("set_warehouse"):
            wh = self._canonical(self.warehouses, doc["set_warehouse"])
            if wh is None:
                invalid.append(f"{set_warehouse_label}: {doc['set_warehouse']}")
            else:
                doc["set_warehouse"] = wh
        if header_links:
            header_links()
        for idx, row in enumerate(doc["items"], 1):
            if row.get("item_code"):
                code = self._canonical(self.items, row["item_code"])
                if code is None:
                    invalid.append(f"Row #{idx}: Item Code: {row['item_code']}")
                else:
                    row["item_code"] = code
            if row.get("warehouse"):
                wh = self._canonical(self.warehouses, row["warehouse"])
                if wh is None:
                    invalid.append(f"Row #{idx}: {warehouse_label}: {row['warehouse']}")
                else:
                    row["warehouse"] = wh
            if row_links:
                row_links(idx, row)

    @staticmethod
    def _set_missing_values(doc):
        """set_missing_values / get_item_details for what both doctypes fill in: item rows and tax rows."""
        for row in doc["items"]:
            code = row.get("item_code")
            row.setdefault("item_name", code)
            row.setdefault("description", code)
            row["uom"] = row.get("uom") or "Nos"
            row["stock_uom"] = "Nos"
            row["conversion_factor"] = _flt(row.get("conversion_factor") or 1, 9)
            if not row.get("warehouse") and doc.get("set_warehouse"):
                row["warehouse"] = doc["set_warehouse"]
        for tax in doc["taxes"]:
            tax["rate"] = _flt(tax.get("rate"), 9)
            tax["included_in_print_rate"] = _cint(tax.get("included_in_print_rate"))
            if not tax.get("description") and tax.get("account_head"):
                tax["description"] = tax["account_head"]

    @staticmethod
    def _canonical(names, value):
        if value in names:
            return value
        key = _ci(value)
        for n in names:
            if _ci(n) == key:
                return n
        return None

    def _set_status(self, doc):
        if doc["docstatus"] == 0:
            doc["status"] = "Draft"
        elif doc["docstatus"] == 2:
            doc["status"] = "Cancelled"
        elif doc.get("status") in ("On Hold", "Closed"):
            pass
        elif doc.get("skip_delivery_note"):
            doc["status"] = "Completed" if doc["per_billed"] >= 100 else "To Bill"
        elif doc["per_delivered"] >= 100:
            doc["status"] = "Completed" if doc["per_billed"] >= 100 else "To Bill"
        else:
            doc["status"] = "To Deliver" if doc["per_billed"] >= 100 else "To Deliver and Bill"

    def _update_sales_order(self, ctx, name, data):
        stored = self._get("Sales Order", name)
        before, after = self._docstatus_move(stored, data)
        if before == 1 and after == 2:
            return self._cancel("Sales Order", stored["name"])
        doc = copy.deepcopy(stored)
        self._apply_input(doc, data, new=False)
        if before == 1:
            self._check_update_after_submit(stored, doc)
        self._validate_sales_order(ctx, doc, stored["name"])
        now = self._now()
        doc["docstatus"] = after
        doc["modified"] = now
        self._finish_rows(doc, now)
        self._set_status(doc)
        doc = self.sales_orders[stored["name"]] = self._ordered(doc)
        return copy.deepcopy(doc)

    def _check_update_after_submit(self, stored, doc, inputs=SO_INPUT, allowed=SO_ALLOW_ON_SUBMIT, labels=SO_LABELS):
        def fail(prefix, field, old, new):
            label = labels.get(field, field)
            raise _throw(f"{prefix} Not allowed to change {_bold(label)} after submission from {_bold(old)} to "
                         f"{_bold(new)}", "UpdateAfterSubmitError", title="Cannot Update After Submit")

        for field in inputs:
            if field in allowed or field not in doc:
                continue
            old, new = stored.get(field), doc.get(field)
            if field in DATE_INPUT and new:
                new = _getdate(new).isoformat()
            if field in NUMERIC_INPUT:
                same = _flt(old) == _flt(new)
            elif field in CHECK_INPUT:
                same = _cint(old) == _cint(new)
            else:
                same = (old or None) == (new or None) or (field == "customer" and new and old and _ci(old) == _ci(new))
            if not same:
                fail("", field, old, new)
        for table, fields in (("items", ("item_code", "qty", "rate", "warehouse")),
                              ("taxes", ("charge_type", "account_head", "rate", "tax_amount"))):
            old_rows, new_rows = stored.get(table) or [], doc.get(table) or []
            for idx in range(max(len(old_rows), len(new_rows))):
                old_row = old_rows[idx] if idx < len(old_rows) else {}
                new_row = new_rows[idx] if idx < len(new_rows) else {}
                for field in fields:
                    if field not in new_row and new_row:
                        continue
                    old, new = old_row.get(field), new_row.get(field)
                    numeric = field in ("qty", "rate", "tax_amount")
                    if (_flt(old) != _flt(new)) if numeric else ((old or None) != (new or None)):
                        fail(f"Row #{idx + 1}:", field, old, new)

    def _cancel(self, doctype, name):
        coll = self._collection(doctype)
        doc = self._find(coll, name)
        if doc is None:
            raise _throw(f"{doctype} {name} not found", "DoesNotExistError")
        if doc["docstatus"] == 0:
            raise _throw("Cannot change docstatus from 0 (Draft) to 2 (Cancelled)", "DocstatusTransitionError")
        if doc["docstatus"] == 2:
            raise _throw("Cannot edit cancelled document")
        if doctype == "Sales Order" and doc.get("status") == "Closed":
            raise _throw("Closed order cannot be cancelled. Unclose to cancel.")
        if doctype == "Delivery Note":
            self._check_on_hold_or_closed(doc)
        linked = None                   # check_no_back_links_exist: a submitted document linking to this one
        if doctype == "Sales Order":
            delivery_notes = self._submitted_dns_against(doc["name"])
            if delivery_notes:
                linked = ("Delivery Note", delivery_notes[0]["name"])
        elif doctype == "Sales Invoice":
            credit_notes = self._returns_against(doc["name"])
            if credit_notes:
                linked = ("Sales Invoice", credit_notes[0]["name"])
        if linked is not None:
            raise _throw(f"Cannot delete or cancel because {doctype} {self._link_url(doctype, doc['name'])} is linked "
                         f"with {linked[0]} {self._link_url(*linked)} ", "LinkExistsError")
        now = self._now()
        doc["docstatus"] = 2
        doc["modified"] = now
        for table in ("items", "taxes"):
            for row in doc.get(table) or []:
                row["docstatus"], row["modified"] = 2, now
        if doctype == "Sales Invoice":
            self._apply_to_original(doc, cancel=True)
            self._set_invoice_status(doc)
        elif doctype == "Delivery Note":
            self._set_dn_status(doc)
            self._update_deliveries(doc)        # on_cancel: update_prevdoc_status without this note
        else:
            self._set_status(doc)
        return copy.deepcopy(doc)

    def set_delivered(self, so_name):
        """A submitted Delivery Note for everything left to deliver on the order, made as make_delivery_note and
        POST /api/resource/Delivery Note with docstatus 1 make it; its name (the last submitted one linked when
        nothing is left to deliver)."""
        doc = self._find(self.sales_orders, so_name)
        if doc is None:
            raise KeyError(f"no Sales Order {so_name!r}")
        if doc["docstatus"] != 1:
            raise ValueError(f"Sales Order {doc['name']} is not submitted (docstatus {doc['docstatus']}); a Delivery "
                             f"Note can only be made against a submitted order")
        mapped = self._map_delivery_note(doc["name"])
        if not mapped["items"]:
            done = self._submitted_dns_against(doc["name"])
            if done:
                return done[-1]["name"]
            raise ValueError(f"Sales Order {doc['name']} has nothing left to deliver")
        try:
            return self._insert_delivery_note(_Ctx(), {**mapped, "docstatus": 1}, consume_reset=False)["name"]
        except _FrappeError as err:
            raise ValueError(f"{err.exc_type}: {err}") from None

    # --- Delivery Note ---------------------------------------------------------------------------------------
    def _submitted_dns_against(self, so_name):
        """The submitted Delivery Notes with a row against Sales Order `so_name` (the back links that block
        cancelling it), oldest first."""
        return [dn for dn in self.delivery_notes.values()
                if dn["docstatus"] == 1 and any(r.get("against_sales_order") == so_name for r in dn.get("items") or [])]

    def _map_delivery_note(self, source_name):
        """sales_order.make_delivery_note: the unsaved Delivery Note mapped from a submitted Sales Order (one row per
        item not fully delivered, for what is left), as frappe.as_json sends it (BaseDocument.as_dict(no_nulls)):
        fields that are None left out, __islocal 1 on the document and its rows."""
        so = self._find(self.sales_orders, _strip_name(source_name))
        if so is None:
            raise _throw(f"Sales Order {source_name} not found", "DoesNotExistError")
        if so["docstatus"] != 1:        # get_mapped_doc's "validation": {"docstatus": ["=", 1]}
            raise _throw("Cannot map because following condition fails: docstatus=1")
        now = datetime.datetime.now()
        dn = {"owner": OWNER, "docstatus": 0, "idx": 0, "naming_series": DN_SERIES[0], "is_return": 0,
              "posting_date": now.date().isoformat(), "posting_time": now.strftime("%H:%M:%S.%f"),
              "set_posting_time": 0, "lr_date": now.date().isoformat(), "status": "Draft", "per_billed": 0.0,
              "per_installed": 0.0, "per_returned": 0.0}
        for field in ["customer", "customer_name", "company", "currency", "conversion_rate", "selling_price_list",
                      "price_list_currency", "plc_conversion_rate", "set_warehouse", "po_date", "apply_discount_on",
                      "additional_discount_percentage", "discount_amount", "taxes_and_charges",
                      "disable_rounded_total", "customer_address", "shipping_address_name", "contact_person",
                      "project"] + self.custom_fields:
            if so.get(field) is not None:
                dn[field] = copy.deepcopy(so[field])
        if so.get("po_no"):             # po_no is no_copy: set_po_nos fills it from the orders of the rows
            dn["po_no"] = so["po_no"]
        if _flt(dn.get("additional_discount_percentage")):
            dn["discount_amount"] = 0.0     # recomputed from the percentage, as set_discount_amount does
        rows = []
        for so_row in so.get("items") or []:
            qty, delivered = _flt(so_row.get("qty")), _flt(so_row.get("delivered_qty"))
            if not (abs(delivered) < abs(qty)) or _cint(so_row.get("delivered_by_supplier")) == 1:
                continue
            row = {f: copy.deepcopy(so_row[f]) for f in ("item_code", "item_name", "description", "uom", "stock_uom",
                                                        "conversion_factor", "rate", "price_list_rate", "warehouse")
                   if so_row.get(f) is not None}
            row.update({"qty": qty - delivered, "against_sales_order": so["name"], "so_detail": so_row["name"]})
            rows.append(row)
        dn["items"] = rows
        dn["taxes"] = [{f: copy.deepcopy(t[f]) for f in TAX_INPUT if t.get(f) is not None}
                       for t in so.get("taxes") or []]
        _calculate_taxes_and_totals(dn)
        for table, child_doctype in (("items", "Delivery Note Item"), ("taxes", "Sales Taxes and Charges")):
            for idx, row in enumerate(dn[table], 1):
                row.update({"owner": OWNER, "docstatus": 0, "idx": idx, "parentfield": table,
                            "parenttype": "Delivery Note", "doctype": child_doctype})
        out = self._ordered(dn, "Delivery Note")
        out = {k: v for k, v in out.items() if v is not None}
        for table in ("items", "taxes"):
            out[table] = [{**{k: v for k, v in row.items() if v is not None}, "__islocal": 1} for row in out[table]]
        out["__islocal"] = 1
        out["__onload"] = {"load_after_mapping": True}
        return out

    def _new_series_doc(self, data, doctype, series_options, inputs, item_inputs):
        """A new document of a naming series: (the document with its input applied and the name it will get,
        the series). The series counter moves only once the document is stored (_stamp_created)."""
        series = data.get("naming_series") or series_options[0]
        if series not in series_options:
            raise _throw(f"Series cannot be \"{series}\". It should be one of "
                         + ", ".join(f'"{s}"' for s in series_options))
        prefix = series.replace(".YYYY.", str(self.naming_year))
        doc = {"name": f"{prefix}{self.series[prefix] + 1:05d}", "doctype": doctype}
        self._apply_input(doc, data, True, inputs, item_inputs)
        return doc, series

    def _stamp_created(self, doc, series, docstatus):
        """Takes the document's name from its series and stamps what Document.insert sets."""
        self.series[series.replace(".YYYY.", str(self.naming_year))] += 1
        now = self._now()
        doc.update({"owner": OWNER, "creation": now, "modified": now, "modified_by": OWNER, "idx": 0,
                    "naming_series": series, "docstatus": docstatus})
        self._finish_rows(doc, now, doc["doctype"])

    def _insert_delivery_note(self, ctx, data, consume_reset=True):
        docstatus = self._insert_docstatus(data)
        doc, series = self._new_series_doc(data, "Delivery Note", DN_SERIES, DN_INPUT, DN_ITEM_INPUT)
        name = doc["name"]
        if not doc.get("lr_date"):      # Document._set_defaults: the field's default "Today"
            doc["lr_date"] = datetime.date.today().isoformat()
        self._validate_delivery_note(ctx, doc, name)
        if docstatus == 1:
            self._check_delivery_submit(doc)
        self._stamp_created(doc, series, docstatus)
        self._set_dn_status(doc)
        doc = self.delivery_notes[name] = self._ordered(doc, "Delivery Note")
        if docstatus == 1:
            self._update_deliveries(doc)
        if consume_reset and self.ack_then_reset_dn > 0:
            self.ack_then_reset_dn -= 1
            ctx.reset_after = True
        return copy.deepcopy(doc)

    def _update_delivery_note(self, ctx, name, data):
        stored = self._get("Delivery Note", name)
        before, after = self._docstatus_move(stored, data)
        if before == 1 and after == 2:
            return self._cancel("Delivery Note", stored["name"])
        doc = copy.deepcopy(stored)
        self._apply_input(doc, data, False, DN_INPUT, DN_ITEM_INPUT)
        now = self._now()
        if before == 1:                 # update after submit: only allow_on_submit fields may change
            self._check_update_after_submit(stored, doc, DN_INPUT, DN_ALLOW_ON_SUBMIT, DN_LABELS)
            doc = copy.deepcopy(stored)
            for field in sorted(DN_ALLOW_ON_SUBMIT) + self.custom_fields:
                if field in data:
                    doc[field] = data[field]
            doc["modified"] = now
            doc = self.delivery_notes[stored["name"]] = self._ordered(doc, "Delivery Note")
            return copy.deepcopy(doc)
        self._validate_delivery_note(ctx, doc, stored["name"])
        if after == 1:
            self._check_delivery_submit(doc)
        doc["docstatus"] = after
        doc["modified"] = now
        self._finish_rows(doc, now, "Delivery Note")
        self._set_dn_status(doc)
        doc = self.delivery_notes[stored["name"]] = self._ordered(doc, "Delivery Note")
        if after == 1:
            self._update_deliveries(doc)
        return copy.deepcopy(doc)

    def _so_row(self, so_detail):
        """(Sales Order, its item row) of a Sales Order Item name, or (None, None)."""
        for so in self.sales_orders.values():
            for row in so.get("items") or []:
                if row.get("name") == so_detail:
                    return so, row
        return None, None

    def _check_on_hold_or_closed(self, doc):
        """SellingController.check_sales_order_on_hold_or_close("against_sales_order")."""
        for row in doc.get("items") or []:
            so = self.sales_orders.get(row.get("against_sales_order"))
            if so is not None and so.get("status") in ("Closed", "On Hold"):
                raise _throw(f"Sales Order {so['name']} is {so['status']}")

    def _validate_delivery_note(self, ctx, doc, name):
        """DeliveryNote.insert/save: links, the controller's validate (posting date, quantities, the references to
        Sales Orders, warehouses, validate_with_previous_doc, set_po_nos, totals), mandatory fields."""
        self._selling_defaults(doc)
        for field in ("is_return", "set_posting_time", "disable_rounded_total"):
            doc[field] = _cint(doc.get(field))
        for field in ("po_date", "lr_date"):
            if doc.get(field):
                doc[field] = _getdate(doc[field]).isoformat()

        # Document._validate_links: every broken link in one message (header fields, then each row's), then links
        # to cancelled documents.
        invalid, cancelled = [], []
        self._link_party(doc, invalid)
        def transporter():
            if doc.get("transporter"):      # a Supplier link; the simulator has no Suppliers
                invalid.append(f"Transporter: {doc['transporter']}")

        def against_sales_order(idx, row):
            if row.get("against_sales_order"):
                so = self._find(self.sales_orders, row["against_sales_order"])
                if so is None:
                    invalid.append(f"Row #{idx}: Against Sales Order: {row['against_sales_order']}")
                else:
                    row["against_sales_order"] = so["name"]
                    if so["docstatus"] == 2:
                        cancelled.append(f"Row #{idx}: Against Sales Order: {so['name']}")

        self._link_warehouses_and_items(doc, invalid, "Set Source Warehouse", "Warehouse", transporter,
                                        against_sales_order)
        if invalid:
            raise _throw("Could not find " + ", ".join(invalid), "LinkValidationError")
        if cancelled:
            raise _throw("Cannot link cancelled document: " + ", ".join(cancelled), "CancelledLinkError")

        _validate_posting_time(doc)
        self._set_missing_values(doc)
        _check_qty_not_zero(doc)

        # DeliveryNote.validate_sales_order_references
        err = ""
        for idx, row in enumerate(doc["items"], 1):
            against, detail = row.get("against_sales_order"), row.get("so_detail")
            if against and not detail:
                err += f"'Sales Order Item' reference ({_bold('so_detail')}) is missing in row {_bold(idx)}<br>"
            elif detail and not against:
                err += f"'Sales Order' reference ({_bold('against_sales_order')}) is missing in row {_bold(idx)}<br>"
        if err:
            raise _throw(err, title="References to Sales Orders are Incomplete")
        self._check_on_hold_or_closed(doc)

        # DeliveryNote.validate_warehouse
        for row in doc["items"]:
            code = row.get("item_code")
            if code in self.items and self.items[code]["is_stock_item"] and not row.get("warehouse"):
                raise _throw(f"Warehouse required for stock Item {code}")

        # TransactionBase.validate_with_previous_doc: the orders' header, then each row against its order row.
        orders = list(dict.fromkeys(r["against_sales_order"] for r in doc["items"] if r.get("against_sales_order")))
        for so_name in orders:
            so = self.sales_orders[so_name]
            for field in ("customer", "company", "project", "currency"):
                if so.get(field) not in (None, "") and str(doc.get(field) or "") != str(so[field]):
                    raise _throw(f"Incorrect value: {DN_LABELS.get(field, field.title())} must be = {so[field]}")
        for idx, row in enumerate(doc["items"], 1):
            if not row.get("so_detail"):
                continue
            so, so_row = self._so_row(row["so_detail"])
            if so_row is None or so["name"] != row["against_sales_order"]:     # the latter: stricter than v15
                raise _throw(f"Invalid reference Sales Order Item {row['so_detail']}")
            for field, label in (("item_code", "Item Code"), ("uom", "UOM"),
                                 ("conversion_factor", "UOM Conversion Factor")):
                prev = so_row.get(field)
                if prev in (None, ""):
                    continue
                if field == "conversion_factor":
                    same = _flt(row.get(field), 9) == _flt(prev, 9)
                else:
                    same = str(row.get(field) or "") == str(prev)
                if not same:
                    raise _throw(f"Incorrect value in row {idx}: {label} must be = {prev}")

        # SellingController.set_po_nos(for_validate=True): an empty po_no is filled from the rows' orders.
        if not doc.get("po_no"):
            po_nos = [self.sales_orders[o]["po_no"] for o in orders if self.sales_orders[o].get("po_no")]
            parts = [p.strip() for p in ",".join(po_nos).split(",")] if po_nos else []
            doc["po_no"] = ", ".join(dict.fromkeys(parts)) or None
        _calculate_taxes_and_totals(doc)
        doc["installation_status"] = doc.get("installation_status") or "Not Installed"
        for field in ("per_billed", "per_installed", "per_returned"):
            doc[field] = _flt(doc.get(field))
        warehouses = {row.get("warehouse") for row in doc["items"]}    # reset_default_field_value
        if len(warehouses) > 1:
            doc["set_warehouse"] = None
        elif len(warehouses) == 1:
            doc["set_warehouse"] = warehouses.pop()

        _check_mandatory(doc, name, "Delivery Note", "posting_date", DN_LABELS, items_label="Delivery Note Item")

    def _check_delivery_submit(self, doc):
        """What submitting a Delivery Note checks before anything changes: every order of its rows submitted, then
        StatusUpdater.validate_qty per row (the quantity sign, then the order row's delivered quantity, this note
        included, against its ordered quantity; no over-delivery allowance)."""
        for row in doc["items"]:
            so = self.sales_orders.get(row.get("against_sales_order"))
            if so is not None and so["docstatus"] != 1:
                raise _throw(f"Sales Order {so['name']} is not submitted")
        this_note = collections.Counter()
        for row in doc["items"]:
            if row.get("so_detail"):
                this_note[row["so_detail"]] += _flt(row.get("qty"))
        for row in doc["items"]:
            code = row.get("item_code")
            if _flt(row.get("qty")) < 0:
                raise _throw(f"For an item {code}, quantity must be positive number")
            if not row.get("so_detail"):
                continue
            so, so_row = self._so_row(row["so_detail"])
            ordered = _flt(so_row.get("qty"))
            delivered = self._delivered_qty(row["so_detail"], doc["name"]) + this_note[row["so_detail"]]
            if so["docstatus"] != 1 or not ordered or not ordered < delivered:
                continue
            if (delivered - ordered) / ordered * 100 > 0.01:       # check_overflow_with_allowance, allowance 0
                reduce_by = delivered - _flt(ordered * 100 / 100)
                raise _throw(f"This document is over limit by {_bold('Qty')} {_bold(reduce_by)} for item "
                             f"{_bold(so_row.get('item_code'))}. Are you making another {_bold('Delivery Note')} "
                             f"against the same {_bold('Sales Order Item')}?<br><br>To allow over receipt / "
                             f"delivery, update \"Over Receipt/Delivery Allowance\" in Stock Settings or the Item.",
                             "OverAllowanceError", title="Limit Crossed")

    def _delivered_qty(self, so_detail, exclude=None):
        """What the submitted Delivery Notes (but `exclude`) deliver of Sales Order Item `so_detail`."""
        return sum(_flt(row.get("qty")) for dn in self.delivery_notes.values()
                   if dn["docstatus"] == 1 and dn["name"] != exclude
                   for row in dn.get("items") or [] if row.get("so_detail") == so_detail)

    def _update_deliveries(self, dn):
        """StatusUpdater.update_prevdoc_status for the orders of a Delivery Note just submitted or cancelled: each
        order row's delivered_qty (the submitted notes' quantities), per_delivered, delivery_status, status."""
        orders = dict.fromkeys(r["against_sales_order"] for r in dn.get("items") or [] if r.get("against_sales_order"))
        now = self._now()
        for so_name in orders:
            so = self.sales_orders.get(so_name)
            if so is None:
                continue
            for row in so.get("items") or []:
                row["delivered_qty"] = _flt(self._delivered_qty(row.get("name")), 9)
            ordered = sum(abs(_flt(r.get("qty"))) for r in so.get("items") or [])
            done = sum(min(abs(_flt(r.get("qty"))), abs(_flt(r.get("delivered_qty")))) for r in so.get("items") or [])
            so["per_delivered"] = _flt(done / ordered * 100, 6) if ordered else 0.0
            if so["per_delivered"] == 0:
                so["delivery_status"] = "Not Delivered"
            elif so["per_delivered"] >= 99.999999:
                so["delivery_status"] = "Fully Delivered"
            else:
                so["delivery_status"] = "Partly Delivered"
            so["modified"] = now
            self._set_status(so)
        self.cond.notify_all()

    @staticmethod
    def _set_dn_status(doc):
        """DeliveryNote status (status_map): Draft, To Bill (nothing is billed here), Cancelled."""
        doc["status"] = {0: "Draft", 1: "To Bill", 2: "Cancelled"}[doc["docstatus"]]

    # --- Sales Invoice (credit notes) -----------------------------------------------------------------------
    def _returns_against(self, name):
        """The submitted credit notes (is_return 1) made against Sales Invoice `name`."""
        return [si for si in self.sales_invoices.values()
                if si["docstatus"] == 1 and si.get("is_return") and si.get("return_against") == name]

    def _insert_sales_invoice(self, ctx, data, consume_reset=True):
        docstatus = self._insert_docstatus(data)
        doc, series = self._new_series_doc(data, "Sales Invoice", SI_SERIES, SI_INPUT, SI_ITEM_INPUT)
        name = doc["name"]
        self._validate_sales_invoice(ctx, doc, name)
        self._stamp_created(doc, series, docstatus)
        doc = self.sales_invoices[name] = self._ordered(doc, "Sales Invoice")
        if docstatus == 1:
            self._apply_to_original(doc)
        self._set_invoice_status(doc)
        if consume_reset and self.ack_then_reset_si > 0:
            self.ack_then_reset_si -= 1
            ctx.reset_after = True
        return copy.deepcopy(doc)

    def _update_sales_invoice(self, ctx, name, data):
        stored = self._get("Sales Invoice", name)
        before, after = self._docstatus_move(stored, data)
        if before == 1 and after == 2:
            return self._cancel("Sales Invoice", stored["name"])
        doc = copy.deepcopy(stored)
        self._apply_input(doc, data, False, SI_INPUT, SI_ITEM_INPUT)
        now = self._now()
        if before == 1:                 # update after submit: no validate, only allow_on_submit fields may change
            self._check_update_after_submit(stored, doc, SI_INPUT, SI_ALLOW_ON_SUBMIT, SI_LABELS)
            doc = copy.deepcopy(stored)     # what the check let through: the allowed fields, as sent
            for field in sorted(SI_ALLOW_ON_SUBMIT) + self.custom_fields:
                if field in data:
                    doc[field] = data[field]
            if doc.get("po_date"):
                doc["po_date"] = _getdate(doc["po_date"]).isoformat()
            doc["modified"] = now
            doc = self.sales_invoices[stored["name"]] = self._ordered(doc, "Sales Invoice")
            return copy.deepcopy(doc)
        self._validate_sales_invoice(ctx, doc, stored["name"])
        doc["docstatus"] = after
        doc["modified"] = now
        self._finish_rows(doc, now, "Sales Invoice")
        doc = self.sales_invoices[stored["name"]] = self._ordered(doc, "Sales Invoice")
        if after == 1:
            self._apply_to_original(doc)
        self._set_invoice_status(doc)
        return copy.deepcopy(doc)

    def _validate_sales_invoice(self, ctx, doc, name):
        """SalesInvoice.insert/save: links, the controller's validate (posting date, quantities, return rules,
        totals, outstanding amount), mandatory fields."""
        self._selling_defaults(doc)
        doc["update_outstanding_for_self"] = _cint(doc.get("update_outstanding_for_self", 1))
        for field in ("is_return", "update_stock", "set_posting_time", "disable_rounded_total"):
            doc[field] = _cint(doc.get(field))
        _validate_posting_time(doc)
        doc["due_date"] = _getdate(doc["due_date"]).isoformat() if doc.get("due_date") else doc["posting_date"]
        if doc.get("po_date"):
            doc["po_date"] = _getdate(doc["po_date"]).isoformat()

        # Document._validate_links: every broken link in one message, then links to cancelled documents.
        invalid, cancelled = [], []
        self._link_party(doc, invalid)
        original = None
        if doc.get("return_against"):
            original = self._find(self.sales_invoices, doc["return_against"])
            if original is None:
                invalid.append(f"Return Against: {doc['return_against']}")
            else:
                doc["return_against"] = original["name"]
                if original["docstatus"] == 2:
                    cancelled.append(f"Return Against: {original['name']}")
        self._link_warehouses_and_items(doc, invalid, "Source Warehouse", "Warehouse")
        if invalid:
            raise _throw("Could not find " + ", ".join(invalid), "LinkValidationError")
        if cancelled:
            raise _throw("Cannot link cancelled document: " + ", ".join(cancelled), "CancelledLinkError")

        # set_missing_values / get_item_details
        self._set_missing_values(doc)
        if not doc.get("remarks"):
            doc["remarks"] = "No Remarks"

        # AccountsController.validate_qty_is_not_zero, then the signs StatusUpdater.validate_qty checks.
        _check_qty_not_zero(doc)
        for row in doc["items"]:
            qty, code = _flt(row.get("qty")), row.get("item_code")
            if qty < 0 and not doc["is_return"]:
                raise _throw(f"For an item {code}, quantity must be positive number")
            if qty > 0 and doc["is_return"]:
                raise _throw(f"For an item {code}, quantity must be negative number")
            if _flt(row.get("rate")) < 0:
                link = f'<a href="{self.url}/app/selling-settings/Selling%20Settings">Selling Settings</a>'
                raise _throw(f"For item {_bold(code)}, rate must be a positive number. To Allow negative rates, "
                             f"enable {_bold('`Allow Negative rates for Items`')} in {link}")
        if doc["update_stock"]:
            for row in doc["items"]:
                code = row.get("item_code")
                if code in self.items and self.items[code]["is_stock_item"] and not row.get("warehouse"):
                    raise _throw(f"Warehouse required for stock Item {code}")

        # sales_and_purchase_return.validate_return_against (stricter than v15: see the module docstring)
        if doc["is_return"] and original is not None and doc.get("customer"):
            if (original["docstatus"] != 1 or original.get("customer") != doc["customer"]
                    or original.get("company") != doc["company"]):
                raise _throw(f"Invalid Return Against: {original['name']}")
            ours = f"{doc['posting_date']} {doc['posting_time']}"
            theirs = f"{original['posting_date']} {original.get('posting_time') or '00:00:00'}"
            if _as_datetime(ours) < _as_datetime(theirs):
                stamp = _as_datetime(theirs).strftime("%d-%m-%Y %H:%M:%S")
                raise _throw(f"Posting timestamp must be after {stamp}")
            if doc["conversion_rate"] != original["conversion_rate"]:
                raise _throw(f"Exchange Rate must be same as Sales Invoice {original['name']} "
                             f"({original['conversion_rate']})")
            if doc["update_stock"] and not original.get("update_stock"):
                raise _throw(f"'Update Stock' can not be checked because items are not delivered via "
                             f"{original['name']}")

        _calculate_taxes_and_totals(doc)
        # taxes_and_totals.calculate_outstanding_amount
        if doc["is_return"] and original is not None and not doc["update_outstanding_for_self"]:
            doc["outstanding_amount"] = 0.0
        else:
            doc["outstanding_amount"] = doc["rounded_total"] or doc["grand_total"]

        # Document._validate_mandatory
        _check_mandatory(doc, name, "Sales Invoice", "posting_date", SI_LABELS)

    def _apply_to_original(self, doc, cancel=False):
        """A credit note with update_outstanding_for_self 0 books against its original's outstanding amount (the
        payment ledger does it on submit, and undoes it on cancel)."""
        if not (doc.get("is_return") and doc.get("return_against")) or doc.get("update_outstanding_for_self"):
            return
        original = self.sales_invoices.get(doc["return_against"])
        if original is None:
            return
        amount = doc["rounded_total"] or doc["grand_total"]
        original["outstanding_amount"] = _flt(original["outstanding_amount"] + (-amount if cancel else amount), 2)
        original["modified"] = self._now()
        self._set_invoice_status(original)

    def _set_invoice_status(self, doc):
        """SalesInvoice.set_status (no payments, a single payment term due on due_date)."""
        if doc["docstatus"] == 0:
            doc["status"] = "Draft"
            return
        if doc["docstatus"] == 2:
            doc["status"] = "Cancelled"
            return
        outstanding = _flt(doc.get("outstanding_amount"), 2)
        total = doc.get("rounded_total") or doc.get("grand_total") or 0.0
        if outstanding > 0 and doc.get("due_date") and doc["due_date"] < datetime.date.today().isoformat():
            doc["status"] = "Overdue"
        elif 0 < outstanding < total:
            doc["status"] = "Partly Paid"
        elif outstanding > 0:
            doc["status"] = "Unpaid"
        elif not doc.get("is_return") and self._returns_against(doc["name"]):
            doc["status"] = "Credit Note Issued"
        elif doc.get("is_return"):
            doc["status"] = "Return"
        else:
            doc["status"] = "Paid"

    def add_sales_invoice(self, fields):
        """A Sales Invoice as POST /api/resource/Sales Invoice would make it; ValueError when ERPNext would refuse
        it."""
        try:
            return self._insert_sales_invoice(_Ctx(), dict(fields), consume_reset=False)["name"]
        except _FrappeError as err:
            raise ValueError(f"{err.exc_type}: {err}") from None

    # --- Bin (stock levels) ---------------------------------------------------------------------------------
    def set_stock(self, item_code, warehouse, quantities):
        """Creates or updates the Bin of (item, warehouse); returns (stored doc, webhook to send or None) where
        the webhook is (url, headers, body)."""
        code = self._canonical(list(self.items), item_code)
        if code is None:
            raise KeyError(f"no Item {item_code!r}")
        if not self.items[code]["is_stock_item"]:
            raise ValueError(f"Item {code} is not a stock item: it has no Bin")
        wh = self._canonical(self.warehouses, warehouse)
        if wh is None:
            raise KeyError(f"no Warehouse {warehouse!r}")
        for field, value in quantities.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"{field} must be a number, not {value!r}")
        now = self._now()
        name = self.bin_names.get((code, wh))
        if name is None:
            prefix = f"MAT-BIN-{self.naming_year}-"
            self.series[prefix] += 1
            name = self.bin_names[(code, wh)] = f"{prefix}{self.series[prefix]:05d}"
            self.bins[name] = {"name": name, "owner": OWNER, "creation": now, "modified": now, "modified_by": OWNER,
                               "docstatus": 0, "idx": 0, "item_code": code, "warehouse": wh,
                               **{f: 0.0 for f in BIN_QTY_FIELDS}, "stock_uom": self._item_doc(code)["stock_uom"]}
        doc = self.bins[name]
        doc.update({f: float(v) for f, v in quantities.items()})
        doc["projected_qty"] = _flt(doc["actual_qty"] + doc["ordered_qty"] + doc["indented_qty"] + doc["planned_qty"]
                                    - doc["reserved_qty"] - doc["reserved_qty_for_production"]
                                    - doc["reserved_qty_for_sub_contract"], 9)
        doc["modified"] = now
        doc = self.bins[name] = {**{f: doc[f] for f in BIN_FIELDS}, "doctype": "Bin"}
        self.cond.notify_all()
        hook = None
        if self.stock_webhook is not None:
            url, secret = self.stock_webhook
            data = {f: doc[f] for f in BIN_WEBHOOK_FIELDS}
            # Frappe sends json.dumps(data, default=str) and signs json.dumps(data): the same bytes here.
            body = json.dumps(data, default=str).encode("utf8")
            headers = {"Content-Type": "application/json"}
            if secret:
                digest = hmac.new(secret.encode("utf8"), body, hashlib.sha256).digest()
                headers[WEBHOOK_SECRET_HEADER] = base64.b64encode(digest).decode()
            hook = (url, headers, body)
        return copy.deepcopy(doc), hook


def _compare(actual, op, value):
    """One filter condition as MariaDB evaluates it (ifnull(field, '') / ifnull(field, 0) for NULLs)."""
    if op == "is":
        is_set = actual not in (None, "")
        return is_set if str(value).lower() == "set" else not is_set
    if op in ("in", "not in"):
        values = value if isinstance(value, (list, tuple)) else [v.strip() for v in str(value).split(",")]
        hit = any(_equal(actual, v) for v in values)
        return hit if op == "in" else not hit
    if op in ("like", "not like"):
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(value))
        hit = re.fullmatch(pattern, str(actual if actual is not None else ""), re.IGNORECASE | re.DOTALL) is not None
        return hit if op == "like" else not hit
    if op == "between":
        low, high = (value + [None, None])[:2] if isinstance(value, list) else (None, None)
        return _order(actual, low) >= 0 and _order(actual, high) <= 0
    if op == "=":
        return _equal(actual, value)
    if op == "!=":
        return not _equal(actual, value)
    c = _order(actual, value)
    return {"<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]


def _as_numbers(actual, value):
    if isinstance(actual, bool):
        actual = int(actual)
    if isinstance(actual, (int, float)) or (actual is None and isinstance(value, (int, float))):
        try:
            return _flt(actual), float(value if value not in (None, "") else 0)
        except (TypeError, ValueError):
            return None
    return None


def _equal(actual, value):
    nums = _as_numbers(actual, value)
    if nums is not None:
        return nums[0] == nums[1]
    return _ci(actual if actual is not None else "") == _ci(value if value is not None else "")


def _order(actual, value):
    nums = _as_numbers(actual, value)
    if nums is not None:
        a, b = nums
    else:
        a, b = _ci(actual if actual is not None else ""), _ci(value if value is not None else "")
    return (a > b) - (a < b)


def _validate_posting_time(doc):
    """TransactionBase.validate_posting_time: without set_posting_time the posting date and time are now."""
    now = datetime.datetime.now()
    if not doc["set_posting_time"] or not doc.get("posting_date"):
        doc["posting_date"] = now.date().isoformat()
    else:
        doc["posting_date"] = _getdate(doc["posting_date"]).isoformat()
    if not doc["set_posting_time"] or not doc.get("posting_time"):
        doc["posting_time"] = now.strftime("%H:%M:%S.%f")
    elif _gettime(doc["posting_time"]) is None:
        raise _throw("Invalid Posting Time")


def _check_qty_not_zero(doc):
    """AccountsController.validate_qty_is_not_zero."""
    for idx, row in enumerate(doc["items"], 1):
        if not _flt(row.get("qty")):
            raise _throw(f"Row #{idx}: Item quantity cannot be zero", "InvalidQtyError",
                         title="Invalid Quantity")


def _check_mandatory(doc, name, doctype, date_field, labels, items_label="Items"):
    """Document._validate_mandatory of a selling document: one message per missing field, then MandatoryError."""
    missing = []
    for field in ("customer", "company", date_field, "currency"):
        if not doc.get(field):
            missing.append((field, f"Error: Value missing for {doctype}: {labels[field]}"))
    if not doc["items"]:
        missing.append(("items", f"Error: Data missing in table: {items_label}"))
    for idx, row in enumerate(doc["items"], 1):
        if not row.get("item_code"):
            missing.append(("item_code", f"Error: {_bold(doctype + ' Item')} Row #{idx}: Value missing for: "
                                         f"Item Code"))
    for idx, tax in enumerate(doc["taxes"], 1):
        for field in ("charge_type", "account_head"):
            if not tax.get(field):
                missing.append((field, f"Error: {_bold('Sales Taxes and Charges')} Row #{idx}: Value missing "
                                       f"for: {labels[field]}"))
    if missing:
        raise _FrappeError("MandatoryError", f"[{doctype}, {name}]: " + ", ".join(f for f, _ in missing),
                           [_msg(m) for _, m in missing])


def _calculate_taxes_and_totals(doc):
    """erpnext.controllers.taxes_and_totals, reduced to what a Sales Order from a web shop uses."""
    items, taxes, currency = doc["items"], doc["taxes"], doc.get("currency")
    for idx, tax in enumerate(taxes, 1):            # validate_taxes_and_charges, validate_inclusive_tax
        charge_type = tax.get("charge_type")
        if charge_type and charge_type not in CHARGE_TYPES:
            raise _throw(f"Sales Taxes and Charges Row #{idx}: Type cannot be \"{charge_type}\". It should be one "
                         "of " + ", ".join(f'"{c}"' for c in CHARGE_TYPES))
        if charge_type in ("Actual", "On Net Total") and tax.get("row_id"):
            raise _throw("Can refer row only if the charge type is 'On Previous Row Amount' or 'Previous Row Total'")
        if charge_type in ("On Previous Row Amount", "On Previous Row Total"):
            if idx == 1:
                raise _throw("Cannot select charge type as 'On Previous Row Amount' or 'On Previous Row Total' for "
                             "first row")
            if not tax.get("row_id"):
                raise _throw(f"Please specify a valid Row ID for row {idx} in table Sales Taxes and Charges")
            if not 1 <= _cint(tax["row_id"]) < idx:
                raise _throw("Cannot refer row number greater than or equal to current row number for this Charge "
                             "type")
        if tax.get("included_in_print_rate"):
            if charge_type == "Actual":
                raise _throw(f"Actual type tax cannot be included in Item rate in row {idx}")
            if charge_type == "On Item Quantity":
                raise _throw("Charge of type 'On Item Quantity' cannot be included in Item Rate")
    inclusive = any(t.get("included_in_print_rate") for t in taxes)
    inclusive_rate = sum(_flt(t.get("rate")) for t in taxes
                         if t.get("included_in_print_rate") and t.get("charge_type") == "On Net Total")
    for row in items:
        row["qty"] = _flt(row.get("qty"), 3)
        row["stock_qty"] = _flt(row["qty"] * _flt(row.get("conversion_factor") or 1), 3)
        row["rate"] = _flt(row.get("rate"), 2)
        row["price_list_rate"] = _flt(row.get("price_list_rate"), 2)
        row["amount"] = _flt(row["rate"] * row["qty"], 2)
        if inclusive_rate:                          # determine_exclusive_rate
            row["net_amount"] = _flt(row["amount"] / (1 + inclusive_rate / 100.0), 2)
            row["net_rate"] = _flt(row["net_amount"] / row["qty"], 2) if row["qty"] else 0.0
        else:
            row["net_amount"], row["net_rate"] = row["amount"], row["rate"]
    total = _flt(sum(r["amount"] for r in items), 2)
    total_qty = _flt(sum(r["qty"] for r in items), 3)

    def compute(net_amounts, discount_applied):
        """calculate_taxes + manipulate_grand_total_for_inclusive_tax: (net_total, grand total before rounding)."""
        net_total = _flt(sum(net_amounts), 2)
        cumulative = net_total
        for tax in taxes:
            charge_type, rate = tax.get("charge_type"), _flt(tax.get("rate"))
            if charge_type == "Actual":
                amount = _flt(tax.get("tax_amount"), 2)
            elif charge_type == "On Net Total":
                amount = sum(n * rate / 100.0 for n in net_amounts)
            elif charge_type == "On Previous Row Amount":
                amount = taxes[_cint(tax["row_id"]) - 1]["tax_amount"] * rate / 100.0
            elif charge_type == "On Previous Row Total":
                amount = taxes[_cint(tax["row_id"]) - 1]["total"] * rate / 100.0
            elif charge_type == "On Item Quantity":
                amount = rate * total_qty
            else:
                amount = 0.0
            tax["tax_amount"] = _flt(amount, 2)
            cumulative = _flt(cumulative + tax["tax_amount"], 2)
            tax["total"] = cumulative
        grand_total = taxes[-1]["total"] if taxes else net_total
        if inclusive:
            exclusive = sum(t["tax_amount"] for t in taxes if not t.get("included_in_print_rate"))
            diff = total + exclusive - grand_total - discount_applied
            diff = _flt(diff, 2)
            if diff and abs(diff) <= 0.05:
                grand_total = _flt(grand_total + diff, 2)
        return net_total, grand_total

    net_amounts = [r["net_amount"] for r in items]
    net_total, grand_total = compute(net_amounts, 0.0)
    apply_on = doc["apply_discount_on"]
    if apply_on not in ("Grand Total", "Net Total"):
        raise _throw(f'Apply Additional Discount On cannot be "{apply_on}". It should be one of "Grand Total", '
                     f'"Net Total"')
    discount = _flt(doc.get("discount_amount"), 2)
    pct = _flt(doc.get("additional_discount_percentage"))
    if pct and not discount:
        discount = _flt((grand_total if apply_on == "Grand Total" else net_total) * pct / 100.0, 2)
    rounding_adjustment = 0.0
    if discount:                                    # apply_discount_amount
        if apply_on == "Net Total":
            base = net_total
        else:
            actual = sum(t["tax_amount"] for t in taxes if t.get("charge_type") in ("Actual", "On Item Quantity"))
            base = _flt(grand_total - actual, 2)
        grand_before = grand_total
        if base:
            net_amounts = [_flt(n - discount * n / base, 2) for n in net_amounts]
            if not taxes and net_amounts:           # discount amount rounding loss, when there are no taxes
                loss = _flt(net_total - sum(net_amounts) - discount, 2)
                net_amounts[-1] = _flt(net_amounts[-1] + loss, 2)
            for row, n in zip(items, net_amounts):
                row["net_amount"] = n
                row["net_rate"] = _flt(n / row["qty"], 2) if row["qty"] else 0.0
            net_total, grand_total = compute(net_amounts, discount)
            if apply_on == "Grand Total" and taxes:  # the discount loss goes to rounding_adjustment
                rounding_adjustment = _flt(grand_before - discount - grand_total, 2)
                grand_total = _flt(grand_total + rounding_adjustment, 2)
    for tax in taxes:
        tax["tax_amount_after_discount_amount"] = tax["tax_amount"]
        tax["base_tax_amount"], tax["base_total"] = tax["tax_amount"], tax["total"]
    total_taxes = _flt(grand_total - net_total - rounding_adjustment, 2)
    if doc.get("disable_rounded_total"):
        rounded_total = 0.0
    else:                                           # set_rounded_total
        rounded_total = _round_fraction(grand_total, currency)
        rounding_adjustment = _flt(rounding_adjustment + rounded_total - grand_total, 2)
    for row in items:
        row["base_rate"], row["base_amount"], row["base_net_amount"] = row["rate"], row["amount"], row["net_amount"]
    doc.update({"total_qty": total_qty, "total": total, "base_total": total, "net_total": net_total,
                "base_net_total": net_total, "discount_amount": discount, "base_discount_amount": discount,
                "additional_discount_percentage": pct, "total_taxes_and_charges": total_taxes,
                "base_total_taxes_and_charges": total_taxes, "grand_total": grand_total,
                "base_grand_total": grand_total, "rounding_adjustment": rounding_adjustment,
                "base_rounding_adjustment": rounding_adjustment, "rounded_total": rounded_total,
                "base_rounded_total": rounded_total})


# --- HTTP ---------------------------------------------------------------------------------------------------

class _Core:
    """Turns one HTTP request into an outcome and a record (called on the connection's thread)."""

    def __init__(self, site, stop):
        self.site = site
        self.stop = stop

    def handle(self, method, target, headers, raw):
        site = self.site
        info = parse_request(method, target, raw)
        with site.cond:
            if not site.authorized(headers):
                return record(site, info, site.error_answer(_throw("Invalid API key or secret", "AuthenticationError",
                                                                   title="Not Permitted")))
            rate_headers, window = [], None
            if site.rate_limit:
                rate_headers, rejected, window = site.rate_check()
                if rejected:
                    return record(site, info,
                                  site.error_answer(_FrappeError("TooManyRequestsError"), None, rate_headers))
            rule = take_rule(site.rules, info)
        if rule is not None and rule.delay > 0:
            self.stop.wait(rule.delay)

        def serve():
            outcome, ctx = site.serve(method, info.path, info.query, info.body, raw,
                                      headers.get("Content-Type") or "")
            if window is not None:
                site.rate_spent[window] = site.rate_spent.get(window, 0) + site.rate_limit["cost"]
            return _Outcome("reset") if ctx.reset_after else outcome   # ack_then_reset: created, then reset

        with site.cond:
            outcome = _ruled_outcome(rule, serve, site.canned)
            if outcome.kind == "answer":
                outcome.headers[:0] = rate_headers
                outcome.headers.insert(0, ("Cache-Control", "no-store,no-cache,must-revalidate,max-age=0"))
            return record(site, info, outcome)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True     # and one write per answer: no delayed-ACK stalls between requests

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    def _serve(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY:
                self.send_error(413)
                return
            raw = self.rfile.read(length) if length else b""
        outcome = self.server.core.handle(self.command, self.path, self.headers, raw)
        if outcome.kind == "hang":
            self.server.core.stop.wait(outcome.hang)
            self.close_connection = True
            return
        if outcome.kind == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
            return
        self.send_response(outcome.status)
        self.send_header("Content-Type", outcome.content_type)
        self.send_header("Content-Length", str(len(outcome.body)))
        for k, v in outcome.headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(head if self.command == "HEAD" else head + outcome.body)

    def _read_chunked(self):
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, core):
        self.core = core
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, conn, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def drop_connections(self):
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass   # a client that went away mid-answer is not the simulator's problem


class ErpNextSim(Scripted, Recorded, ThreadedServer):
    """The simulator in a background thread of this process; a context manager. Listening once constructed."""

    @property
    def _rules_state(self):
        return self._site

    def __init__(self, api_key="k", api_secret="s", company="Acme Ltd", items=("SKU-1", "SKU-2", "SKU-3"),
                 warehouses=("Stores - ACME",), allow_against_multiple_purchase_orders=False, *, non_stock_items=(),
                 custom_fields=(), currency="EUR", naming_year=2025, rate_limit=None, tracebacks=True,
                 stock_webhook=None, stock_webhook_secret=None, host="127.0.0.1", port=0):
        self._rule_type = _Rule
        self._site = _Site(api_key, api_secret, company, items, warehouses, allow_against_multiple_purchase_orders,
                           non_stock_items, custom_fields, currency, naming_year, rate_limit, tracebacks)
        self._webhook_threads = []
        self.configure_stock_webhook(stock_webhook, stock_webhook_secret)
        self._listen_http(_HTTPServer, _Core, self._site, host, port, "erpnext-sim")
        self._site.url = self.url
        self._thread.start()


    # --- scripting -----------------------------------------------------------------------------------------
    def ack_then_reset_next_sales_order(self, n=1):
        """The next n Sales Orders that pass validation are created, then the connection is reset unanswered."""
        with self._site.cond:
            self._site.ack_then_reset += int(n)
        return self

    def ack_then_reset_next_sales_invoice(self, n=1):
        """The next n Sales Invoices that pass validation are created, then the connection is reset unanswered."""
        with self._site.cond:
            self._site.ack_then_reset_si += int(n)
        return self

    def ack_then_reset_next_delivery_note(self, n=1):
        """The next n Delivery Notes POSTed that pass validation (and, with docstatus 1, the submit checks) are
        inserted (and submitted, the Sales Orders updated), then the connection is reset unanswered."""
        with self._site.cond:
            self._site.ack_then_reset_dn += int(n)
        return self

    # --- state ---------------------------------------------------------------------------------------------
    @property
    def customers(self):
        with self._site.cond:
            return copy.deepcopy(self._site.customers)

    @property
    def sales_orders(self):
        with self._site.cond:
            return copy.deepcopy(self._site.sales_orders)

    @property
    def sales_invoices(self):
        """{name: Sales Invoice doc}, credit notes (is_return 1) included."""
        with self._site.cond:
            return copy.deepcopy(self._site.sales_invoices)

    @property
    def delivery_notes_by_name(self):
        """{name: Delivery Note doc} (drafts, submitted and cancelled ones)."""
        with self._site.cond:
            return copy.deepcopy(self._site.delivery_notes)

    def add_customer(self, customer_name, **fields):
        """Creates a Customer as POST /api/resource/Customer would; returns its name ("X - 1" if X exists)."""
        with self._site.cond:
            return self._site.add_customer(customer_name, fields)

    def add_sales_invoice(self, **fields):
        """Creates a Sales Invoice as POST /api/resource/Sales Invoice would (docstatus=1 submits it, e.g. the
        original a credit note is made against); returns its name. ValueError("<exc_type>: <message>") when the
        API would answer 417. Does not use up ack_then_reset_next_sales_invoice."""
        with self._site.cond:
            name = self._site.add_sales_invoice(fields)
            self._site.cond.notify_all()
            return name

    def set_delivered(self, so_name):
        """A submitted Delivery Note now covers the whole order: delivery_status "Fully Delivered", status
        "To Bill", and cancelling the order fails with LinkExistsError. Returns the Delivery Note's name. The note
        is made as a client would make it (make_delivery_note, then the POST with docstatus 1), for what is left
        to deliver; when nothing is left, the last submitted note linked is returned and none is made. KeyError
        for an unknown order, ValueError for one not submitted (or "<exc_type>: <message>" where the POST would
        answer 417). Does not use up ack_then_reset_next_delivery_note."""
        with self._site.cond:
            dn = self._site.set_delivered(so_name)
            self._site.cond.notify_all()
            return dn

    # --- stock levels --------------------------------------------------------------------------------------
    @property
    def bins(self):
        """{Bin name: Bin doc}."""
        with self._site.cond:
            return copy.deepcopy(self._site.bins)

    @property
    def webhook_log(self):
        """Every stock webhook POST made so far, in the order the answers came: WebhookCall(url, headers,
        body bytes, status int or "error", error text or None)."""
        with self._site.cond:
            return list(self._site.webhook_log)

    def configure_stock_webhook(self, url, secret=None):
        """A Webhook on Bin on_update POSTing to url (None: none), signed with secret when given."""
        with self._site.cond:
            self._site.stock_webhook = (str(url), secret or None) if url else None
        return self

    def set_stock(self, item_code, warehouse, actual_qty, reserved_qty=0, *, ordered_qty=0, indented_qty=0,
                  planned_qty=0, reserved_qty_for_production=0, reserved_qty_for_sub_contract=0, wait=True):
        """Sets the stock level of (item_code, warehouse) as stock transactions would: the Bin is created or
        updated (every quantity as given, projected_qty computed, modified refreshed) and, with a stock webhook
        configured, the Bin is POSTed from a background thread. Returns the Bin doc once that POST is done (at
        once with wait=False; see wait_webhooks). KeyError for an unknown item or warehouse, ValueError for a
        non-stock item, TypeError for a quantity that is not a number."""
        quantities = {"actual_qty": actual_qty, "reserved_qty": reserved_qty, "ordered_qty": ordered_qty,
                      "indented_qty": indented_qty, "planned_qty": planned_qty,
                      "reserved_qty_for_production": reserved_qty_for_production,
                      "reserved_qty_for_sub_contract": reserved_qty_for_sub_contract}
        with self._site.cond:
            doc, hook = self._site.set_stock(item_code, warehouse, quantities)
            if hook is None:
                return doc
            thread = threading.Thread(target=self._send_webhook, args=hook, name="erpnext-webhook", daemon=True)
            self._webhook_threads = [t for t in self._webhook_threads if t.is_alive()] + [thread]
            thread.start()
        if wait:
            thread.join(WEBHOOK_TIMEOUT + 5)
        return doc

    def wait_webhooks(self, timeout=10.0):
        """Waits until every webhook POST started so far has its answer; False if some is still running."""
        deadline = time.monotonic() + timeout
        with self._site.cond:
            threads = list(self._webhook_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._site.cond:
            self._webhook_threads = [t for t in self._webhook_threads if t.is_alive()]
            return not self._webhook_threads

    def _send_webhook(self, url, headers, body):
        try:
            status, _ = post(url, body, headers, WEBHOOK_TIMEOUT)
            call = WebhookCall(url, headers, body, status, None)
        except (OSError, http.client.HTTPException, ValueError) as e:
            call = WebhookCall(url, headers, body, "error", f"{type(e).__name__}: {e}")
        with self._site.cond:
            self._site.webhook_log.append(call)
            self._site.cond.notify_all()



# --- standalone process -------------------------------------------------------------------------------------

def main(argv=None):
    ap = process_parser(__doc__)
    ap.add_argument("--api-key", default="k")
    ap.add_argument("--api-secret", default="s")
    ap.add_argument("--company", default="Acme Ltd")
    ap.add_argument("--items", default="SKU-1,SKU-2,SKU-3", help="comma-separated item codes")
    ap.add_argument("--non-stock-items", default="", help="comma-separated item codes without stock")
    ap.add_argument("--warehouses", default="Stores - ACME", help="comma-separated warehouse names")
    ap.add_argument("--custom-fields", default="", help="comma-separated extra field names kept on documents")
    ap.add_argument("--allow-multiple-po", action="store_true",
                    help="Selling Settings allow_against_multiple_purchase_orders: a duplicate po_no only warns")
    ap.add_argument("--stock-webhook", help="URL the Bin webhook POSTs to (on every stock level change)")
    ap.add_argument("--stock-webhook-secret",
                    help="the Webhook Secret: sign the Bin webhook with X-Frappe-Webhook-Signature")
    ap.add_argument("--stock", help='JSON list of stock levels set once listening, each {"item_code", "warehouse", '
                                    '"actual_qty", ...} as set_stock takes them (each fires the Bin webhook)')
    ap.add_argument("--script", help="JSON list of rules to start with (no callables)")
    ap.add_argument("--dump", help="write customers, sales orders, sales invoices, delivery notes, bins, webhooks sent "
                                   "and requests as JSON to this file at exit")
    args = ap.parse_args(argv)

    def split(text):
        return tuple(s.strip() for s in text.split(",") if s.strip())

    rules = json.loads(args.script) if args.script else []
    sim = ErpNextSim(args.api_key, args.api_secret, args.company, split(args.items), split(args.warehouses),
                     args.allow_multiple_po, non_stock_items=split(args.non_stock_items),
                     custom_fields=split(args.custom_fields), stock_webhook=args.stock_webhook,
                     stock_webhook_secret=args.stock_webhook_secret, host=args.host, port=args.port)
    sim.script(*rules)
    for level in json.loads(args.stock) if args.stock else []:
        sim.set_stock(**level)
    serve_until_signalled(sim.port)
    sim.wait_webhooks()
    sim.close()
    customers, orders, invoices, calls = sim.customers, sim.sales_orders, sim.sales_invoices, sim.requests
    return finish_process(sim, args.dump,
                          lambda: {"customers": customers, "sales_orders": orders, "sales_invoices": invoices,
                                   "delivery_notes": sim.delivery_notes_by_name, "bins": sim.bins,
                                   "webhooks": [{**w._asdict(), "body": w.body.decode()} for w in sim.webhook_log],
                                   "requests": [c._asdict() for c in calls]},
                          {"requests": len(calls), "customers": len(customers), "sales_orders": len(orders),
                           "sales_invoices": len(invoices)})


if __name__ == "__main__":
    sys.exit(main())
