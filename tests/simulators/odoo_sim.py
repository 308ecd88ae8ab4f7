#!/usr/bin/env python3
"""An Odoo (19.0) external API simulator standing in for the ERP behind the Odoo connector (Python stdlib
only). One server speaks both transports; the client picks one per request.

It follows the ERP/3PL fact sheet (erp_3pl.md), section 2 (Odoo: JSON-2 and legacy JSON-RPC, res.partner,
sale.order, credit notes, stock.quant, errors, no rate limit of its own) and section 7.4 (the behaviours a
simulator must reproduce), with the awkward parts kept: JSON-RPC errors come back with HTTP 200 and an
`error` member; JSON-2 maps the exception to the HTTP status (UserError / ValidationError 422, AccessError /
AccessDenied 403, MissingError 404, LockError 409, anything else 500) with a {name, message, arguments,
context, debug} body; one2many lines are x2many command triples [0, 0, {values}]; Many2one fields are
integer ids on input and [id, "display name"] on read; `client_order_ref` is not unique, and nor is
anything on res.partner (a second create makes a duplicate: search first); `sale.order/action_cancel` on a
confirmed order answers the "Cancel Sales Order" wizard action and cancels nothing unless the context holds
{"disable_cancel_warning": true}; `account.move/action_post` returns false; `action_confirm` creates the
delivery stock.picking ("WH/OUT/00001") with a stock.move per goods line, which `stock.picking/button_validate`
validates as Odoo 17+ does (the `picked` flag, the "Create Backorder?" wizard unless the context holds
{"skip_backorder": true}, a backorder for the rest) and the order's delivery_status follows; over JSON-RPC
`create` needs its values POSITIONALLY (execute_kw(..., "create", [[{...}]], {})): with only {"vals_list":
[...]} as kwargs Odoo's call_kw fails with IndexError("tuple index out of range") after the fact, and nothing
is created.
Where the fact sheet is silent, the Odoo 17-19 sources decided (odoo/http.py JsonRPCDispatcher and
Json2Dispatcher, addons/rpc/controllers/json2.py, odoo/service/model.py, odoo/api.py call_kw, ir_http
_auth_method_bearer, sale_order.py, account_move.py _post, stock_picking.py button_validate / _sanity_check /
_pre_action_done_hook / _check_backorder / _create_backorder, stock_move.py _action_done, sale_stock
_compute_delivery_status); see "Assumptions" for the rest.

In a test process:

    with OdooSim(db="odoo", login="bot@example.com", api_key="odoo-key", products=("SKU-1", "SKU-2")) as odoo:
        odoo.script({"status": 429, "retry_after": "2"},                         # the proxy in front throttles
                    {"status": 503, "match": {"model": "sale.order", "odoo_method": "create"}})
        odoo.ack_then_reset_next_sale_order()   # created, then the connection is reset unanswered
        ... point the connector at odoo.url: POST /json/2/<model>/<method> with "Authorization: bearer odoo-key",
            or POST /jsonrpc (common.authenticate, then object.execute_kw) ...
        odoo.wait_until(lambda o: len(o.sale_orders) == 1, timeout=10)
        (so,) = odoo.sale_orders.values()                   # as read() shows it: partner_id [7, "Jane Doe"]
        odoo.set_delivered(so["name"])                      # its picking validated, delivery_status "full"
        (picking,) = odoo.pickings.values()                 # {"name": "WH/OUT/00001", "state": "done", ...}
        odoo.set_stock("SKU-1", 12, reserved=2)             # the stock.quant changes, write_date moves on

Constructor: OdooSim(db="odoo", login="bot@example.com", api_key="odoo-key", products=("SKU-1", "SKU-2",
"SKU-3"), host="127.0.0.1", port=0, *, password=None, uid=2, stock=None, rate_limit=None, currency="EUR",
cancel_wizard=True, rpc_create_needs_positional=True, services=()).
It listens on host:port in a daemon thread (ThreadingHTTPServer, HTTP/1.1 keep-alive, Content-Length on every
answer); a context manager with close(). Attributes `url`, `port`, `db`, `uid`.
    products     the product.product records made at start (default_code = the SKU, name "Product <SKU>",
                 list_price 1.0, type "consu", is_storable true, uom_id [1, "Units"]); a dict {sku: name}
                 names them
    services     SKUs made (or remade, if also in products) as type "service", is_storable false, e.g.
                 ("SHIP-WOO", "WOO-REFUND"): their order lines get no stock.move
    password     the bot user's password, accepted as well as the API key by JSON-RPC (JSON-2 takes the
                 API key only)
    uid          the bot user's id (what common.authenticate returns)
    stock        {sku: quantity or [quantity, reserved]}: set_stock for each once constructed
    rate_limit   N: the reverse proxy in front answers 429 (nginx page, Retry-After: 1) once N requests
                 were let through within the last second (Odoo itself has no limit: fact sheet 2.7)
    currency     the name of res.currency 1, the company currency every document uses
    cancel_wizard  False: sale.order/action_cancel cancels confirmed orders without the context key (as a
                 database with sale.order._show_cancel_wizard overridden would)
    rpc_create_needs_positional  False: JSON-RPC create also takes {"vals_list": ...} as kwargs (Odoo
                 does not: see above)

State (snapshots, thread-safe, each {id: record as read() with every field shows it, Many2one as
[id, name]}): `partners` (res.partner), `products` (product.product), `sale_orders`, `sale_order_lines`,
`moves` (account.move), `move_lines` (account.move.line), `quants` (stock.quant), `pickings` (stock.picking),
`stock_moves` (stock.move); `records(model)` for any
model; `requests` [Call] where Call = (method, path, query, body, status): the URL-decoded path, the query as a
dict of first values, the parsed JSON body or None, and the status answered or "hang" / "reset";
`status_counts()`; `odoo_call(call)` -> OdooCall(transport, service, model, method) or None tells which
Odoo call a request was. `wait_until(predicate, timeout)` waits until predicate(sim) holds (AssertionError
on timeout). Helpers:
    set_delivered(order, status="full")   order: a sale.order id or name; status "full", "partial" or
                 "pending"; the order must be confirmed (ValueError otherwise, KeyError if unknown). It goes
                 through the pickings as a client would: "full" sets every open move's quantity to its demand,
                 "partial" to half of it, picked true, and validates the open pickings with skip_backorder
                 (partial: the rest waits on a backorder); "pending" changes nothing. Forward only: a status
                 below the current one (e.g. "partial" once "full") is ValueError (validated pickings stay
                 validated). Lines without moves (services) get qty_delivered all / half / none by hand; an
                 order without pickings gets the delivery_status set directly. Afterwards (partial / full)
                 action_cancel is refused (UserError). Returns the order as read() shows it.
    set_stock(sku, quantity, reserved=0)  the stock.quant of that product at WH/Stock (id 8) is created or
                 updated; write_date moves to now, strictly later than any earlier quant's (a burst of
                 changes within one second moves the stamps into the next seconds). Returns the quant.
                 KeyError for an unknown SKU, TypeError for a quantity that is not a number.
    lock_order(order, locked=True)        sale.order.locked (a locked order cannot be cancelled).
    add_partner(**vals)                   creates a res.partner as the API would; returns its id
                 (ValueError("<exception name>: <message>") where the API would answer an error).
    ack_then_reset_next_sale_order(n=1)   the next n sale.order creates that succeed (either transport) are
                 committed, then the connection is reset without an answer: the ambiguous failure after
                 which a client must search_read client_order_ref before creating again.
    outage       a settable property: False (default), True (every request answered 502 Bad Gateway by the
                 proxy: Odoo is down) or a status code to answer instead (e.g. 503).

Scripting (the shared `Scripted` mixin): `script(*rules)` appends rules consumed in order by the requests they
match (an int N is short for {"status": N}); `clear_script()`, `pending_rules()`. Rule keys:
    status       answer this code instead of serving: 429 / 502 / 503 / 504 an nginx HTML page (the proxy;
                 not JSON), 400 a werkzeug HTML page, 401 the JSON-2 "Invalid apikey" body, other 4xx /
                 500 a JSON-2 error body (403 AccessError, 404 NotFound, 409 LockError, 422 UserError, 500
                 and the rest builtins.Exception). A status answers the same on both transports: for an
                 error the way a transport reports it, use odoo_error.
    odoo_error   an Odoo exception class ("UserError", "ValidationError", "AccessError", "AccessDenied",
                 "MissingError", "LockError", "SerializationFailure", "ValueError", ...) raised instead of
                 serving, reported as the request's transport does (JSON-2: its status and body; JSON-RPC:
                 HTTP 200 with an error member); message: its text
    body         the answer body instead (dict/list sent as JSON, str or bytes)
    headers      extra answer headers; retry_after: a Retry-After header
    delay / latency   seconds before the request is served (or answered)
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    commit       True: serve the request first (its changes are kept), then hang, reset, answer status or
                 raise odoo_error instead (e.g. {"status": 504, "commit": True}: a proxy timeout after commit)
    count        requests the rule answers before it is used up (default 1; None: never)
    match        {"method": "POST", "path_prefix": "/json/2/sale.order", "path": exact, "transport": "json2"
                 or "jsonrpc", "service": "object" / "common", "model": "sale.order", "odoo_method": "create",
                 "call": "sale.order/create"} (all given must hold; model and odoo_method are read from the path
                 on JSON-2 and from params.args of object.execute_kw / execute on JSON-RPC), or a
                 callable(RequestInfo(method, path, query, body)) -> bool (odoo_call(info) helps)
Order for every request: the outage, the proxy's rate limit, the first matching rule, then Odoo itself
(database selection, authentication, the call). A rule is consumed before authentication (it may stand for
the proxy).

JSON-2 (POST /json/2/<model>/<method>; body a JSON object: "ids" for record methods, "context", every other
argument by name):
    X-Odoo-Database  optional; another database name than `db` gives the 404 text/html page Odoo answers
                 when no database is selected (no JSON body)
    Content-Type     a body must be application/json, else 400 text/html (werkzeug BadRequest)
    Authorization    "bearer <api key>" (scheme case-insensitive); a wrong key: 401 {"name":
                 "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey", "arguments": ["Invalid
                 apikey", 401], ...} with WWW-Authenticate: Bearer; none: 401 'User not authenticated, use the
                 "Authorization" header'
    body         not JSON: 400 werkzeug.exceptions.BadRequest "could not parse the body as json: ..."; JSON but
                 not an object: read as no arguments
    method       not POST: 405 werkzeug.exceptions.MethodNotAllowed
    /json/2 or /json/2/<anything else>    404 NotFound "Did you mean POST /json/2/<model>/<method>?"
    unknown model 404 NotFound "the model 'x' does not exist"; unknown method 404 NotFound "The method
                 'x.y' does not exist"; a method starting with "_" 403 AccessError "Private methods (such as
                 'x._y') cannot be called remotely."; ids given to create / search_read / search /
                 search_count 422 UnprocessableEntity "cannot call x.create with ids"; a missing or unexpected
                 argument 422 UnprocessableEntity with Python's signature.bind text ("missing a required
                 argument: 'vals_list'", "got an unexpected keyword argument 'foo'")
    success      200 with the return value as the body: create [ids], search_read [{...}], search [ids],
                 search_count n, read [{...}], write true, action_confirm true, action_cancel true (or the
                 wizard action), action_post false
    an error     its status (UserError / ValidationError 422, AccessError / AccessDenied 403, MissingError
                 404, LockError 409, others 500), body {"name": "odoo.exceptions.ValidationError", "message",
                 "arguments": [message], "context": {}, "debug": "Traceback (most recent call last): ..."}

JSON-RPC (POST /jsonrpc, {"jsonrpc": "2.0", "method": "call", "params": {"service", "method", "args"}, "id"}):
    Content-Type must be application/json (or application/json-rpc), else 400 text/html; a body that is not
    JSON: 400 text/html "Invalid JSON data"; JSON but not an object: 400 "Invalid JSON-RPC data". Everything
    else is HTTP 200: {"jsonrpc": "2.0", "id": <the request's>, "result": ...} or {"jsonrpc": "2.0", "id",
    "error": {"code": 200, "message": "Odoo Server Error", "data": {name, message, arguments, context,
    debug}}} (code 200 as in Odoo 16-18; code 100 "Odoo Session Expired" and 404 "404: Not Found" belong to
    session routes this simulator does not have).
    common.authenticate(db, login, password_or_key, {}) / common.login(db, login, password_or_key)
                 the uid, or false for a wrong login or password; common.version() the server version;
                 db.list() [db]
    object.execute_kw(db, uid, password_or_key, model, method, args, kwargs) / object.execute(db, uid,
                 password_or_key, model, method, *args)
                 an empty password: AccessDenied; another db: psycopg2.OperationalError ('database "x" does
                 not exist'); a wrong uid or password: AccessDenied ("Access Denied"); an unknown model:
                 UserError "Object x doesn't exist"; an unknown method: AttributeError "The method 'x.y' does
                 not exist"; private: AccessError. Record methods take the ids as args[0] (none:
                 IndexError "tuple index out of range"); the other arguments bind as Python would (positional
                 search_read(domain, fields, offset, limit, order), create(vals_list), write(vals),
                 read(fields), or by name in kwargs; TypeError otherwise). "context" in kwargs is the context.
                 create with a dict as args[0] returns its id (an int), with a list the list of ids; create
                 with no positional argument: IndexError "tuple index out of range" (nothing is created;
                 see rpc_create_needs_positional)

Methods (on every model unless said): search_read(domain=None, fields=None, offset=0, limit=None,
order=None, load="_classic_read"), search(domain, offset=0, limit=None, order=None), search_count(domain,
limit=None), read(ids; fields=None, load="_classic_read"), create(vals_list) (a dict is also taken),
write(ids; vals); sale.order also action_confirm, action_cancel, action_lock, action_unlock; account.move
action_post; stock.picking button_validate (ids; the context decides). load=None reads Many2one fields as bare
ids. Each call is one transaction: an error undoes all its changes (record ids, sale.order and picking numbers
used by a failed call are not reused, as with PostgreSQL sequences: expect gaps; invoice numbers are gapless).
Domains: [field, operator, value] triples, implicitly AND-ed, with the prefix operators "&", "|", "!";
operators =, !=, <, >, <=, >=, in, not in, like, not like, ilike, not ilike, =like, =ilike, =?, child_of,
parent_of; dotted paths through Many2one / One2many fields ("location_id.usage", "order_line.product_id");
a string compared with a Many2one field matches the display name; "=" on strings is case-sensitive, "ilike"
is not; a "!=" / "not in" / "not like" leaf also matches empty values (as Odoo's SQL does). Records with an
"active" field are filtered to active ones unless the domain names "active". An invalid field, operator or
domain is a ValueError (500 on JSON-2). Order: "field [asc|desc] [nulls first|last], ..." (Many2one by display
name; ties by id); without it each model's own _order (sale.order "date_order desc, id desc", res.partner
"complete_name asc, id desc", account.move "date desc, name desc, id desc", product.product "default_code,
name, id", stock.picking "priority desc, scheduled_date asc, id desc", stock.move "sequence, id", others "id").
Values on create / write: an unknown field is ValueError "Invalid field 'x' on model 'y'" (500); a Many2one
must be an integer id (or false): another type is ValueError "Wrong value for y.x: ...", an id that does not
exist MissingError "Record does not exist or has been deleted.\\n(Record: res.partner(999,), User: 2)" (404); a
selection value outside its options ValueError; dates "YYYY-MM-DD" (a longer string is cut to its date),
datetimes "YYYY-MM-DD HH:MM:SS" or a bare date (anything else, e.g. "2025-01-10T09:15:00", is ValueError);
readonly and computed fields (state, amount_total, delivery_status, create_date, ...) are ignored.

Models (ids are integers; Many2one read as [id, display name]):
    res.country  id, name, code, phone_code, display_name; seeded with COUNTRIES (US 233, CA 38, DE 57,
                 GB 231, FR 75, NL 165: their ids in a fresh Odoo database)
    res.country.state  id, name, code, country_id; a few seeded (display name "California (US)"); ids are
                 this simulator's
    res.partner  name, email, phone, mobile, street, street2, city, zip, country_id, state_id, ref, vat,
                 function, website, comment, lang, company_name, parent_id, child_ids, type ("contact",
                 "invoice", "delivery", "other"; default "contact"), is_company, active, customer_rank,
                 complete_name, commercial_partner_id, create_date, write_date; new ids from 7. A contact
                 without a name: ValidationError "Contacts require a name" (Odoo's check_name constraint; an
                 address of type delivery / invoice / other may go without). Nothing is unique: a second
                 create with the same email or ref makes a second partner. display_name as Odoo builds it:
                 "Parent, Name", or "Parent, Delivery Address" for an unnamed address
    product.product  id, default_code, name, display_name ("[SKU-1] Product SKU-1"), list_price,
                 standard_price, type ("consu" goods, "service", "combo"), is_storable (default true for goods;
                 always false otherwise), uom_id, sale_ok, active, barcode, qty_available and
                 free_qty (sums over the internal quants: quantity, quantity - reserved), virtual_available,
                 write_date
    sale.order   id, name ("S00001", "S00002", ...; a name given other than "New" is kept), state ("draft"
                 -> "sale" by action_confirm; "cancel" by action_cancel), partner_id (required: ValidationError
                 "The operation cannot be completed: - Create/update: a mandatory field is not set. ...
                 Field: Customer (partner_id)"), partner_invoice_id and partner_shipping_id (default
                 partner_id), client_order_ref, origin, reference, note, date_order (default now; now again
                 on confirmation), commitment_date, company_id, currency_id, pricelist_id, user_id, locked,
                 order_line (line ids), amount_untaxed, amount_tax (0: no taxes are computed), amount_total,
                 invoice_status ("no"; "to invoice" once confirmed), delivery_status (false while a quotation;
                 then sale_stock's _compute_delivery_status over the order's pickings: all cancelled false, all
                 done or cancelled "full", one done and some qty_delivered "partial", one done and none
                 "started", else "pending"; an order without pickings stays "pending" once confirmed),
                 picking_ids (its stock.picking ids), create_date, write_date.
                 order_line takes [0, 0, {product_id, product_uom_qty (default 1), price_unit (default the
                 product's list_price), discount (%), name (default the product's display name), sequence,
                 display_type, tax_id / tax_ids (kept, not computed)}], [5] (clear) and [6, 0, []]; a plain
                 dict, a bare id or another command: ValidationError "Invalid command for the one2many field
                 sale.order.order_line: ..."; a product_id that does not exist: MissingError; a line with
                 neither product nor display_type: ValidationError "Missing required fields on accountable
                 sale order line." Subtotals qty * price_unit * (1 - discount / 100), rounded half-up to 2
                 decimals.
                 action_confirm on an order not in draft / sent: UserError "Some orders are not in a state
                 requiring confirmation."; it creates the delivery (see stock.picking) in the same
                 transaction. action_cancel: a locked order UserError "You cannot cancel a
                 locked order. Please unlock it first."; a non-draft order without context
                 {"disable_cancel_warning": true}: the wizard action {"name": "Cancel Sales Order",
                 "res_model": "sale.order.cancel", "type": "ir.actions.act_window", "target": "new", ...}
                 (one order at a time: ValueError "Expected singleton" for more) and nothing changes; a
                 delivered order (delivery_status "partial" / "full"): UserError "You cannot cancel the
                 sales order S00001: it has been delivered (fully or partly). Return the goods first.";
                 else state "cancel" (its pickings not done, and their moves, too), true.
    sale.order.line  id, order_id, sequence, product_id, name, product_uom_qty, product_uom and
                 product_uom_id ([1, "Units"]), price_unit, discount, price_subtotal, price_tax, price_total,
                 qty_delivered (the done moves' quantities; by hand through set_delivered for lines without
                 moves), qty_invoiced, state, display_type, tax_id, tax_ids, order_partner_id, currency_id,
                 move_ids; read only (lines are made through the order)
    account.move id, name ("/" while draft; at action_post "RINV/<year>/00001" for out_refund,
                 "INV/<year>/00001" for out_invoice, numbered per prefix and year of the accounting date),
                 move_type (out_invoice or out_refund; another type or none is UserError: the simulator keeps
                 customer documents only), state ("draft" -> "posted"), partner_id, ref, invoice_origin,
                 invoice_date, invoice_date_due, date (the accounting date: invoice_date, else today),
                 narration, reversed_entry_id, journal_id ([1, "Customer Invoices"]), currency_id, company_id,
                 invoice_line_ids ([0, 0, {name, product_id, quantity (default 1), price_unit, discount,
                 sequence, display_type, tax_ids}] as on sale.order), amount_untaxed, amount_tax (0),
                 amount_total, amount_total_signed (negative for a credit note), amount_residual,
                 payment_state ("not_paid"), display_name ("Draft Credit Note (* 3)" while draft, as Odoo
                 shows it; the name once posted). action_post returns false; it refuses (UserError, the
                 messages joined by newlines, as Odoo's _post collects them) a negative total ("You cannot
                 validate an invoice with a negative total amount. ..."), no partner ("The field 'Customer' is
                 required, please complete it to validate the Customer Invoice."), a move not in draft ("The
                 entry RINV/2025/00001 (id 1) must be in draft."), no lines ("You need to add a line before
                 posting."); a missing invoice_date becomes today.
    account.move.line  id, move_id, sequence, name, product_id, quantity, price_unit, discount,
                 price_subtotal, price_total, display_type, partner_id, currency_id, tax_ids; read only
    stock.quant  id, product_id, location_id ([8, "WH/Stock"]), lot_id, package_id, owner_id (false),
                 company_id, quantity, reserved_quantity, available_quantity, product_uom_id, in_date,
                 create_date, write_date ("YYYY-MM-DD HH:MM:SS", strictly increasing from quant to quant);
                 made by set_stock only: create / write are UserError "Quant's creation is restricted, you
                 can't do this operation." / "Quant's editing is restricted, you can't do this operation."
    stock.picking  the delivery action_confirm creates when the order has goods lines (product type "consu"
                 with a quantity > 0; services, sections and notes get no move; no goods: no picking): id,
                 name ("WH/OUT/00001", ...: one sequence for deliveries and backorders, not rolled back by a
                 failed call), picking_type_id ([2, "My Company: Delivery Orders"]), picking_type_code
                 ("outgoing"), state ("assigned" -> "done"; "cancel" with its order), origin (the order's
                 name), sale_id, partner_id (the order's partner_shipping_id), location_id [8, "WH/Stock"],
                 location_dest_id [5, "Partners/Customers"], carrier_tracking_ref (false), backorder_id (false;
                 the picking a backorder continues), backorder_ids, move_ids, move_ids_without_package,
                 scheduled_date (the order's commitment_date, else now), date_deadline, date_done (false; set
                 when done), priority ("0"), note, company_id, user_id, create_date, write_date. write takes
                 carrier_tracking_ref, origin, note, partner_id, locations, scheduled_date, date_deadline,
                 user_id, sale_id, priority, name (on a done picking too); create is AccessError (not simulated).
                 button_validate(ids; context), as Odoo 17+ (each picking of ids):
                   _sanity_check: no moves UserError "You can’t validate an empty transfer. Please add some
                   products to move before proceeding."; no quantity on the moves that count (the picked ones
                   if any open move is picked, else all open moves), which includes a done or cancelled
                   picking: UserError NO_QUANTITY_MESSAGE "You cannot validate a transfer if no quantities are
                   reserved. To force the transfer, encode quantities." (Odoo 17 / 18 wording)
                   _pre_action_done_hook: when no move is picked but some has a quantity, every move is set
                   picked (kept even when the wizard is answered, as in Odoo); then unless the context holds
                   skip_backorder, a picking with a move short of its demand (unpicked with a demand, or picked
                   with quantity < demand) answers the wizard and nothing is validated: {"name": "Create
                   Backorder?", "type": "ir.actions.act_window", "view_mode": "form", "res_model":
                   "stock.backorder.confirmation", "views": [[1201, "form"]], "view_id": 1201, "target": "new",
                   "context": {<the call's context>, "button_validate_picking_ids": [ids],
                   "default_show_transfers": more than one picking, "default_pick_ids": [[4, id], ...]}}
                   _action_done: a picked move with a quantity is done (short: its demand becomes the quantity
                   and a new move with the rest, same line and sequence, is split off; over: its demand grows to
                   the quantity); unpicked or empty moves and the split rests go to a backorder picking (next
                   WH/OUT name, backorder_id the original, state "assigned", moves picked false, quantities kept,
                   carrier_tracking_ref false as copy=False), or are cancelled when the context's
                   picking_ids_not_to_backorder holds the picking's id; the picking is "done" with date_done
                   now; the order's qty_delivered and delivery_status follow. Returns true.
    stock.move   id, name, sequence, reference (the picking's name), origin, state ("assigned" -> "done" /
                 "cancel"), picking_id, picking_type_id, picking_code, product_id, product_uom_qty (the demand),
                 quantity (0.0 at creation), product_qty, picked (false), product_uom / uom_id ([1, "Units"]),
                 location_id, location_dest_id, partner_id, sale_line_id, company_id, date, create_date,
                 write_date; display_name "S00001/SKU-1: Stock>Customers". write takes quantity, picked,
                 product_uom_qty, name, sequence on an open move; a done move: UserError "You cannot change the
                 stock move ...: it is done (its transfer is validated). Return the goods instead."; a cancelled
                 one: UserError "You cannot change a cancelled stock move, create a new line instead."; create is
                 AccessError (not simulated).
    stock.location  8 "WH/Stock" (usage internal), 4 "Partners/Vendors" (supplier), 5 "Partners/Customers"
                 (customer); stock.picking.type 1 "Receipts" (incoming), 2 "Delivery Orders" (outgoing);
                 res.currency, res.company ("My Company"), res.users (the bot), uom.uom ("Units"),
                 product.pricelist, account.journal: one record each, read only (create: AccessError)

Assumptions (the fact sheet is silent): the database serves Odoo 19 with sale_management, stock and
account installed, in UTC; times are UTC "YYYY-MM-DD HH:MM:SS"; no taxes, pricelists, fiscal positions
or invoices from orders are simulated; deliveries are one step (WH/Stock -> customers), nothing is reserved (moves
are "assigned" with quantity 0 whatever the stock; Odoo 17+ would reserve at confirmation, quantity = the reserved
amount, state "confirmed" when short), validating does not change stock.quant, lines added to a confirmed order
get no move, quantities are not rounded to the unit of measure; a done picking's validation is a UserError as in
Odoo 17 / 18 (Odoo 19 filters done pickings out and answers true) and its text is Odoo 17 / 18's (Odoo 19: "Transfer
trouble alert! Validating a zero quantity transfer? ..."); a done move's write is refused (Odoo lets an unlocked
done transfer's quantities be corrected); refusing to cancel a delivered order is the fact sheet's
status mapping, not Odoo's (sale_stock cancels the undone pickings and lets the done ones be); a plain dict
as an order line is refused with a ValidationError (an Odoo server fails on it too, possibly with a 500);
MissingError stands for every Many2one id that does not exist (Odoo raises it for the ones its computes read,
a foreign-key ValidationError for the others); the JSON-RPC error code is 200 (Odoo 19 master uses 0);
debug tracebacks are made up; "Bearer" in WWW-Authenticate; JSON-2's 401 body is werkzeug's Unauthorized
(not AccessDenied), as ir_http._auth_method_bearer raises it.

As a process, for end-to-end tests:

    odoo_sim.py --port 0 [--db odoo --login bot@example.com --api-key odoo-key --password PW --uid 2
                --products SKU-1,SKU-2 --services SHIP-WOO --stock '{"SKU-1": 5, "SKU-2": [4, 1]}' --rate-limit 10
                --no-cancel-wizard --lenient-rpc-create --script '[{"status": 503}]' --dump state.json]

prints {"port": N} once listening and, on SIGTERM or SIGINT, one summary line {"requests", "partners",
"sale_orders", "moves", "status_counts"}; --dump writes {"partners", "products", "sale_orders",
"sale_order_lines", "moves", "move_lines", "quants", "pickings", "stock_moves", "requests"} there. Exits 0.
"""
import collections
import copy
import datetime
import decimal
import inspect
import json
import re
import sys
import threading
import time
import traceback

from erpnext_sim import _HTTPServer, _Outcome, _Rule, _canned, _nginx_page, _ruled_outcome
from scripting import (Call, Recorded, RequestInfo, Scripted, ThreadedServer, finish_process, parse_request,
                       process_parser, record, serve_until_signalled, take_rule)

__all__ = ["OdooSim", "OdooCall", "odoo_call", "Call", "RequestInfo", "COUNTRIES"]

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
SERVER_VERSION = "19.0"
SERVER_VERSION_INFO = [19, 0, 0, "final", 0, ""]
PROXY_TITLES = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
                504: "Gateway Time-out"}

# code -> (id, name): res.country as a fresh Odoo database numbers it.
COUNTRIES = {"US": (233, "United States"), "CA": (38, "Canada"), "DE": (57, "Germany"),
             "GB": (231, "United Kingdom"), "FR": (75, "France"), "NL": (165, "Netherlands")}
PHONE_CODES = {"US": 1, "CA": 1, "DE": 49, "GB": 44, "FR": 33, "NL": 31}
# (country code, state code, name): res.country.state, numbered from 1 (the ids are this simulator's).
STATES = [("US", "CA", "California"), ("US", "NY", "New York"), ("US", "TX", "Texas"), ("CA", "ON", "Ontario"),
          ("CA", "QC", "Quebec"), ("DE", "BE", "Berlin"), ("DE", "BY", "Bavaria")]
STOCK_LOCATION = 8
LOCATIONS = {4: ("Vendors", "Partners/Vendors", "supplier"), 5: ("Customers", "Partners/Customers", "customer"),
             8: ("Stock", "WH/Stock", "internal")}
FIRST_PARTNER_ID = 7
FIRST_PRODUCT_ID = 11

# Short class name -> (module, the HTTP status JSON-2 answers for it).
EXCEPTIONS = {
    "UserError": ("odoo.exceptions", 422),
    "ValidationError": ("odoo.exceptions", 422),
    "RedirectWarning": ("odoo.exceptions", 422),
    "AccessError": ("odoo.exceptions", 403),
    "AccessDenied": ("odoo.exceptions", 403),
    "MissingError": ("odoo.exceptions", 404),
    "LockError": ("odoo.exceptions", 409),
    "ConcurrencyError": ("odoo.exceptions", 500),
    "SerializationFailure": ("psycopg2.errors", 500),
    "OperationalError": ("psycopg2", 500),
    "ValueError": ("builtins", 500),
    "TypeError": ("builtins", 500),
    "KeyError": ("builtins", 500),
    "IndexError": ("builtins", 500),
    "AttributeError": ("builtins", 500),
    "NameError": ("builtins", 500),
    "Exception": ("builtins", 500),
    "BadRequest": ("werkzeug.exceptions", 400),
    "Unauthorized": ("werkzeug.exceptions", 401),
    "Forbidden": ("werkzeug.exceptions", 403),
    "NotFound": ("werkzeug.exceptions", 404),
    "MethodNotAllowed": ("werkzeug.exceptions", 405),
    "UnprocessableEntity": ("werkzeug.exceptions", 422),
}
DEFAULT_MESSAGES = {"AccessDenied": "Access Denied", "SerializationFailure":
                    "could not serialize access due to concurrent update",
                    "LockError": "Cannot lock the record: it is being modified by another transaction."}
WERKZEUG_TEXTS = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: ("Not Found", "The requested URL was not found on the server. If you entered the URL manually please "
                       "check your spelling and try again."),
}

RULE_KEYS_EXTRA = {"latency", "odoo_error", "message"}
ODOO_MATCH_KEYS = ("transport", "service", "model", "odoo_method", "call")
MODEL_API = {"search_read", "search", "search_count", "create"}

PARTNER_TYPES = {"contact": "Contact", "invoice": "Invoice Address", "delivery": "Delivery Address",
                 "other": "Other Address"}
SO_STATES = {"draft": "Quotation", "sent": "Quotation Sent", "sale": "Sales Order", "cancel": "Cancelled"}
DELIVERY_STATUSES = {"pending": "Not Delivered", "started": "Started", "partial": "Partially Delivered",
                     "full": "Fully Delivered"}
INVOICE_STATUSES = {"upselling": "Upselling Opportunity", "invoiced": "Fully Invoiced", "to invoice": "To Invoice",
                    "no": "Nothing to Invoice"}
MOVE_TYPES = {"entry": "Journal Entry", "out_invoice": "Customer Invoice", "out_refund": "Customer Credit Note",
              "in_invoice": "Vendor Bill", "in_refund": "Vendor Credit Note", "out_receipt": "Sales Receipt",
              "in_receipt": "Purchase Receipt"}
MOVE_STATES = {"draft": "Draft", "posted": "Posted", "cancel": "Cancelled"}
PAYMENT_STATES = {"not_paid": "Not Paid", "in_payment": "In Payment", "paid": "Paid", "partial": "Partially Paid",
                  "reversed": "Reversed", "invoicing_legacy": "Invoicing App Legacy"}
LINE_DISPLAY_TYPES = {"line_section": "Section", "line_note": "Note"}
MOVE_LINE_DISPLAY_TYPES = {"product": "Product", "line_section": "Section", "line_note": "Note"}
PRODUCT_TYPES = {"consu": "Goods", "service": "Service", "combo": "Combo"}
PICKING_STATES = {"draft": "Draft", "waiting": "Waiting Another Operation", "confirmed": "Waiting",
                  "assigned": "Ready", "done": "Done", "cancel": "Cancelled"}
STOCK_MOVE_STATES = {"draft": "New", "waiting": "Waiting Another Move", "confirmed": "Waiting Availability",
                     "partially_available": "Partially Available", "assigned": "Available", "done": "Done",
                     "cancel": "Cancelled"}
PICKING_TYPE_CODES = {"incoming": "Receipt", "outgoing": "Delivery", "internal": "Internal Transfer"}
CUSTOMER_LOCATION = 5
OUT_PICKING_TYPE = 2               # stock.picking.type "Delivery Orders" in a fresh database (1 is Receipts)
BACKORDER_VIEW_ID = 1201           # stock.view_backorder_confirmation (the id is this simulator's)
# _get_without_quantities_error_message as Odoo 17 / 18 word it (Odoo 19 says "Transfer trouble alert! ...").
NO_QUANTITY_MESSAGE = ("You cannot validate a transfer if no quantities are reserved. To force the transfer, "
                       "encode quantities.")
EMPTY_TRANSFER_MESSAGE = "You can’t validate an empty transfer. Please add some products to move before proceeding."
LOCATION_USAGES = {"supplier": "Vendor Location", "view": "View", "internal": "Internal Location",
                   "customer": "Customer Location", "inventory": "Inventory Loss", "production": "Production",
                   "transit": "Transit Location"}

POSITIVE_OPS = {"=", "in", "like", "ilike", "=like", "=ilike", "<", ">", "<=", ">=", "=?", "child_of", "parent_of"}
NEGATIVE_OPS = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}
ALL_OPS = POSITIVE_OPS | set(NEGATIVE_OPS) | {"<>", "=="}
ORDER_PART = re.compile(r"^\s*([a-z_][a-z0-9_]*)(?:\s+(asc|desc))?(?:\s+nulls\s+(first|last))?\s*$", re.I)

OdooCall = collections.namedtuple("OdooCall", "transport service model method")


def odoo_call(info):
    """Which Odoo call a request (a RequestInfo or a Call: anything with path and body) is:
    OdooCall(transport "json2" / "jsonrpc", service "object" / "common" / ..., model or None, method), else None."""
    path = info.path or ""
    if path.startswith("/json/2/"):
        segs = path.split("/")[3:]
        if len(segs) == 2 and all(segs):
            return OdooCall("json2", "object", segs[0], segs[1])
        return None
    if path.rstrip("/") == "/jsonrpc" and isinstance(info.body, dict):
        params = info.body.get("params")
        if not isinstance(params, dict):
            return None
        service, method, args = params.get("service"), params.get("method"), params.get("args")
        if service == "object" and method in ("execute_kw", "execute") and isinstance(args, list) and len(args) >= 5:
            return OdooCall("jsonrpc", "object", args[3], args[4])
        return OdooCall("jsonrpc", service, None, method)
    return None


# --- errors -------------------------------------------------------------------------------------------------

class _OdooError(Exception):
    """An exception as Odoo's dispatchers report it (serialize_exception)."""

    def __init__(self, cls, message=None, arguments=None, headers=()):
        module, self.status = EXCEPTIONS[cls]
        if message is None:
            message = DEFAULT_MESSAGES.get(cls, "")
        super().__init__(message)
        self.cls, self.module, self.message = cls, module, message
        if arguments is None:
            arguments = [message, self.status] if module == "werkzeug.exceptions" else [message]
        self.arguments = list(arguments)
        self.headers = list(headers)

    @property
    def name(self):
        return f"{self.module}.{self.cls}"

    def serialize(self):
        where = ('  File "/opt/odoo/odoo/addons/rpc/controllers/json2.py", line 96, in web_json_2_rpc\n'
                 "    result = func(records, **kwargs)\n")
        debug = ("Traceback (most recent call last):\n"
                 '  File "/opt/odoo/odoo/http.py", line 2160, in _serve_db\n'
                 "    return service_model.retrying(serve_func, env=self.env)\n"
                 f"{where}{self.name}: {self.message}\n")
        return {"name": self.name, "message": self.message, "arguments": self.arguments, "context": {},
                "debug": debug}


def _err(cls, message=None, arguments=None):
    return _OdooError(cls, message, arguments)


def _missing(model, rid, uid):
    return _err("MissingError", f"Record does not exist or has been deleted.\n(Record: {model}({rid},), User: {uid})")


def _html_error(status):
    title, text = WERKZEUG_TEXTS.get(status, ("Error", ""))
    return (f"<!doctype html>\n<html lang=en>\n<title>{status} {title}</title>\n<h1>{title}</h1>\n<p>{text}</p>\n"
            ).encode()


def _round2(value):
    return float(decimal.Decimal(repr(float(value))).quantize(decimal.Decimal("0.01"), decimal.ROUND_HALF_UP))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _empty(value):
    return value is None or value is False


def _parse_dt(value):
    """A domain value or stored value as a datetime for comparisons (lenient, as PostgreSQL reads a literal)."""
    if isinstance(value, datetime.datetime):
        return value
    text = str(value).strip().replace("T", " ")
    if text.endswith(("Z", "z")):
        text = text[:-1]
    text = re.sub(r"[+-]\d\d:?\d\d$", "", text)
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _err("ValueError", f"invalid input syntax for type timestamp: {value!r}")


# --- scripted rules -----------------------------------------------------------------------------------------

class _OdooRule(_Rule):
    """The shared rule plus the Odoo keys: latency (an alias of delay), odoo_error and message, and the match keys
    transport, service, model, odoo_method and call."""
    __slots__ = ("odoo_match", "odoo_error", "odoo_message")

    def __init__(self, spec):
        odoo_match, odoo_error, message = {}, None, None
        if isinstance(spec, dict):
            spec = dict(spec)
            if "latency" in spec:
                if "delay" in spec:
                    raise ValueError("give delay or latency, not both")
                spec["delay"] = spec.pop("latency")
            odoo_error, message = spec.pop("odoo_error", None), spec.pop("message", None)
            if odoo_error is not None and odoo_error not in EXCEPTIONS:
                raise ValueError(f"unknown odoo_error {odoo_error!r}; known: {sorted(EXCEPTIONS)}")
            match = spec.get("match")
            if isinstance(match, dict):
                match = dict(match)
                for key in ODOO_MATCH_KEYS:
                    if key in match:
                        odoo_match[key] = match.pop(key)
                spec["match"] = match or None
        super().__init__(spec)
        self.odoo_match, self.odoo_error, self.odoo_message = odoo_match, odoo_error, message

    def applies(self, info):
        if not super().applies(info):
            return False
        if not self.odoo_match:
            return True
        call = odoo_call(info)
        if call is None:
            return False
        m = self.odoo_match
        if "call" in m:
            model, _, method = str(m["call"]).partition("/")
            if (call.model, call.method) != (model, method):
                return False
        return all(m[k] == v for k, v in (("transport", call.transport), ("service", call.service),
                                          ("model", call.model), ("odoo_method", call.method)) if k in m)


# --- models -------------------------------------------------------------------------------------------------

class _Field:
    __slots__ = ("type", "comodel", "string", "selection", "compute", "inverse", "readonly")

    def __init__(self, type_, comodel=None, string=None, *, selection=None, compute=None, inverse=None,
                 readonly=False):
        self.type, self.comodel, self.string, self.selection = type_, comodel, string, selection
        self.compute, self.inverse = compute, inverse
        self.readonly = readonly or compute is not None or type_ == "o2m"


F = _Field


class _Model:
    def __init__(self, name, description, order, fields, display=None, next_id=1, create=False, write=False,
                 methods=()):
        self.name, self.description, self.order = name, description, order
        self.fields = {"id": F("int", readonly=True, string="ID")}
        self.fields.update(fields)
        self.fields["display_name"] = F("char", string="Display Name", compute=lambda rec: None)
        self.display = display
        self.records = {}
        self.next_id = next_id
        self.can_create, self.can_write = create, write
        self.methods = {"search_read", "search", "search_count", "read", "create", "write"} | set(methods)


class _Ctx:
    """Per-request state."""
    __slots__ = ("reset_after", "context")

    def __init__(self):
        self.reset_after = False
        self.context = {}


class _Signature:
    """A method's parameters as Python would bind them (inspect.Signature), besides self / the ids."""

    def __init__(self, *params, kwonly=()):
        empty = inspect.Parameter.empty
        ps = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for n, d in params]
        ps += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in kwonly]
        self.sig = inspect.Signature(ps)
        self.required = [n for n, d in params if d is empty]

    def bind(self, args, kwargs):
        bound = self.sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)


REQUIRED = inspect.Parameter.empty
SIGNATURES = {
    "search_read": _Signature(("domain", None), ("fields", None), ("offset", 0), ("limit", None), ("order", None),
                              kwonly=(("load", "_classic_read"),)),
    "search": _Signature(("domain", REQUIRED), ("offset", 0), ("limit", None), ("order", None)),
    "search_count": _Signature(("domain", REQUIRED), ("limit", None)),
    "read": _Signature(("fields", None), ("load", "_classic_read")),
    "create": _Signature(("vals_list", REQUIRED)),
    "write": _Signature(("vals", REQUIRED)),
    "action_confirm": _Signature(),
    "action_cancel": _Signature(),
    "action_lock": _Signature(),
    "action_unlock": _Signature(),
    "action_post": _Signature(),
    "button_validate": _Signature(),
}
RPC_SIGNATURES = {
    "common": {"login": _Signature(("db", REQUIRED), ("login", REQUIRED), ("password", REQUIRED)),
               "authenticate": _Signature(("db", REQUIRED), ("login", REQUIRED), ("password", REQUIRED),
                                          ("user_agent_env", REQUIRED)),
               "version": _Signature()},
    "db": {"list": _Signature(("document", False)), "server_version": _Signature()},
}


class _Site:
    def __init__(self, db, login, api_key, password, uid, products, rate_limit, currency, cancel_wizard,
                 rpc_create_needs_positional, services=()):
        self.db, self.login, self.api_key = str(db), str(login), str(api_key)
        self.password = None if password is None else str(password)
        self.uid = int(uid)
        self.rate_limit = None if rate_limit is None else int(rate_limit)
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 request per second (None: no limit)")
        self.currency = str(currency)
        self.cancel_wizard = bool(cancel_wizard)
        self.rpc_create_needs_positional = bool(rpc_create_needs_positional)
        self.cond = threading.Condition(threading.RLock())
        self.rules, self.calls = [], []
        self.recent = collections.deque()     # monotonic times of the requests the proxy let through (last 1 s)
        self.outage = False
        self.ack_then_reset = 0
        self.sequences = collections.Counter()
        self.journal = None                   # the undo log of the running transaction
        self.last_quant_stamp = None
        self.models = {}
        self._define_models()
        self._seed(products, services)

    # --- clock -----------------------------------------------------------------------------------------------
    @staticmethod
    def _utcnow():
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)

    def _now(self):
        return self._utcnow().strftime("%Y-%m-%d %H:%M:%S")

    def _today(self):
        return self._utcnow().strftime("%Y-%m-%d")

    def _quant_stamp(self):
        now = self._utcnow()
        if self.last_quant_stamp is not None and now <= self.last_quant_stamp:
            now = self.last_quant_stamp + datetime.timedelta(seconds=1)
        self.last_quant_stamp = now
        return now.strftime("%Y-%m-%d %H:%M:%S")

    # --- schema ----------------------------------------------------------------------------------------------
    def _define_models(self):
        add = self._add_model
        stamps = {"create_date": F("datetime", string="Created on", readonly=True),
                  "write_date": F("datetime", string="Last Updated on", readonly=True),
                  "create_uid": F("m2o", "res.users", "Created by", readonly=True),
                  "write_uid": F("m2o", "res.users", "Last Updated by", readonly=True)}
        add("res.users", "User", "name, id", {"name": F("char", string="Name"), "login": F("char", string="Login")})
        add("res.currency", "Currency", "name, id", {"name": F("char"), "symbol": F("char")})
        add("res.company", "Companies", "sequence, name, id",
            {"name": F("char"), "currency_id": F("m2o", "res.currency", "Currency")})
        add("uom.uom", "Product Unit of Measure", "id", {"name": F("char")})
        add("product.pricelist", "Pricelist", "id", {"name": F("char"),
                                                     "currency_id": F("m2o", "res.currency", "Currency")},
            display=lambda rec: f"{rec['name']} ({self.currency})")
        add("account.journal", "Journal", "id", {"name": F("char"), "code": F("char"), "type": F("char")})
        add("stock.lot", "Lot/Serial", "id", {"name": F("char")})
        add("stock.quant.package", "Packages", "id", {"name": F("char")})
        add("stock.location", "Inventory Locations", "complete_name, id",
            {"name": F("char"), "complete_name": F("char"),
             "usage": F("selection", selection=LOCATION_USAGES, string="Location Type"),
             "active": F("bool")}, display=lambda rec: rec["complete_name"])
        add("res.country", "Country", "name, id", {"name": F("char"), "code": F("char"), "phone_code": F("int")})
        add("res.country.state", "Country state", "country_id, code, id",
            {"name": F("char"), "code": F("char"), "country_id": F("m2o", "res.country", "Country")},
            display=lambda rec: f"{rec['name']} ({self._get('res.country', rec['country_id'])['code']})")
        add("res.partner", "Contact", "complete_name asc, id desc", {
            "name": F("char", string="Name"), "email": F("char"), "phone": F("char"), "mobile": F("char"),
            "street": F("char"), "street2": F("char"), "city": F("char"), "zip": F("char"),
            "country_id": F("m2o", "res.country", "Country"), "state_id": F("m2o", "res.country.state", "State"),
            "ref": F("char", string="Reference"), "vat": F("char", string="Tax ID"), "function": F("char"),
            "website": F("char"), "comment": F("html", string="Notes"), "lang": F("char"),
            "company_name": F("char"), "parent_id": F("m2o", "res.partner", "Related Company"),
            "child_ids": F("o2m", "res.partner", "Contact", inverse="parent_id"),
            "type": F("selection", selection=PARTNER_TYPES, string="Address Type"),
            "is_company": F("bool"), "active": F("bool"), "customer_rank": F("int"),
            "company_id": F("m2o", "res.company", "Company"),
            "complete_name": F("char", compute=self._partner_name),
            "commercial_partner_id": F("m2o", "res.partner", "Commercial Entity",
                                       compute=lambda rec: self._commercial(rec)["id"]),
            **stamps}, display=self._partner_name, next_id=FIRST_PARTNER_ID, create=True, write=True)
        add("product.product", "Product Variant", "default_code, name, id", {
            "name": F("char", string="Name"), "default_code": F("char", string="Internal Reference"),
            "barcode": F("char"), "list_price": F("float", string="Sales Price"),
            "standard_price": F("float", string="Cost"),
            "type": F("selection", selection=PRODUCT_TYPES, string="Product Type"), "is_storable": F("bool"),
            "uom_id": F("m2o", "uom.uom", "Unit"), "sale_ok": F("bool"), "active": F("bool"),
            "qty_available": F("float", compute=lambda rec: self._stock_of(rec["id"])[0]),
            "free_qty": F("float", compute=lambda rec: self._stock_of(rec["id"])[1]),
            "virtual_available": F("float", compute=lambda rec: self._stock_of(rec["id"])[0]),
            **stamps}, display=self._product_name, next_id=FIRST_PRODUCT_ID, create=True, write=True)
        add("sale.order", "Sales Order", "date_order desc, id desc", {
            "name": F("char", string="Order Reference"),
            "state": F("selection", selection=SO_STATES, string="Status", readonly=True),
            "partner_id": F("m2o", "res.partner", "Customer"),
            "partner_invoice_id": F("m2o", "res.partner", "Invoice Address"),
            "partner_shipping_id": F("m2o", "res.partner", "Delivery Address"),
            "client_order_ref": F("char", string="Customer Reference"), "origin": F("char"),
            "reference": F("char"), "note": F("html"), "date_order": F("datetime", string="Order Date"),
            "commitment_date": F("datetime"), "company_id": F("m2o", "res.company", "Company"),
            "currency_id": F("m2o", "res.currency", "Currency"),
            "pricelist_id": F("m2o", "product.pricelist", "Pricelist"),
            "user_id": F("m2o", "res.users", "Salesperson"), "locked": F("bool", readonly=True),
            "order_line": F("o2m", "sale.order.line", "Order Lines", inverse="order_id"),
            "amount_untaxed": F("float", compute=lambda rec: self._amounts("sale.order", rec)[0]),
            "amount_tax": F("float", compute=lambda rec: 0.0),
            "amount_total": F("float", compute=lambda rec: self._amounts("sale.order", rec)[0]),
            "invoice_status": F("selection", selection=INVOICE_STATUSES,
                                compute=lambda rec: "to invoice" if rec["state"] == "sale" else "no"),
            "delivery_status": F("selection", selection=DELIVERY_STATUSES, readonly=True),
            "picking_ids": F("o2m", "stock.picking", "Transfers", inverse="sale_id"),
            **stamps}, display=lambda rec: rec["name"], create=True, write=True,
            methods=("action_confirm", "action_cancel", "action_lock", "action_unlock"))
        add("sale.order.line", "Sales Order Line", "order_id, sequence, id", {
            "order_id": F("m2o", "sale.order", "Order Reference", readonly=True), "sequence": F("int"),
            "product_id": F("m2o", "product.product", "Product"), "name": F("text", string="Description"),
            "product_uom_qty": F("float", string="Quantity"),
            "product_uom": F("m2o", "uom.uom", "Unit", compute=lambda rec: 1),
            "product_uom_id": F("m2o", "uom.uom", "Unit", compute=lambda rec: 1),
            "price_unit": F("float", string="Unit Price"), "discount": F("float", string="Discount (%)"),
            "price_subtotal": F("float", compute=self._line_subtotal),
            "price_tax": F("float", compute=lambda rec: 0.0),
            "price_total": F("float", compute=self._line_subtotal),
            "qty_delivered": F("float", readonly=True), "qty_invoiced": F("float", compute=lambda rec: 0.0),
            "state": F("selection", selection=SO_STATES,
                       compute=lambda rec: self._get("sale.order", rec["order_id"])["state"]),
            "display_type": F("selection", selection=LINE_DISPLAY_TYPES),
            "tax_id": F("m2m", "account.tax", "Taxes"), "tax_ids": F("m2m", "account.tax", "Taxes"),
            "order_partner_id": F("m2o", "res.partner", "Customer",
                                  compute=lambda rec: self._get("sale.order", rec["order_id"])["partner_id"]),
            "currency_id": F("m2o", "res.currency", "Currency", compute=lambda rec: 1),
            "move_ids": F("o2m", "stock.move", "Stock Moves", inverse="sale_line_id"),
            **stamps}, display=self._so_line_name)
        add("account.move", "Journal Entry", "date desc, name desc, id desc", {
            "name": F("char", string="Number", readonly=True),
            "move_type": F("selection", selection=MOVE_TYPES, string="Type"),
            "state": F("selection", selection=MOVE_STATES, string="Status", readonly=True),
            "partner_id": F("m2o", "res.partner", "Partner"), "ref": F("char", string="Reference"),
            "invoice_origin": F("char", string="Origin"), "invoice_date": F("date", string="Invoice/Bill Date"),
            "invoice_date_due": F("date", string="Due Date"), "date": F("date", string="Date"),
            "narration": F("html", string="Terms and Conditions"),
            "reversed_entry_id": F("m2o", "account.move", "Reversal of"),
            "journal_id": F("m2o", "account.journal", "Journal"),
            "currency_id": F("m2o", "res.currency", "Currency"), "company_id": F("m2o", "res.company", "Company"),
            "invoice_line_ids": F("o2m", "account.move.line", "Invoice lines", inverse="move_id"),
            "amount_untaxed": F("float", compute=lambda rec: self._amounts("account.move", rec)[0]),
            "amount_tax": F("float", compute=lambda rec: 0.0),
            "amount_total": F("float", compute=lambda rec: self._amounts("account.move", rec)[0]),
            "amount_total_signed": F("float", compute=self._move_signed_total),
            "amount_residual": F("float", compute=lambda rec: self._amounts("account.move", rec)[0]),
            "payment_state": F("selection", selection=PAYMENT_STATES, readonly=True),
            **stamps}, display=self._move_name, create=True, methods=("action_post",))
        add("account.move.line", "Journal Item", "move_id, sequence, id", {
            "move_id": F("m2o", "account.move", "Journal Entry", readonly=True), "sequence": F("int"),
            "name": F("char", string="Label"), "product_id": F("m2o", "product.product", "Product"),
            "quantity": F("float"), "price_unit": F("float", string="Unit Price"),
            "discount": F("float", string="Discount (%)"),
            "price_subtotal": F("float", compute=self._line_subtotal),
            "price_total": F("float", compute=self._line_subtotal),
            "display_type": F("selection", selection=MOVE_LINE_DISPLAY_TYPES),
            "tax_ids": F("m2m", "account.tax", "Taxes"),
            "partner_id": F("m2o", "res.partner", "Partner",
                            compute=lambda rec: self._get("account.move", rec["move_id"])["partner_id"]),
            "currency_id": F("m2o", "res.currency", "Currency", compute=lambda rec: 1),
            **stamps}, display=lambda rec: rec["name"] or self._move_name(self._get("account.move", rec["move_id"])))
        add("stock.quant", "Quants", "id", {
            "product_id": F("m2o", "product.product", "Product", readonly=True),
            "location_id": F("m2o", "stock.location", "Location", readonly=True),
            "lot_id": F("m2o", "stock.lot", "Lot/Serial Number", compute=lambda rec: False),
            "package_id": F("m2o", "stock.quant.package", "Package", compute=lambda rec: False),
            "owner_id": F("m2o", "res.partner", "Owner", compute=lambda rec: False),
            "company_id": F("m2o", "res.company", "Company", compute=lambda rec: 1),
            "quantity": F("float", readonly=True), "reserved_quantity": F("float", readonly=True),
            "available_quantity": F("float", compute=lambda rec: rec["quantity"] - rec["reserved_quantity"]),
            "product_uom_id": F("m2o", "uom.uom", "Unit", compute=lambda rec: 1),
            "in_date": F("datetime", readonly=True), **stamps},
            display=lambda rec: self.display("stock.location", rec["location_id"]))
        add("stock.picking.type", "Picking Type", "sequence, id", {
            "name": F("char", string="Operation Type"), "sequence": F("int"),
            "code": F("selection", selection=PICKING_TYPE_CODES, string="Type of Operation"),
            "sequence_code": F("char", string="Sequence Prefix"),
            "default_location_src_id": F("m2o", "stock.location", "Default Source Location"),
            "default_location_dest_id": F("m2o", "stock.location", "Default Destination Location"),
            "active": F("bool")}, display=lambda rec: f"My Company: {rec['name']}")
        add("stock.picking", "Transfer", "priority desc, scheduled_date asc, id desc", {
            "name": F("char", string="Reference"), "origin": F("char", string="Source Document"),
            "note": F("html", string="Notes"), "priority": F("selection", selection={"0": "Normal", "1": "Urgent"}),
            "state": F("selection", selection=PICKING_STATES, string="Status", readonly=True),
            "picking_type_id": F("m2o", "stock.picking.type", "Operation Type", readonly=True),
            "picking_type_code": F("selection", selection=PICKING_TYPE_CODES, string="Type of Operation",
                                   compute=lambda rec: self._get("stock.picking.type",
                                                                 rec["picking_type_id"])["code"]),
            "partner_id": F("m2o", "res.partner", "Contact"),
            "location_id": F("m2o", "stock.location", "Source Location"),
            "location_dest_id": F("m2o", "stock.location", "Destination Location"),
            "sale_id": F("m2o", "sale.order", "Sales Order"),
            "backorder_id": F("m2o", "stock.picking", "Back Order of", readonly=True),
            "backorder_ids": F("o2m", "stock.picking", "Back Orders", inverse="backorder_id"),
            "move_ids": F("o2m", "stock.move", "Stock Moves", inverse="picking_id"),
            "move_ids_without_package": F("o2m", "stock.move", "Stock Moves", inverse="picking_id"),
            "carrier_tracking_ref": F("char", string="Tracking Reference"),
            "scheduled_date": F("datetime", string="Scheduled Date"),
            "date_deadline": F("datetime", string="Deadline"),
            "date_done": F("datetime", string="Date of Transfer", readonly=True),
            "company_id": F("m2o", "res.company", "Company", readonly=True),
            "user_id": F("m2o", "res.users", "Responsible"),
            **stamps}, display=lambda rec: rec["name"], write=True, methods=("button_validate",))
        add("stock.move", "Stock Move", "sequence, id", {
            "name": F("char", string="Description"), "sequence": F("int"),
            "reference": F("char", compute=lambda rec: (self._get("stock.picking", rec["picking_id"]) or
                                                        {}).get("name") or rec["name"]),
            "origin": F("char", string="Source Document", readonly=True),
            "state": F("selection", selection=STOCK_MOVE_STATES, string="Status", readonly=True),
            "picking_id": F("m2o", "stock.picking", "Transfer", readonly=True),
            "picking_type_id": F("m2o", "stock.picking.type", "Operation Type", readonly=True),
            "picking_code": F("selection", selection=PICKING_TYPE_CODES,
                              compute=lambda rec: self._get("stock.picking.type", rec["picking_type_id"])["code"]),
            "product_id": F("m2o", "product.product", "Product", readonly=True),
            "product_uom_qty": F("float", string="Demand"), "quantity": F("float", string="Quantity"),
            "product_qty": F("float", string="Real Quantity", compute=lambda rec: rec["product_uom_qty"]),
            "picked": F("bool", string="Picked"),
            "product_uom": F("m2o", "uom.uom", "Unit", compute=lambda rec: 1),
            "uom_id": F("m2o", "uom.uom", "Unit", compute=lambda rec: 1),
            "location_id": F("m2o", "stock.location", "Source Location", readonly=True),
            "location_dest_id": F("m2o", "stock.location", "Destination Location", readonly=True),
            "partner_id": F("m2o", "res.partner", "Destination Address", readonly=True),
            "sale_line_id": F("m2o", "sale.order.line", "Sale Line", readonly=True),
            "company_id": F("m2o", "res.company", "Company", readonly=True),
            "date": F("datetime", string="Date Scheduled", readonly=True),
            **stamps}, display=self._stock_move_name, write=True)

    def _add_model(self, name, description, order, fields, display=None, **kwargs):
        self.models[name] = _Model(name, description, order, fields, display, **kwargs)

    def _seed(self, products, services=()):
        now = self._now()
        self._insert("res.users", {"id": self.uid, "name": "Bot", "login": self.login}, stamp=False)
        self._insert("res.currency", {"id": 1, "name": self.currency, "symbol": self.currency}, stamp=False)
        self._insert("res.company", {"id": 1, "name": "My Company", "currency_id": 1}, stamp=False)
        self._insert("uom.uom", {"id": 1, "name": "Units"}, stamp=False)
        self._insert("product.pricelist", {"id": 1, "name": "Default", "currency_id": 1}, stamp=False)
        self._insert("account.journal", {"id": 1, "name": "Customer Invoices", "code": "INV", "type": "sale"},
                     stamp=False)
        for lid, (name, complete, usage) in LOCATIONS.items():
            self._insert("stock.location", {"id": lid, "name": name, "complete_name": complete, "usage": usage,
                                            "active": True}, stamp=False)
        for code, (cid, name) in COUNTRIES.items():
            self._insert("res.country", {"id": cid, "name": name, "code": code, "phone_code": PHONE_CODES[code]},
                         stamp=False)
        for i, (country, code, name) in enumerate(STATES, 1):
            self._insert("res.country.state", {"id": i, "name": name, "code": code,
                                               "country_id": COUNTRIES[country][0]}, stamp=False)
        self._insert("stock.picking.type", {"id": 1, "name": "Receipts", "sequence": 1, "code": "incoming",
                                            "sequence_code": "IN", "default_location_src_id": 4,
                                            "default_location_dest_id": STOCK_LOCATION, "active": True}, stamp=False)
        self._insert("stock.picking.type", {"id": OUT_PICKING_TYPE, "name": "Delivery Orders", "sequence": 2,
                                            "code": "outgoing", "sequence_code": "OUT",
                                            "default_location_src_id": STOCK_LOCATION,
                                            "default_location_dest_id": CUSTOMER_LOCATION, "active": True},
                     stamp=False)
        named = dict(products.items() if isinstance(products, dict) else ((sku, None) for sku in products))
        services = {str(sku) for sku in (services or ())}
        for sku in sorted(services - {str(k) for k in named}):
            named[sku] = None
        for sku, name in named.items():
            vals = {"default_code": str(sku), "name": name or f"Product {sku}"}
            if str(sku) in services:
                vals["type"] = "service"
            self._create_record("product.product", vals, now)

    # --- storage ---------------------------------------------------------------------------------------------
    def _insert(self, model, rec, stamp=True):
        m = self.models[model]
        if "id" not in rec:
            rec["id"] = m.next_id
            m.next_id += 1
        for fname, f in m.fields.items():
            if f.compute is None and f.type not in ("o2m",) and fname not in rec:
                rec[fname] = [] if f.type == "m2m" else (0.0 if f.type == "float" else False)
        if stamp and "create_date" in m.fields:
            rec["create_date"] = rec["write_date"] = self._now()
            rec["create_uid"] = rec["write_uid"] = self.uid
        if self.journal is not None:
            self.journal.append((m, rec["id"], None))
        m.records[rec["id"]] = rec
        return rec

    def _touch(self, model, rid):
        """The stored record, journalled for rollback before the caller changes it."""
        m = self.models[model]
        rec = m.records[rid]
        if self.journal is not None:
            self.journal.append((m, rid, copy.deepcopy(rec)))
        return rec

    def _get(self, model, rid):
        return self.models[model].records.get(rid) if rid else None

    def transaction(self, fn):
        """Runs fn as one Odoo transaction: on an exception every change is undone, except that record ids and
        sale.order numbers stay used (PostgreSQL sequences are not rolled back); invoice numbers are gapless."""
        saved_seq = collections.Counter(self.sequences)
        self.journal = []
        try:
            return fn()
        except BaseException:
            for m, rid, old in reversed(self.journal):
                if old is None:
                    m.records.pop(rid, None)
                else:
                    m.records[rid] = old
            for key in ("sale.order", "stock.picking.out"):      # ir.sequence "standard": not rolled back
                saved_seq[key] = self.sequences[key]
            self.sequences = saved_seq
            raise
        finally:
            self.journal = None

    # --- computed values -------------------------------------------------------------------------------------
    def display(self, model, rid):
        m = self.models[model]
        rec = m.records.get(rid)
        if rec is None:
            return False
        if m.display is not None:
            return m.display(rec)
        return rec.get("name") or f"{model},{rid}"

    def _commercial(self, rec):
        partners = self.models["res.partner"].records
        seen = set()
        while not rec.get("is_company") and rec.get("parent_id") and rec["id"] not in seen:
            seen.add(rec["id"])
            parent = partners.get(rec["parent_id"])
            if parent is None:
                break
            rec = parent
        return rec

    def _partner_name(self, rec):
        """res.partner._get_complete_name (Odoo 17+)."""
        name = rec.get("name") or ""
        parent = self._get("res.partner", rec.get("parent_id"))
        if rec.get("company_name") or parent:
            if not name and rec.get("type") in ("invoice", "delivery", "other"):
                name = PARTNER_TYPES[rec["type"]]
            if not rec.get("is_company"):
                commercial = self._commercial(rec)
                company = commercial.get("name") if commercial.get("is_company") else rec.get("company_name")
                name = f"{company or (parent or {}).get('name') or ''}, {name}"
        return name.strip()

    @staticmethod
    def _product_name(rec):
        return f"[{rec['default_code']}] {rec['name']}" if rec.get("default_code") else (rec.get("name") or "")

    def _so_line_name(self, rec):
        order = self._get("sale.order", rec["order_id"])
        first = (rec.get("name") or "").split("\n")[0] or self.display("product.product", rec.get("product_id")) or ""
        return f"{order['name']} - {first}" if order else first

    def _stock_move_name(self, rec):
        """stock.move._compute_display_name: "<picking origin>/<product code>: <from>><to>"."""
        picking = self._get("stock.picking", rec["picking_id"]) or {}
        product = self._get("product.product", rec["product_id"]) or {}
        src, dest = (LOCATIONS.get(rec[k], ("", "", ""))[0] for k in ("location_id", "location_dest_id"))
        return (f"{picking['origin'] + '/' if picking.get('origin') else ''}"
                f"{product['default_code'] + ': ' if product.get('default_code') else ''}{src}>{dest}")

    def _move_name(self, rec):
        if rec["state"] == "draft" and rec["name"] in ("/", False):
            kind = {"out_invoice": "Invoice", "out_refund": "Credit Note"}.get(rec["move_type"], "Entry")
            return f"Draft {kind} (* {rec['id']})"
        return rec["name"]

    def _stock_of(self, product_id):
        on_hand = free = 0.0
        for q in self.models["stock.quant"].records.values():
            if q["product_id"] == product_id and LOCATIONS.get(q["location_id"], ("", "", ""))[2] == "internal":
                on_hand += q["quantity"]
                free += q["quantity"] - q["reserved_quantity"]
        return on_hand, free

    def _line_subtotal(self, rec):
        if rec.get("display_type") in ("line_section", "line_note"):
            return 0.0
        qty = rec.get("product_uom_qty", rec.get("quantity")) or 0.0
        return _round2(qty * (rec.get("price_unit") or 0.0) * (1 - (rec.get("discount") or 0.0) / 100.0))

    def _lines_of(self, model, rid):
        line_model, inverse = ("sale.order.line", "order_id") if model == "sale.order" else \
            ("account.move.line", "move_id")
        lines = [r for r in self.models[line_model].records.values() if r[inverse] == rid]
        return sorted(lines, key=lambda r: (r.get("sequence") or 0, r["id"]))

    def _amounts(self, model, rec):
        untaxed = _round2(sum(self._line_subtotal(r) for r in self._lines_of(model, rec["id"])))
        return untaxed, 0.0

    def _move_signed_total(self, rec):
        total = self._amounts("account.move", rec)[0]
        return -total if rec["move_type"] in ("out_refund", "in_invoice") else total

    # --- reading ---------------------------------------------------------------------------------------------
    def raw(self, model, rec, fname):
        """A field's value as the ORM holds it: Many2one an id or False, x2many a list of ids."""
        m = self.models[model]
        f = m.fields[fname]
        if fname == "display_name":
            return self.display(model, rec["id"])
        if f.compute is not None:
            return f.compute(rec)
        if f.type == "o2m":
            co = self.models[f.comodel]
            ids = [r["id"] for r in co.records.values() if r.get(f.inverse) == rec["id"]]
            if f.comodel in ("sale.order.line", "account.move.line"):
                return [r["id"] for r in self._lines_of(model, rec["id"])]
            return sorted(ids)
        value = rec.get(fname, False)
        return value if value is not None else False

    def out(self, model, fname, value, load):
        f = self.models[model].fields[fname]
        if f.type == "m2o":
            if _empty(value):
                return False
            return [value, self.display(f.comodel, value)] if load else value
        if f.type in ("o2m", "m2m"):
            return list(value or [])
        if f.type == "float":
            return float(value or 0.0)
        if f.type == "int":
            return int(value or 0) if not _empty(value) else 0
        return copy.deepcopy(value)

    def read(self, model, ids, fields=None, load="_classic_read"):
        m = self.models[model]
        if fields in (None, False) or fields == []:
            names = list(m.fields)
        else:
            if isinstance(fields, str):
                fields = [fields]
            if not isinstance(fields, list):
                raise _err("ValueError", f"Invalid fields {fields!r}")
            invalid = [f for f in fields if not isinstance(f, str) or f not in m.fields]
            if invalid:
                raise _err("ValueError", f"Invalid field {invalid[0]!r} on model {model!r}")
            names = ["id"] + [f for f in dict.fromkeys(fields) if f != "id"]
        out = []
        for rid in ids:
            rec = m.records.get(rid)
            if rec is None:
                raise _missing(model, rid, self.uid)
            out.append({n: self.out(model, n, self.raw(model, rec, n), load) for n in names})
        return out

    def snapshot(self, model):
        m = self.models[model]
        return {row["id"]: row for row in self.read(model, sorted(m.records))}

    # --- domains ---------------------------------------------------------------------------------------------
    def search(self, model, domain, offset=0, limit=None, order=None):
        m = self.models[model]
        pred, names = self._domain(model, domain)
        if "active" in m.fields and "active" not in names:
            test = pred
            pred = lambda rec: rec.get("active") is True and test(rec)
        recs = [r for r in m.records.values() if pred(r)]
        recs = self._sort(model, recs, order or m.order)
        if offset not in (None, False):
            if not _is_int(offset):
                raise _err("ValueError", f"Invalid offset {offset!r}")
            recs = recs[offset:]
        if limit not in (None, False):
            if not _is_int(limit):
                raise _err("ValueError", f"Invalid limit {limit!r}")
            recs = recs[:limit]
        return [r["id"] for r in recs]

    def _domain(self, model, domain):
        """(predicate, names of the fields the domain uses) of an Odoo domain, normalised as
        odoo.osv.expression.normalize_domain does (implicit "&")."""
        if domain in (None, False):
            domain = []
        if not isinstance(domain, list):
            raise _err("ValueError", f"Invalid domain: {domain!r}")
        arity = {"!": 1, "&": 2, "|": 2}
        result, expected = [], 1
        for token in domain:
            if expected == 0:
                result[0:0] = ["&"]
                expected = 1
            if isinstance(token, list):
                expected -= 1
            elif isinstance(token, str) and token in arity:
                expected += arity[token] - 1
            else:
                raise _err("ValueError", f"Invalid domain term {token!r}")
            result.append(token)
        if domain and expected:
            raise _err("ValueError", f"Domain {domain!r} is syntactically not correct.")
        stack, names = [], set()
        for token in reversed(result):
            if token == "!":
                a = stack.pop()
                stack.append(lambda rec, a=a: not a(rec))
            elif token in ("&", "|"):
                a, b = stack.pop(), stack.pop()
                if token == "&":
                    stack.append(lambda rec, a=a, b=b: a(rec) and b(rec))
                else:
                    stack.append(lambda rec, a=a, b=b: a(rec) or b(rec))
            else:
                stack.append(self._leaf(model, token))
                names.add(str(token[0]).split(".")[0] if token else "")
        return (stack[0] if stack else (lambda rec: True)), names

    def _leaf(self, model, leaf):
        if len(leaf) != 3 or not isinstance(leaf[0], str) or not isinstance(leaf[1], str):
            raise _err("ValueError", f"Invalid leaf {leaf!r}")
        path, op, value = leaf
        op = op.lower()
        if op not in ALL_OPS:
            raise _err("ValueError", f"Invalid leaf {leaf!r}: operator {leaf[1]!r} is not supported")
        op = {"<>": "!=", "==": "="}.get(op, op)
        names = path.split(".")
        steps, m = [], self.models[model]
        for i, name in enumerate(names):
            f = m.fields.get(name)
            if f is None:
                raise _err("ValueError", f"Invalid field {m.name}.{name} in leaf {tuple(leaf)!r}")
            steps.append((m.name, name, f))
            if i < len(names) - 1:
                if f.type not in ("m2o", "o2m", "m2m") or f.comodel not in self.models:
                    raise _err("ValueError", f"Invalid field {m.name}.{name} in leaf {tuple(leaf)!r}: not a "
                                             f"relational field")
                m = self.models[f.comodel]
        last_model, last_name, last_field = steps[-1]
        negative = op in NEGATIVE_OPS
        positive = NEGATIVE_OPS.get(op, op)
        if positive in ("child_of", "parent_of"):
            return self._hierarchy_leaf(last_model, last_name, last_field, positive, value)

        def values_of(rec):
            current = [(model, rec)]
            for mname, name, f in steps[:-1]:
                nxt = []
                for cm, crec in current:
                    v = self.raw(cm, crec, name)
                    ids = v if isinstance(v, list) else ([] if _empty(v) else [v])
                    nxt += [(f.comodel, r) for r in (self._get(f.comodel, i) for i in ids) if r is not None]
                current = nxt
            out = []
            for cm, crec in current:
                v = self.raw(cm, crec, last_name)
                if last_field.type in ("o2m", "m2m"):
                    out += v or [False]
                else:
                    out.append(v)
            return out

        def match(rec):
            vals = values_of(rec)
            hit = any(self._compare(last_field, x, positive, value) for x in vals)
            return not hit if negative else hit
        return match

    def _hierarchy_leaf(self, model, name, field, op, value):
        target = field.comodel if field.type == "m2o" else model
        if "parent_id" not in self.models[target].fields:
            raise _err("ValueError", f"Invalid leaf: {op} needs a model with parent_id, not {target}")
        wanted = set(value if isinstance(value, list) else [value])

        def chain(rid):
            seen = []
            while rid and rid not in seen:
                seen.append(rid)
                rec = self._get(target, rid)
                rid = rec.get("parent_id") if rec else False
            return seen

        def match(rec):
            v = rec["id"] if name == "id" else self.raw(model, rec, name)
            ids = v if isinstance(v, list) else ([] if _empty(v) else [v])
            for rid in ids:
                if op == "child_of" and wanted & set(chain(rid)):
                    return True
                if op == "parent_of" and any(rid in chain(w) for w in wanted):
                    return True
            return False
        return match

    def _compare(self, field, x, op, v):
        if op == "=?":
            if _empty(v):
                return True
            op = "="
        if op == "in":
            values = v if isinstance(v, (list, tuple)) else [v]
            return any(self._equal(field, x, w) for w in values)
        if op == "=":
            return self._equal(field, x, v)
        if op in ("like", "ilike", "=like", "=ilike"):
            if _empty(x):
                return False
            text = self.display(field.comodel, x) if field.type == "m2o" else str(x)
            pattern = str(v) if op.startswith("=") else f"%{v}%"
            regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
            flags = re.DOTALL | (re.IGNORECASE if op.endswith("ilike") else 0)
            return re.fullmatch(regex, text or "", flags) is not None
        if _empty(x) and field.type != "bool":
            return False
        a, b = self._comparable(field, x, v)
        if a is None:
            return False
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]

    def _equal(self, field, x, v):
        if _empty(v):
            return _empty(x) if field.type != "bool" else x is False or x is None
        if _empty(x) and field.type != "bool":
            return False
        if field.type == "m2o" and isinstance(v, str):
            return self.display(field.comodel, x) == v
        a, b = self._comparable(field, x, v)
        return a is not None and a == b

    @staticmethod
    def _comparable(field, x, v):
        try:
            if field.type == "datetime":
                return _parse_dt(x), _parse_dt(v)
            if field.type == "date":
                return _parse_dt(x).date(), _parse_dt(v).date()
            if field.type in ("int", "float", "m2o", "o2m", "m2m") or (_is_number(x) and _is_number(v)):
                if isinstance(v, str):
                    v = float(v)
                return float(x), float(v)
            if field.type == "bool":
                return bool(x), bool(v)
            return str(x), str(v)
        except (TypeError, ValueError):
            return None, None

    def _sort(self, model, recs, order):
        m = self.models[model]
        if not isinstance(order, str):
            raise _err("ValueError", f"Invalid \"order\" specified ({order!r}).")
        keys = []
        for part in order.split(","):
            hit = ORDER_PART.match(part)
            f = m.fields.get(hit.group(1)) if hit else None
            if f is None or f.type in ("o2m", "m2m"):
                raise _err("ValueError", f"Invalid \"order\" specified ({order}). A valid \"order\" specification "
                                         f"is a comma-separated list of valid field names (optionally followed by "
                                         f"asc/desc for the direction)")
            desc = (hit.group(2) or "asc").lower() == "desc"
            nulls_first = hit.group(3).lower() == "first" if hit.group(3) else desc
            keys.append((hit.group(1), f, desc, nulls_first))
        recs = sorted(recs, key=lambda r: r["id"])
        for name, f, desc, nulls_first in reversed(keys):
            null_rank = (1 if nulls_first else 0) if desc else (0 if nulls_first else 1)

            def key(rec, name=name, f=f, null_rank=null_rank):
                v = self.raw(model, rec, name)
                if _empty(v) and f.type not in ("bool", "int", "float"):
                    return (null_rank, 0, "")
                if f.type == "m2o":
                    v = str(self.display(f.comodel, v)).casefold()
                elif f.type in ("int", "float", "bool"):
                    return (1 - null_rank, float(v or 0), "")
                elif isinstance(v, str):
                    return (1 - null_rank, 0, v.casefold())
                return (1 - null_rank, 0, str(v))
            recs.sort(key=key, reverse=desc)
        return recs

    # --- values for create / write ---------------------------------------------------------------------------
    def _convert(self, model, fname, value):
        f = self.models[model].fields[fname]
        t = f.type
        wrong = _err("ValueError", f"Wrong value for {model}.{fname}: {value!r}")
        if t in ("char", "text", "html"):
            if _empty(value):
                return False
            return value if isinstance(value, str) else str(value)
        if t in ("int", "float"):
            if _empty(value):
                return 0 if t == "int" else 0.0
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise wrong
            if not _is_number(value):
                raise wrong
            return int(value) if t == "int" else float(value)
        if t == "bool":
            return bool(value)
        if t == "selection":
            if _empty(value):
                return False
            if value not in f.selection:
                raise wrong
            return value
        if t == "date":
            if _empty(value):
                return False
            try:
                return datetime.datetime.strptime(str(value)[:10], "%Y-%m-%d").strftime("%Y-%m-%d")
            except ValueError:
                raise _err("ValueError", f"time data {str(value)!r} does not match format '%Y-%m-%d'")
        if t == "datetime":
            if _empty(value):
                return False
            text = str(value) + (" 00:00:00" if len(str(value)) == 10 else "")
            try:
                return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise _err("ValueError", f"time data {str(value)!r} does not match format '%Y-%m-%d %H:%M:%S'")
        if t == "m2o":
            if _empty(value):
                return False
            if not _is_int(value):
                raise wrong
            if f.comodel in self.models and value not in self.models[f.comodel].records:
                raise _missing(f.comodel, value, self.uid)
            return value
        if t == "m2m":
            ids = []
            for cmd in value or []:
                if _is_int(cmd):
                    ids.append(cmd)
                elif isinstance(cmd, list) and cmd and cmd[0] == 6 and len(cmd) == 3:
                    ids = [i for i in cmd[2] or [] if _is_int(i)]
                elif isinstance(cmd, list) and cmd and cmd[0] == 4 and len(cmd) >= 2 and _is_int(cmd[1]):
                    ids.append(cmd[1])
                elif isinstance(cmd, list) and cmd and cmd[0] == 5:
                    ids = []
                else:
                    raise wrong
            return ids
        raise wrong

    def _values(self, model, vals):
        """vals checked and converted: (stored values, {one2many field: commands})."""
        m = self.models[model]
        if not isinstance(vals, dict):
            raise _err("ValueError", f"Invalid values for {model}: {vals!r} (a dict of field values is expected)")
        stored, x2many = {}, {}
        for fname, value in vals.items():
            f = m.fields.get(fname)
            if f is None:
                raise _err("ValueError", f"Invalid field {fname!r} on model {model!r}")
            if f.type == "o2m":
                x2many[fname] = self._commands(model, fname, value)
            elif not f.readonly:
                stored[fname] = self._convert(model, fname, value)
        return stored, x2many

    def _commands(self, model, fname, value):
        """The values of the lines [0, 0, {...}] commands create, in order ([5] and [6, 0, []] clear)."""
        if _empty(value):
            return []
        if not isinstance(value, list):
            raise _err("ValidationError", f"Invalid value for the one2many field {model}.{fname}: {value!r}. A "
                                          f"list of commands such as [0, 0, {{values}}] is expected.")
        out = []
        for cmd in value:
            ok = isinstance(cmd, list) and cmd and _is_int(cmd[0])
            if ok and cmd[0] == 0 and len(cmd) == 3 and isinstance(cmd[2], dict):
                out.append(cmd[2])
            elif ok and (cmd[0] == 5 or (cmd[0] == 6 and len(cmd) == 3 and not cmd[2])):
                out.clear()
            else:
                raise _err("ValidationError", f"Invalid command for the one2many field {model}.{fname}: "
                                              f"{json.dumps(cmd)}. Lines are created with [0, 0, {{values}}] "
                                              f"(Command.create).")
        return out

    @staticmethod
    def _not_null(description, model, field_string, field):
        return _err("ValidationError", "The operation cannot be completed:\n"
                                       "- Create/update: a mandatory field is not set.\n"
                                       "- Delete: another model requires the record being deleted. If possible, "
                                       "archive it instead.\n\n"
                                       f"Model: {description} ({model})\nField: {field_string} ({field})\n")

    # --- create ----------------------------------------------------------------------------------------------
    def create(self, model, vals_list, ctx):
        m = self.models[model]
        if not m.can_create:
            if model == "stock.quant":
                raise _err("UserError", "Quant's creation is restricted, you can't do this operation.")
            raise _err("AccessError", f"You are not allowed to create '{m.description}' ({model}) records.\n\n"
                                      f"This operation is allowed for the following groups:\n\t- Administration/"
                                      f"Settings")
        single = isinstance(vals_list, dict)
        if single:
            vals_list = [vals_list]
        if not isinstance(vals_list, list):
            raise _err("ValueError", f"Invalid values for {model}: {vals_list!r} (a list of dicts is expected)")
        now = self._now()
        ids = [self._create_record(model, vals, now)["id"] for vals in vals_list]
        if model == "sale.order" and ids and self.ack_then_reset > 0:
            self.ack_then_reset -= 1
            ctx.reset_after = True
        return ids

    def _create_record(self, model, vals, now):
        stored, x2many = self._values(model, vals)
        if model == "res.partner":
            stored.setdefault("type", "contact")
            stored.setdefault("active", True)
            stored.setdefault("company_id", False)
            if stored["type"] == "contact" and not stored.get("name"):
                raise _err("ValidationError", "Contacts require a name")
            rec = self._insert(model, stored)
        elif model == "product.product":
            if not stored.get("name"):
                raise self._not_null("Product", "product.template", "Name", "name")
            stored.setdefault("type", "consu")
            stored.setdefault("is_storable", stored["type"] == "consu")
            if stored["type"] != "consu":
                stored["is_storable"] = False         # only goods can be tracked in stock (Odoo 18+)
            for key, default in (("uom_id", 1), ("sale_ok", True), ("active", True), ("list_price", 1.0)):
                stored.setdefault(key, default)
            rec = self._insert(model, stored)
        elif model == "sale.order":
            rec = self._create_sale_order(stored, x2many, now)
        elif model == "account.move":
            rec = self._create_move(stored, x2many)
        else:
            rec = self._insert(model, stored)
        return rec

    def _create_sale_order(self, stored, x2many, now):
        if not stored.get("partner_id"):
            raise self._not_null("Sales Order", "sale.order", "Customer", "partner_id")
        if stored.get("name") in (None, False, "New", "/"):
            self.sequences["sale.order"] += 1
            stored["name"] = f"S{self.sequences['sale.order']:05d}"
        for key in ("partner_invoice_id", "partner_shipping_id"):
            if not stored.get(key):
                stored[key] = stored["partner_id"]
        stored.update(state="draft", locked=False, delivery_status=False)
        for key, default in (("date_order", now), ("company_id", 1), ("currency_id", 1), ("pricelist_id", 1),
                             ("user_id", self.uid)):
            if not stored.get(key):
                stored[key] = default
        order = self._insert("sale.order", stored)
        for seq, line in enumerate(x2many.get("order_line", []), 1):
            self._create_so_line(order["id"], line, seq)
        return order

    def _create_so_line(self, order_id, vals, seq):
        stored, _ = self._values("sale.order.line", vals)
        product = self._get("product.product", stored.get("product_id"))
        if product is None and not stored.get("display_type"):
            raise _err("ValidationError", "Missing required fields on accountable sale order line.")
        stored["order_id"] = order_id
        stored.setdefault("sequence", 10 * seq)
        if "product_uom_qty" not in vals:
            stored["product_uom_qty"] = 0.0 if stored.get("display_type") else 1.0
        if "price_unit" not in vals:
            stored["price_unit"] = product["list_price"] if product else 0.0
        if not stored.get("name"):
            stored["name"] = self._product_name(product) if product else False
        stored["qty_delivered"] = 0.0
        return self._insert("sale.order.line", stored)

    def _create_move(self, stored, x2many):
        move_type = stored.get("move_type") or "entry"
        if move_type not in ("out_invoice", "out_refund"):
            raise _err("UserError", f"This simulator keeps customer invoices and credit notes only (move_type "
                                    f"'out_invoice' or 'out_refund'), not {move_type!r}.")
        stored.update(move_type=move_type, state="draft", name="/", payment_state="not_paid")
        for key, default in (("journal_id", 1), ("currency_id", 1), ("company_id", 1)):
            if not stored.get(key):
                stored[key] = default
        stored["date"] = stored.get("date") or stored.get("invoice_date") or self._today()
        if stored.get("invoice_date") and not stored.get("invoice_date_due"):
            stored["invoice_date_due"] = stored["invoice_date"]
        move = self._insert("account.move", stored)
        for seq, vals in enumerate(x2many.get("invoice_line_ids", []), 1):
            line, _ = self._values("account.move.line", vals)
            product = self._get("product.product", line.get("product_id"))
            line["move_id"] = move["id"]
            line.setdefault("sequence", 10 * seq)
            line.setdefault("display_type", "product")
            if "quantity" not in vals:
                line["quantity"] = 1.0
            if "price_unit" not in vals:
                line["price_unit"] = product["list_price"] if product else 0.0
            if not line.get("name") and product is not None:
                line["name"] = self._product_name(product)
            self._insert("account.move.line", line)
        return move

    # --- write and actions -----------------------------------------------------------------------------------
    def _records(self, model, ids):
        m = self.models[model]
        for rid in ids:
            if rid not in m.records:
                raise _missing(model, rid, self.uid)
        return [m.records[rid] for rid in ids]

    def write(self, model, ids, vals):
        m = self.models[model]
        if model == "stock.quant":
            raise _err("UserError", "Quant's editing is restricted, you can't do this operation.")
        if not m.can_write:
            raise _err("AccessError", f"You are not allowed to modify '{m.description}' ({model}) records.\n\n"
                                      f"This operation is allowed for the following groups:\n\t- Administration/"
                                      f"Settings")
        records = self._records(model, ids)
        stored, x2many = self._values(model, vals)
        if model == "stock.move":
            for move in records:
                if move["state"] == "cancel":
                    raise _err("UserError", "You cannot change a cancelled stock move, create a new line instead.")
                if move["state"] == "done":
                    raise _err("UserError", f"You cannot change the stock move {self._stock_move_name(move)}: it is "
                                            f"done (its transfer is validated). Return the goods instead.")
        now = self._now()
        for rid in ids:
            rec = self._touch(model, rid)
            rec.update(stored)
            rec["write_date"], rec["write_uid"] = now, self.uid
            if model == "res.partner" and rec["type"] == "contact" and not rec.get("name"):
                raise _err("ValidationError", "Contacts require a name")
            for seq, line in enumerate(x2many.get("order_line", []), 1):
                self._create_so_line(rid, line, 100 + seq)
        return True

    def action_confirm(self, ids):
        orders = self._records("sale.order", ids)
        for order in orders:
            if order["state"] not in ("draft", "sent"):
                raise _err("UserError", "Some orders are not in a state requiring confirmation.")
            lines = self._lines_of("sale.order", order["id"])
            if any(not line.get("display_type") and not line.get("product_id") for line in lines):
                raise _err("UserError", "A line on these orders missing a product, you cannot confirm it.")
        now = self._now()
        for order in orders:
            rec = self._touch("sale.order", order["id"])
            rec.update(state="sale", date_order=now, delivery_status="pending", write_date=now)
            self._create_delivery(rec, now)
            self._refresh_order(rec["id"], now)
        return True

    # --- stock.picking / stock.move (sale_stock, stock) ------------------------------------------------------
    def _next_picking_name(self):
        self.sequences["stock.picking.out"] += 1
        return f"WH/OUT/{self.sequences['stock.picking.out']:05d}"

    def _create_delivery(self, order, now):
        """sale_stock's _action_launch_stock_rule: one outgoing picking, a move per goods line (none for
        services, sections and notes, or a zero quantity)."""
        lines = []
        for line in self._lines_of("sale.order", order["id"]):
            product = self._get("product.product", line.get("product_id"))
            if line.get("display_type") or product is None or product["type"] != "consu":
                continue
            if (line.get("product_uom_qty") or 0.0) <= 0:
                continue
            lines.append((line, product))
        if not lines:
            return None
        picking = self._insert("stock.picking", {
            "name": self._next_picking_name(), "origin": order["name"], "priority": "0", "state": "assigned",
            "picking_type_id": OUT_PICKING_TYPE, "partner_id": order["partner_shipping_id"],
            "location_id": STOCK_LOCATION, "location_dest_id": CUSTOMER_LOCATION, "sale_id": order["id"],
            "carrier_tracking_ref": False, "backorder_id": False, "scheduled_date": order.get("commitment_date") or now,
            "date_deadline": order.get("commitment_date") or False, "date_done": False, "company_id": 1,
            "user_id": False})
        for seq, (line, product) in enumerate(lines, 1):
            self._insert("stock.move", {
                "name": (line.get("name") or self._product_name(product)).split("\n")[0], "sequence": seq,
                "origin": order["name"], "state": "assigned", "picking_id": picking["id"],
                "picking_type_id": OUT_PICKING_TYPE, "product_id": product["id"],
                "product_uom_qty": float(line["product_uom_qty"]), "quantity": 0.0, "picked": False,
                "location_id": STOCK_LOCATION, "location_dest_id": CUSTOMER_LOCATION,
                "partner_id": order["partner_shipping_id"], "sale_line_id": line["id"], "company_id": 1, "date": now})
        return picking

    def _picking_moves(self, picking_id):
        moves = [m for m in self.models["stock.move"].records.values() if m["picking_id"] == picking_id]
        return sorted(moves, key=lambda m: (m.get("sequence") or 0, m["id"]))

    def _order_pickings(self, order_id):
        return sorted((p for p in self.models["stock.picking"].records.values() if p["sale_id"] == order_id),
                      key=lambda p: p["id"])

    def _refresh_order(self, order_id, now=None):
        """The stored computes that follow the pickings: sale.order.line.qty_delivered (the done outgoing moves'
        quantities, for lines with moves) and sale.order.delivery_status (sale_stock _compute_delivery_status).
        An order without pickings keeps its delivery_status (see set_delivered)."""
        now = now or self._now()
        moves = [m for m in self.models["stock.move"].records.values()
                 if m["sale_line_id"] and self._get("sale.order.line", m["sale_line_id"])["order_id"] == order_id]
        delivered = collections.defaultdict(float)
        for m in moves:
            if m["state"] == "done":
                delivered[m["sale_line_id"]] += m["quantity"]
        for line_id in {m["sale_line_id"] for m in moves}:
            line = self.models["sale.order.line"].records[line_id]
            if line["qty_delivered"] != delivered[line_id]:
                line = self._touch("sale.order.line", line_id)
                line.update(qty_delivered=delivered[line_id], write_date=now)
        pickings = self._order_pickings(order_id)
        if not pickings:
            return
        states = [p["state"] for p in pickings]
        if all(st == "cancel" for st in states):
            status = False
        elif all(st in ("done", "cancel") for st in states):
            status = "full"
        elif "done" in states and any(l["qty_delivered"] for l in self._lines_of("sale.order", order_id)):
            status = "partial"
        elif "done" in states:
            status = "started"
        else:
            status = "pending"
        order = self.models["sale.order"].records[order_id]
        if order["delivery_status"] != status:
            order = self._touch("sale.order", order_id)
            order.update(delivery_status=status, write_date=now)

    def button_validate(self, ids, context):
        """stock.picking.button_validate (Odoo 17+): _sanity_check, _pre_action_done_hook (picked, the backorder
        wizard), then _action_done with or without a backorder."""
        pickings = self._records("stock.picking", ids)
        for picking in pickings:
            moves = self._picking_moves(picking["id"])
            if not moves:
                raise _err("UserError", EMPTY_TRANSFER_MESSAGE)
            todo = [m for m in moves if m["state"] not in ("done", "cancel")]
            has_pick = any(m["picked"] for m in todo)
            if all(not m["quantity"] for m in todo if not has_pick or m["picked"]):
                raise _err("UserError", NO_QUANTITY_MESSAGE)        # also a done or cancelled picking
        now = self._now()
        for picking in pickings:                                     # _pre_action_done_hook
            moves = self._picking_moves(picking["id"])
            if any(m["quantity"] for m in moves) and not any(m["picked"] for m in moves):
                for m in moves:
                    self._touch("stock.move", m["id"]).update(picked=True, write_date=now)
        context = context if isinstance(context, dict) else {}
        if not context.get("skip_backorder"):
            to_backorder = [p for p in pickings if any(
                (m["product_uom_qty"] and not m["picked"]) or
                (m["quantity"] if m["picked"] else 0.0) < m["product_uom_qty"]
                for m in self._picking_moves(p["id"]) if m["state"] != "cancel")]
            if to_backorder:
                ctx = dict(context, button_validate_picking_ids=[p["id"] for p in pickings])
                ctx.update(default_show_transfers=len(pickings) > 1,
                           default_pick_ids=[[4, p["id"]] for p in to_backorder])
                return {"name": "Create Backorder?", "type": "ir.actions.act_window", "view_mode": "form",
                        "res_model": "stock.backorder.confirmation", "views": [[BACKORDER_VIEW_ID, "form"]],
                        "view_id": BACKORDER_VIEW_ID, "target": "new", "context": ctx}
        not_to_backorder = context.get("picking_ids_not_to_backorder") or []
        if not isinstance(not_to_backorder, list):
            not_to_backorder = [not_to_backorder]
        orders = []
        for picking in pickings:
            self._action_done(picking["id"], picking["id"] in not_to_backorder, now)
            if picking["sale_id"] and picking["sale_id"] not in orders:
                orders.append(picking["sale_id"])
        for order_id in orders:
            self._refresh_order(order_id, now)
        return True

    def _action_done(self, picking_id, cancel_backorder, now):
        """stock.move._action_done over the picking's moves, then stock.picking._create_backorder: a picked move
        with a quantity is done (short: split, the rest on a new move; over: its demand grows to the quantity);
        unpicked or empty moves and the split rests go to a backorder, or are cancelled with cancel_backorder."""
        rest = []
        for move in self._picking_moves(picking_id):
            if move["state"] in ("done", "cancel"):
                continue
            move = self._touch("stock.move", move["id"])
            move["write_date"] = now
            if not move["quantity"] or not move["picked"]:
                if not move["product_uom_qty"] or cancel_backorder:
                    move["state"] = "cancel"
                else:
                    rest.append(move)
                continue
            if move["quantity"] < move["product_uom_qty"]:
                split = {k: v for k, v in move.items() if k not in ("id", "create_date", "write_date",
                                                                    "create_uid", "write_uid")}
                split.update(product_uom_qty=move["product_uom_qty"] - move["quantity"], quantity=0.0,
                             picked=False, state="cancel" if cancel_backorder else "assigned")
                split = self._insert("stock.move", split)
                if not cancel_backorder:
                    rest.append(split)
                move["product_uom_qty"] = move["quantity"]
            elif move["quantity"] > move["product_uom_qty"]:
                move["product_uom_qty"] = move["quantity"]
            move.update(state="done", date=now)
        picking = self._touch("stock.picking", picking_id)
        picking.update(state="done", date_done=now, write_date=now)
        if rest and not cancel_backorder:
            vals = {k: v for k, v in picking.items() if k not in ("id", "create_date", "write_date", "create_uid",
                                                                 "write_uid")}
            vals.update(name=self._next_picking_name(), state="assigned", backorder_id=picking_id, date_done=False,
                        carrier_tracking_ref=False, user_id=False)        # carrier_tracking_ref is copy=False
            backorder = self._insert("stock.picking", vals)
            for move in rest:
                move.update(picking_id=backorder["id"], picked=False, write_date=now)

    def action_cancel(self, ids, ctx):
        orders = self._records("sale.order", ids)
        if any(o["locked"] for o in orders):
            raise _err("UserError", "You cannot cancel a locked order. Please unlock it first.")
        if self.cancel_wizard and not ctx.context.get("disable_cancel_warning") \
                and any(o["state"] != "draft" for o in orders):
            if len(orders) != 1:
                raise _err("ValueError", f"Expected singleton: sale.order({', '.join(map(str, ids))},)")
            order = orders[0]
            type_name = "Sales Order" if order["state"] == "sale" else "Quotation"
            return {"name": f"Cancel {type_name}", "view_mode": "form", "res_model": "sale.order.cancel",
                    "view_id": 1034, "type": "ir.actions.act_window",
                    "context": {"default_template_id": 27, "default_order_id": order["id"],
                                "mark_so_as_canceled": True,
                                "default_email_layout_xmlid":
                                    "mail.mail_notification_layout_with_responsible_signature",
                                "model_description": type_name},
                    "target": "new"}
        for order in orders:
            if order.get("delivery_status") in ("partial", "full"):
                raise _err("UserError", f"You cannot cancel the sales order {order['name']}: it has been delivered "
                                        f"(fully or partly). Return the goods first.")
        now = self._now()
        for order in orders:
            rec = self._touch("sale.order", order["id"])
            rec.update(state="cancel", delivery_status=False, write_date=now)
            for picking in self._order_pickings(order["id"]):           # sale_stock: the undone pickings
                if picking["state"] in ("done", "cancel"):
                    continue
                self._touch("stock.picking", picking["id"]).update(state="cancel", write_date=now)
                for move in self._picking_moves(picking["id"]):
                    if move["state"] not in ("done", "cancel"):
                        self._touch("stock.move", move["id"]).update(state="cancel", write_date=now)
        return True

    def set_locked(self, ids, locked):
        """action_lock / action_unlock: they return nothing (JSON-2 null, JSON-RPC no result member)."""
        now = self._now()
        for order in self._records("sale.order", ids):
            rec = self._touch("sale.order", order["id"])
            rec.update(locked=bool(locked), write_date=now)

    def action_post(self, ids):
        moves = self._records("account.move", ids)
        msgs = []

        def add(msg):
            if msg not in msgs:
                msgs.append(msg)
        for move in moves:
            if self._amounts("account.move", move)[0] < 0:
                add("You cannot validate an invoice with a negative total amount. You should create a credit note "
                    "instead. Use the action menu to transform it into a credit note or refund.")
            if not move["partner_id"]:
                add("The field 'Customer' is required, please complete it to validate the Customer Invoice.")
        for move in moves:
            if move["state"] in ("posted", "cancel"):
                add(f"The entry {move['name']} (id {move['id']}) must be in draft.")
            if not any(line.get("display_type") not in ("line_section", "line_note")
                       for line in self._lines_of("account.move", move["id"])):
                add("You need to add a line before posting.")
        if msgs:
            raise _err("UserError", "\n".join(msgs))
        now = self._now()
        for move in moves:
            rec = self._touch("account.move", move["id"])
            if not rec["invoice_date"]:
                rec["invoice_date"] = self._today()
                rec["invoice_date_due"] = rec["invoice_date_due"] or rec["invoice_date"]
            rec["date"] = rec["date"] or rec["invoice_date"]
            if rec["name"] in ("/", False):
                prefix = "RINV" if rec["move_type"] == "out_refund" else "INV"
                year = rec["date"][:4]
                self.sequences[(prefix, year)] += 1
                rec["name"] = f"{prefix}/{year}/{self.sequences[(prefix, year)]:05d}"
            rec.update(state="posted", write_date=now)
        return False

    # --- the call --------------------------------------------------------------------------------------------
    def call(self, ctx, model, method, ids, args):
        """Runs one model method (args: the bound arguments) in a transaction; returns its result."""
        def run():
            if method == "search_read":
                found = self.search(model, args["domain"], args["offset"], args["limit"], args["order"])
                return self.read(model, found, args["fields"], args["load"])
            if method == "search":
                return self.search(model, args["domain"], args["offset"], args["limit"], args["order"])
            if method == "search_count":
                return len(self.search(model, args["domain"], 0, args["limit"], "id"))
            if method == "read":
                return self.read(model, ids, args["fields"], args["load"])
            if method == "create":
                return self.create(model, args["vals_list"], ctx)
            if method == "write":
                return self.write(model, ids, args["vals"])
            if method == "action_confirm":
                return self.action_confirm(ids)
            if method == "action_cancel":
                return self.action_cancel(ids, ctx)
            if method in ("action_lock", "action_unlock"):
                return self.set_locked(ids, method == "action_lock")
            if method == "action_post":
                return self.action_post(ids)
            if method == "button_validate":
                return self.button_validate(ids, ctx.context)
            raise _err("AttributeError", f"The method '{model}.{method}' does not exist")
        result = self.transaction(run)
        self.cond.notify_all()
        return result

    def lookup(self, model, method):
        """get_public_method: AccessError for a private name, AttributeError for an unknown one."""
        if method.startswith("_"):
            raise _err("AccessError", f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        if method not in self.models[model].methods:
            raise _err("AttributeError", f"The method '{model}.{method}' does not exist")
        return SIGNATURES[method]

    @staticmethod
    def _ids(ids):
        if _is_int(ids):
            return [ids]
        if ids in (None, False) or ids == () or ids == []:
            return []
        if not isinstance(ids, list) or not all(_is_int(i) for i in ids):
            raise _err("ValueError", f"Invalid ids {ids!r}: a list of integers is expected")
        return ids

    # --- HTTP: answers ---------------------------------------------------------------------------------------
    @staticmethod
    def json_answer(status, payload, headers=()):
        return _Outcome(status=status, headers=headers, content_type=JSON_TYPE,
                        body=json.dumps(payload, separators=(",", ":")).encode())

    @staticmethod
    def html_answer(status, body, headers=()):
        return _Outcome(status=status, headers=headers, content_type=HTML_TYPE,
                        body=body if isinstance(body, bytes) else body.encode())

    def json2_error(self, err):
        return self.json_answer(err.status, err.serialize(), err.headers)

    def rpc_answer(self, rid, result=None, error=None):
        payload = {"jsonrpc": "2.0", "id": rid}
        if error is not None:
            payload["error"] = {"code": 200, "message": "Odoo Server Error", "data": error.serialize()}
        elif result is not None:
            payload["result"] = result
        return self.json_answer(200, payload)

    def proxy_page(self, status, headers=()):
        return _nginx_page(status, PROXY_TITLES.get(status, "Error"), list(headers))

    def canned(self, rule):
        """The answer of a rule with a status (or a body)."""
        return _canned(rule, self.json_answer, self._status_answer, JSON_TYPE)

    def _status_answer(self, status, headers):
        if status in PROXY_TITLES:
            return self.proxy_page(status, headers)
        if 200 <= status < 300:
            return self.json_answer(status, {}, headers)
        if status == 400:
            return self.html_answer(400, _html_error(400), headers)
        by_status = {401: ("Unauthorized", "Invalid apikey"), 403: ("AccessError", "Simulated access error"),
                     404: ("NotFound", "Simulated: not found"), 405: ("MethodNotAllowed",
                                                                       "The method is not allowed for the "
                                                                       "requested URL."),
                     409: ("LockError", None), 422: ("UserError", "Simulated user error")}
        cls, message = by_status.get(status, ("Exception", "Simulated server error"))
        err = _err(cls, message)
        if cls == "Unauthorized":
            headers = list(headers) + [("WWW-Authenticate", "Bearer")]
        out = self.json2_error(err)
        out.status, out.headers = status, list(headers)
        return out

    def odoo_error_answer(self, info, rule):
        err = _err(rule.odoo_error, rule.odoo_message)
        call = odoo_call(info)
        if call is not None and call.transport == "jsonrpc":
            return self.rpc_answer(info.body.get("id"), error=err)
        return self.json2_error(err)

    # --- HTTP: the two transports ----------------------------------------------------------------------------
    def serve(self, method, path, headers, raw):
        """Odoo behind the proxy: (outcome, ctx), with the lock held by the caller."""
        ctx = _Ctx()
        try:
            if path.rstrip("/") == "/jsonrpc":
                return self._jsonrpc(ctx, headers, raw), ctx
            if path == "/json/2" or path.startswith("/json/2/"):
                return self._json2(ctx, method, path, headers, raw), ctx
            return self.html_answer(404, _html_error(404)), ctx
        except Exception as e:      # a simulator bug: say so loudly, answer like an unhandled server error
            traceback.print_exc()
            return self.json2_error(_err("Exception", f"{type(e).__name__}: {e}")), ctx

    @staticmethod
    def _mimetype(headers):
        return (headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _json2(self, ctx, method, path, headers, raw):
        header_db = headers.get("X-Odoo-Database")
        if header_db is not None and header_db != self.db:
            return self.html_answer(404, _html_error(404))      # no database selected: the nodb routes only
        if raw and self._mimetype(headers) != "application/json":
            return self.html_answer(400, _html_error(400).replace(
                b"</p>", f"</p>\n<p>Request inferred type is compatible with ['http'] but "
                         f"'/json/2/&lt;model&gt;/&lt;method&gt;' is type='json2'.</p>".encode(), 1))
        segs = path.split("/")[3:]
        if len(segs) != 2 or not all(segs):
            return self.json2_error(_err("NotFound", "Did you mean POST /json/2/<model>/<method>?"))
        model, meth = segs
        try:
            self._bearer(headers)
            params = {}
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise _err("BadRequest", f"could not parse the body as json: {e}")
                if isinstance(body, dict):
                    params = body
            if method != "POST":
                raise _err("MethodNotAllowed", "The method is not allowed for the requested URL.")
            if model not in self.models:
                raise _err("NotFound", f"the model {model!r} does not exist")
            try:
                sig = self.lookup(model, meth)
            except _OdooError as e:
                if e.cls == "AttributeError":
                    raise _err("NotFound", e.message)
                raise
            params = dict(params)
            ids = self._ids(params.pop("ids", ()))
            context = params.pop("context", None)
            ctx.context = context if isinstance(context, dict) else {}
            if meth in MODEL_API and ids:
                raise _err("UnprocessableEntity", f"cannot call {model}.{meth} with ids")
            try:
                args = sig.bind((), params)
            except TypeError as e:
                raise _err("UnprocessableEntity", str(e))
            result = self.call(ctx, model, meth, ids, args)
        except _OdooError as err:
            return self.json2_error(err)
        return self.json_answer(200, result)

    def _bearer(self, headers):
        auth = headers.get("Authorization") or ""
        hit = re.match(r"^bearer\s+(.+)$", auth.strip(), re.IGNORECASE)
        if hit is None:
            raise _OdooError("Unauthorized", 'User not authenticated, use the "Authorization" header',
                             headers=[("WWW-Authenticate", "Bearer")])
        if hit.group(1).strip() != self.api_key:
            raise _OdooError("Unauthorized", "Invalid apikey", headers=[("WWW-Authenticate", "Bearer")])

    def _jsonrpc(self, ctx, headers, raw):
        if self._mimetype(headers) not in ("application/json", "application/json-rpc"):
            return self.html_answer(400, _html_error(400).replace(
                b"</p>", b"</p>\n<p>Request inferred type is compatible with ['http', 'json2'] but '/jsonrpc' is "
                         b"type='jsonrpc'.</p>", 1))
        try:
            req = json.loads(raw)
        except ValueError:
            return self.html_answer(400, "Invalid JSON data")
        if not isinstance(req, dict):
            return self.html_answer(400, "Invalid JSON-RPC data")
        rid = req.get("id")
        try:
            params = req.get("params", {})
            if not isinstance(params, dict):
                raise _err("TypeError", f"unsupported operand type(s) for |: {type(params).__name__!r} and 'dict'")
            try:
                bound = _Signature(("service", REQUIRED), ("method", REQUIRED), ("args", REQUIRED)).bind((), params)
            except TypeError as e:
                raise _err("TypeError", f"jsonrpc() {e}")
            result = self._dispatch_rpc(ctx, bound["service"], bound["method"], bound["args"])
        except _OdooError as err:
            return self.rpc_answer(rid, error=err)
        return self.rpc_answer(rid, result)

    def _dispatch_rpc(self, ctx, service, method, args):
        if not isinstance(args, list):
            raise _err("TypeError", f"argument after * must be an iterable, not {type(args).__name__}")
        if service == "object":
            return self._dispatch_object(ctx, method, args)
        if service not in RPC_SIGNATURES:
            raise _err("KeyError", repr(service), [service])
        sig = RPC_SIGNATURES[service].get(method)
        if sig is None:
            if service == "db":
                raise _err("KeyError", repr(f"exp_{method}"), [f"exp_{method}"])
            raise _err("Exception", f"Method not found: {method}")
        try:
            a = sig.bind(args, {})
        except TypeError as e:
            raise _err("TypeError", f"exp_{method}() {e}")
        if service == "db":
            return [self.db] if method == "list" else SERVER_VERSION
        if method == "version":
            return {"server_version": SERVER_VERSION, "server_version_info": SERVER_VERSION_INFO,
                    "server_serie": SERVER_VERSION, "protocol_version": 1}
        self._check_db(a["db"])
        if a["login"] == self.login and self._password_ok(a["password"]):
            return self.uid
        return False

    def _password_ok(self, password):
        return isinstance(password, str) and password != "" and (
            password == self.api_key or (self.password is not None and password == self.password))

    def _check_db(self, db):
        if db != self.db:
            raise _err("OperationalError", f'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" '
                                           f'failed: FATAL:  database "{db}" does not exist\n')

    def _dispatch_object(self, ctx, method, params):
        if method not in ("execute", "execute_kw"):
            raise _err("NameError", f"Method not available {method}")
        if len(params) < 3:
            raise _err("IndexError", "list index out of range")
        db, uid, passwd = params[0], params[1], params[2]
        try:
            uid = int(uid)
        except (TypeError, ValueError) as e:
            raise _err("ValueError" if isinstance(e, ValueError) else "TypeError", str(e))
        if not passwd:
            raise _err("AccessDenied")
        self._check_db(db)
        if uid != self.uid or not self._password_ok(passwd):
            raise _err("AccessDenied")
        rest = params[3:]
        if method == "execute_kw":
            try:
                a = _Signature(("obj", REQUIRED), ("method", REQUIRED), ("args", REQUIRED),
                               ("kw", None)).bind(rest, {})
            except TypeError as e:
                raise _err("TypeError", f"execute_kw() {e}")
            model, meth, args, kwargs = a["obj"], a["method"], a["args"], a["kw"] or {}
        else:
            if len(rest) < 2:
                raise _err("TypeError", "execute() missing required positional arguments: 'obj' and 'method'")
            model, meth, args, kwargs = rest[0], rest[1], list(rest[2:]), {}
        if not isinstance(args, list):
            raise _err("TypeError", f"argument after * must be an iterable, not {type(args).__name__}")
        if not isinstance(kwargs, dict):
            raise _err("TypeError", f"argument after ** must be a mapping, not {type(kwargs).__name__}")
        if not isinstance(model, str) or model not in self.models:
            raise _err("UserError", f"Object {model} doesn't exist")
        if not isinstance(meth, str):
            raise _err("TypeError", "attribute name must be string")
        sig = self.lookup(model, meth)
        kwargs = dict(kwargs)
        context = kwargs.pop("context", None)
        ctx.context = context if isinstance(context, dict) else {}
        ids = []
        if meth not in MODEL_API:
            if not args:
                raise _err("IndexError", "tuple index out of range")
            ids, args = self._ids(args[0]), args[1:]
        try:
            bound = sig.bind(args, kwargs)
        except TypeError as e:
            raise _err("TypeError", f"{meth}() {e}")
        if meth == "create" and not args and self.rpc_create_needs_positional:
            raise _err("IndexError", "tuple index out of range")     # call_kw reads args[0] after creating
        result = self.call(ctx, model, meth, ids, bound)
        if meth == "create" and args and isinstance(args[0], dict):
            return result[0]
        return result

    # --- proxy -----------------------------------------------------------------------------------------------
    def throttled(self):
        """The proxy's rate limit: True (and not counted) once rate_limit requests passed within 1 s."""
        now = time.monotonic()
        while self.recent and self.recent[0] <= now - 1.0:
            self.recent.popleft()
        if len(self.recent) >= self.rate_limit:
            return True
        self.recent.append(now)
        return False

    # --- test helpers ----------------------------------------------------------------------------------------
    def order_id(self, order):
        orders = self.models["sale.order"].records
        if _is_int(order) and order in orders:
            return order
        for rec in orders.values():
            if rec["name"] == order:
                return rec["id"]
        raise KeyError(f"no sale.order {order!r}")

    def set_delivered(self, order, status):
        if status not in ("full", "partial", "pending"):
            raise ValueError(f"status must be 'full', 'partial' or 'pending', not {status!r}")
        rid = self.order_id(order)
        rec = self.models["sale.order"].records[rid]
        if rec["state"] != "sale":
            raise ValueError(f"sale.order {rec['name']} is {rec['state']!r}: only a confirmed order has deliveries")
        now = self._now()
        pickings = self._order_pickings(rid)
        if pickings:
            rank = {False: 0, "pending": 0, "started": 1, "partial": 1, "full": 2}
            current = rec["delivery_status"]
            if rank[status] < rank.get(current, 0):
                raise ValueError(f"sale.order {rec['name']} is delivered {current!r} already: a validated picking "
                                 f"is not undone (the goods would have to be returned)")
            if rank[status] > rank.get(current, 0):
                def run():
                    todo = [p["id"] for p in pickings if p["state"] not in ("done", "cancel")]
                    for pid in todo:
                        for move in self._picking_moves(pid):
                            if move["state"] in ("done", "cancel"):
                                continue
                            qty = move["product_uom_qty"] if status == "full" else move["product_uom_qty"] / 2.0
                            self._touch("stock.move", move["id"]).update(quantity=qty, picked=True, write_date=now)
                    return self.button_validate(todo, {"skip_backorder": True}) if todo else True
                self.transaction(run)
        else:
            rec.update(delivery_status=status, write_date=now)
        for line in self._lines_of("sale.order", rid):      # lines without moves (services): delivered by hand
            if pickings and any(m["sale_line_id"] == line["id"] for m in self.models["stock.move"].records.values()):
                continue
            qty = line["product_uom_qty"]
            line["qty_delivered"] = qty if status == "full" else (qty / 2.0 if status == "partial" else 0.0)
            line["write_date"] = now
        self.cond.notify_all()
        return self.read("sale.order", [rid])[0]

    def set_stock(self, sku, quantity, reserved):
        for value in (quantity, reserved):
            if not _is_number(value):
                raise TypeError(f"a quantity is a number, not {value!r}")
        product = next((p for p in self.models["product.product"].records.values() if p["default_code"] == sku),
                       None)
        if product is None:
            raise KeyError(f"no product.product with default_code {sku!r}")
        stamp = self._quant_stamp()
        quant = next((q for q in self.models["stock.quant"].records.values()
                      if q["product_id"] == product["id"] and q["location_id"] == STOCK_LOCATION), None)
        if quant is None:
            quant = self._insert("stock.quant", {"product_id": product["id"], "location_id": STOCK_LOCATION,
                                                 "in_date": stamp})
            quant["create_date"] = stamp
        quant.update(quantity=float(quantity), reserved_quantity=float(reserved), write_date=stamp)
        self.cond.notify_all()
        return self.read("stock.quant", [quant["id"]])[0]


# --- HTTP ---------------------------------------------------------------------------------------------------

class _Core:
    """Turns one HTTP request into an outcome and a record (called on the connection's thread); the interface
    the shared _Handler / _HTTPServer expect (handle, stop)."""

    def __init__(self, site, stop):
        self.site = site
        self.stop = stop

    def handle(self, method, target, headers, raw):
        site = self.site
        info = parse_request(method, target, raw)
        with site.cond:
            if site.outage:
                status = 502 if site.outage is True else int(site.outage)
                return record(site, info, site.proxy_page(status))
            if site.rate_limit is not None and site.throttled():
                return record(site, info, site.proxy_page(429, [("Retry-After", "1")]))
            rule = take_rule(site.rules, info)
        if rule is not None and rule.delay > 0:
            self.stop.wait(rule.delay)

        def serve():
            if rule is not None and rule.odoo_error and not rule.commit:
                return site.odoo_error_answer(info, rule)
            outcome, ctx = site.serve(method, info.path, headers, raw)
            if rule is not None and rule.odoo_error:
                return site.odoo_error_answer(info, rule)
            return _Outcome("reset") if ctx.reset_after else outcome   # ack_then_reset: created, then reset

        with site.cond:
            return record(site, info, _ruled_outcome(rule, serve, site.canned))


class OdooSim(Scripted, Recorded, ThreadedServer):
    """The simulator in a background thread of this process; a context manager. Listening once constructed."""

    @property
    def _rules_state(self):
        return self._site

    def __init__(self, db="odoo", login="bot@example.com", api_key="odoo-key", products=("SKU-1", "SKU-2", "SKU-3"),
                 host="127.0.0.1", port=0, *, password=None, uid=2, stock=None, rate_limit=None, currency="EUR",
                 cancel_wizard=True, rpc_create_needs_positional=True, services=()):
        self._rule_type = _OdooRule
        self._site = _Site(db, login, api_key, password, uid, products, rate_limit, currency, cancel_wizard,
                           rpc_create_needs_positional, services)
        self.db, self.uid = self._site.db, self._site.uid
        for sku, level in (stock or {}).items():
            quantity, reserved = (level, 0) if _is_number(level) else level
            self.set_stock(sku, quantity, reserved)
        self._listen_http(_HTTPServer, _Core, self._site, host, port, "odoo-sim")
        self._thread.start()

    # --- scripting -----------------------------------------------------------------------------------------
    def ack_then_reset_next_sale_order(self, n=1):
        """The next n sale.order creates that succeed are committed, then the connection is reset unanswered."""
        with self._site.cond:
            self._site.ack_then_reset += int(n)
        return self

    @property
    def outage(self):
        with self._site.cond:
            return self._site.outage

    @outage.setter
    def outage(self, value):
        """False: serve; True: the proxy answers 502 to everything (Odoo is down); an int: that status instead."""
        if value is not True and value is not False and not _is_int(value):
            raise TypeError("outage is True, False or a status code")
        with self._site.cond:
            self._site.outage = value

    # --- state ---------------------------------------------------------------------------------------------
    def records(self, model):
        """{id: record as read() with every field shows it} of any model."""
        with self._site.cond:
            if model not in self._site.models:
                raise KeyError(f"no model {model!r}")
            return self._site.snapshot(model)

    @property
    def partners(self):
        return self.records("res.partner")

    @property
    def products(self):
        return self.records("product.product")

    @property
    def sale_orders(self):
        return self.records("sale.order")

    @property
    def sale_order_lines(self):
        return self.records("sale.order.line")

    @property
    def moves(self):
        return self.records("account.move")

    @property
    def move_lines(self):
        return self.records("account.move.line")

    @property
    def quants(self):
        return self.records("stock.quant")

    @property
    def pickings(self):
        return self.records("stock.picking")

    @property
    def stock_moves(self):
        return self.records("stock.move")

    @staticmethod
    def odoo_call(call):
        """OdooCall(transport, service, model, method) of a recorded request (or any RequestInfo), else None."""
        return odoo_call(call)

    def add_partner(self, **vals):
        """Creates a res.partner as the API would; returns its id. ValueError("<name>: <message>") on an error."""
        with self._site.cond:
            try:
                return self._site.call(_Ctx(), "res.partner", "create", [], {"vals_list": [vals]})[0]
            except _OdooError as e:
                raise ValueError(f"{e.name}: {e.message}") from None

    def set_delivered(self, order, status="full"):
        """The order's deliveries are done ("full"), partly done ("partial") or not yet ("pending"): its
        delivery_status and the lines' qty_delivered. Returns the order as read() shows it."""
        with self._site.cond:
            return self._site.set_delivered(order, status)

    def lock_order(self, order, locked=True):
        """sale.order.locked, as action_lock / action_unlock set it."""
        with self._site.cond:
            self._site.set_locked([self._site.order_id(order)], locked)
            self._site.cond.notify_all()

    def set_stock(self, sku, quantity, reserved=0):
        """The stock.quant of the product at WH/Stock now holds quantity (reserved of it); write_date moves on.
        Returns the quant as read() shows it."""
        with self._site.cond:
            return self._site.set_stock(sku, quantity, reserved)


# --- standalone process -------------------------------------------------------------------------------------

def main(argv=None):
    ap = process_parser(__doc__)
    ap.add_argument("--db", default="odoo")
    ap.add_argument("--login", default="bot@example.com")
    ap.add_argument("--api-key", default="odoo-key")
    ap.add_argument("--password", help="the bot user's password (JSON-RPC also takes it)")
    ap.add_argument("--uid", type=int, default=2)
    ap.add_argument("--products", default="SKU-1,SKU-2,SKU-3", help="comma-separated SKUs (default_code)")
    ap.add_argument("--services", default="", help="comma-separated SKUs of service products (no stock moves)")
    ap.add_argument("--stock", help='JSON {"SKU-1": quantity or [quantity, reserved]} set once listening')
    ap.add_argument("--rate-limit", type=int, help="requests per second the proxy lets through (429 beyond)")
    ap.add_argument("--no-cancel-wizard", action="store_true",
                    help="sale.order/action_cancel cancels confirmed orders without the disable_cancel_warning "
                         "context")
    ap.add_argument("--lenient-rpc-create", action="store_true",
                    help="JSON-RPC create also takes vals_list as a keyword argument")
    ap.add_argument("--script", help="JSON list of rules to start with (no callables)")
    ap.add_argument("--dump", help="write partners, products, sale orders and lines, moves and lines, quants and "
                                   "requests as JSON to this file at exit")
    args = ap.parse_args(argv)
    products = tuple(s.strip() for s in args.products.split(",") if s.strip())
    sim = OdooSim(args.db, args.login, args.api_key, products, host=args.host, port=args.port,
                  password=args.password, uid=args.uid, stock=json.loads(args.stock) if args.stock else None,
                  rate_limit=args.rate_limit, cancel_wizard=not args.no_cancel_wizard,
                  rpc_create_needs_positional=not args.lenient_rpc_create,
                  services=tuple(s.strip() for s in args.services.split(",") if s.strip()))
    sim.script(*(json.loads(args.script) if args.script else []))
    serve_until_signalled(sim.port)
    sim.close()
    partners, orders, moves, calls = sim.partners, sim.sale_orders, sim.moves, sim.requests
    return finish_process(sim, args.dump,
                          lambda: {"partners": partners, "products": sim.products, "sale_orders": orders,
                                   "sale_order_lines": sim.sale_order_lines, "moves": moves,
                                   "move_lines": sim.move_lines, "quants": sim.quants,
                                   "pickings": sim.pickings, "stock_moves": sim.stock_moves,
                                   "requests": [c._asdict() for c in calls]},
                          {"requests": len(calls), "partners": len(partners), "sale_orders": len(orders),
                           "moves": len(moves)})


if __name__ == "__main__":
    sys.exit(main())
