// orderbridge console: a thin client of the admin API (/v1) and /metrics. No dependencies.
"use strict";

const state = { token: sessionStorage.getItem("ob-token") || "", tab: "overview", ordersCursor: null,
                series: {}, lastMetrics: null, timer: null };

// ---- helpers ------------------------------------------------------------------------------------
const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}
function ago(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
function duration(seconds) {
  if (!seconds) return "–";
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
function money(minor, currency) {
  if (minor === undefined || !currency) return "–";
  try {
    const f = new Intl.NumberFormat(undefined, { style: "currency", currency });
    return f.format(minor / 10 ** f.resolvedOptions().maximumFractionDigits);
  } catch { return `${minor} ${currency}`; }
}
function pill(text, kind) { return el("span", { class: `pill ${kind || ""}` }, text); }
function table(target, headers, rows) {
  const t = typeof target === "string" ? $(target) : target;
  t.replaceChildren(el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
                    el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headers.length, class: "hint" }, "nothing here"))]));
  return t;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { message: text } }; }
  if (res.status === 401) { signOut("The token was not accepted."); throw new Error("unauthorized"); }
  if (!res.ok) {
    const msg = (data && data.error && data.error.message) || `HTTP ${res.status}`;
    throw new Error(`${res.status}: ${msg}`);
  }
  return data;
}
// `after` runs once the action succeeded (e.g. to drop a detail view whose buttons no longer apply).
async function act(method, path, body, done, after) {
  try {
    const r = await api(method, path, body);
    toast(done(r));
    if (after) after(r);
  } catch (e) { toast(`Refused: ${e.message}`); }
  refresh();
}
function askReason(what) {
  const reason = prompt(`${what}\nReason (goes into the audit log):`);
  return reason === null ? null : reason;
}

// ---- sign-in ------------------------------------------------------------------------------------
// "HTTP 503: reason" once: connectors' reasons usually name the status themselves.
function withStatus(status, reason) {
  if (!reason) return status ? `HTTP ${status}` : "";
  if (!status || reason.includes(`HTTP ${status}`)) return reason;
  return `HTTP ${status}: ${reason}`;
}
function signOut(message) {
  state.token = "";
  sessionStorage.removeItem("ob-token");
  $("#app").hidden = true;
  $("#tabs").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = message || "";
  $("#who").replaceChildren();
}
async function signIn(token) {
  state.token = token;
  try {
    await api("GET", "/v1/connectors");
  } catch (e) {
    if (e.message !== "unauthorized") signOut(`Cannot reach the admin API: ${e.message}`);
    return;
  }
  sessionStorage.setItem("ob-token", token);
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#tabs").hidden = false;
  $("#who").replaceChildren("signed in", el("button", { onclick: () => signOut() }, "Sign out"));
  show(state.tab);
}

// ---- tabs ---------------------------------------------------------------------------------------
function show(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== tab;
  refresh();
}
function refresh() {
  if (!state.token) return;
  ({ overview: loadOverview, orders: () => loadOrders(false), dlq: loadDlq, connectors: loadConnectors,
     audit: loadAudit })[state.tab]().catch((e) => { if (e.message !== "unauthorized") toast(e.message); });
}

// ---- overview: charts from /metrics, lanes from /v1/connectors ----------------------------------
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").slice(1, -1).split(/,(?=\w+=")/)) {
      const kv = l.match(/^(\w+)="(.*)"$/);
      if (kv) labels[kv[1]] = kv[2];
    }
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[3]) });
  }
  return out;
}
const sum = (metrics, name, pred = () => true) =>
  (metrics[name] || []).filter((s) => pred(s.labels)).reduce((a, s) => a + s.value, 0);
function push(key, value) {
  const s = (state.series[key] = state.series[key] || []);
  s.push(value);
  if (s.length > 60) s.shift();
}
function sparkline(values) {
  const w = 240, h = 40, max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 4) - 2}`);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2f5bd3");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  return svg;
}
function card(label, value, key) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value),
            state.series[key] && state.series[key].length > 1 ? sparkline(state.series[key]) : null);
}
async function loadOverview() {
  const [metricsText, lanes] = await Promise.all([fetch("/metrics").then((r) => r.text()), api("GET", "/v1/connectors")]);
  const m = parseMetrics(metricsText);
  const now = Date.now() / 1000;
  const totals = {
    ingest: sum(m, "orderbridge_webhooks_received_total", (l) => ["accepted", "held"].includes(l.outcome)),
    delivered: sum(m, "orderbridge_deliveries_total", (l) => ["delivered", "duplicate"].includes(l.outcome)),
    failed: sum(m, "orderbridge_delivery_attempts_total", (l) => !["ok", "duplicate"].includes(l.class)),
    attempts: sum(m, "orderbridge_delivery_attempts_total"),
    dead: sum(m, "orderbridge_deliveries_total", (l) => l.outcome === "dead"),
  };
  if (state.lastMetrics) {
    const dt = Math.max(1, now - state.lastMetrics.at), p = state.lastMetrics.totals;
    push("ingest", (totals.ingest - p.ingest) / dt);
    push("delivered", (totals.delivered - p.delivered) / dt);
    push("dead", (totals.dead - p.dead) / dt);
    const da = totals.attempts - p.attempts;
    push("errors", da > 0 ? (100 * (totals.failed - p.failed)) / da : 0);
  }
  state.lastMetrics = { at: now, totals };
  const last = (k) => (state.series[k] && state.series[k].length ? state.series[k][state.series[k].length - 1] : 0);
  const backlog = lanes.items.reduce((a, l) => a + l.backlog, 0);
  push("backlog", backlog);
  $("#charts").replaceChildren(
    card("Orders accepted / s", last("ingest").toFixed(1), "ingest"),
    card("Deliveries / s", last("delivered").toFixed(1), "delivered"),
    card("Failed attempts", `${last("errors").toFixed(0)} %`, "errors"),
    card("Backlog (all lanes)", backlog, "backlog"),
    card("Dead letters", lanes.items.reduce((a, l) => a + l.dead, 0), "dead"));
  table("#overview-lanes", ["connector", "health", "backlog", "oldest", "rate / limit", "dead", "last error"],
        lanes.items.map((l) => el("tr", {},
          el("td", {}, l.name, " ", pill(l.kind)),
          el("td", {}, laneHealth(l)),
          el("td", { class: "num" }, l.backlog), el("td", {}, duration(l.oldest_age_seconds)),
          el("td", {}, `${l.current_rate_per_second.toFixed(1)} / ${l.rate_limit_per_second} per s`),
          el("td", { class: "num" }, l.dead),
          el("td", {}, l.last_error ? `${ago(l.last_error.at)}: ${l.last_error.reason}` : "–"))));
}
function laneHealth(l) {
  if (l.paused) return pill("paused", "warn");
  if (l.auth_failed) return pill("credentials rejected", "bad");
  if (l.breaker === "open") return pill("breaker open", "bad");
  if (l.breaker === "half_open") return pill("probing", "warn");
  if (l.throttled_until) return pill("throttled", "warn");
  return pill("healthy", "ok");
}

// ---- orders ---------------------------------------------------------------------------------------
const STATUSES = ["awaiting_payment", "on_hold", "ready_to_fulfil", "partially_shipped", "shipped", "completed",
                  "cancelled", "refunded", "payment_failed"];
async function loadOrders(more) {
  const f = new FormData($("#order-search"));
  const gen = (state.ordersGen = (state.ordersGen || 0) + 1);  // a slower, older answer must not win
  if (f.get("id")) {  // one order: its detail only, not above it a list it is not part of
    $("#orders").replaceChildren();
    $("#orders-more").hidden = true;
    return showOrder(f.get("id").trim());
  }
  const q = new URLSearchParams({ limit: "25" });
  if (f.get("status")) q.set("status", f.get("status"));
  if (f.get("held")) q.set("held", "true");
  if (more && state.ordersCursor) q.set("cursor", state.ordersCursor);
  const page = await api("GET", `/v1/orders?${q}`);
  if (gen !== state.ordersGen) return;
  state.ordersCursor = page.next_cursor;
  $("#orders-more").hidden = !page.next_cursor;
  const rows = page.items.map((o) => el("tr", { class: "clickable", onclick: () => showOrder(o.entity_id) },
    el("td", {}, o.entity_id), el("td", {}, o.canonical_status, o.held ? [" ", pill("held", "warn")] : null),
    el("td", {}, o.customer_email || "–"), el("td", { class: "num" }, money(o.grand_total, o.currency)),
    el("td", {}, ago(o.updated_at))));
  const t = $("#orders");
  if (more) t.tBodies[0].append(...rows);
  else table(t, ["order", "status", "customer", "total", "updated"], rows);
}
async function showOrder(id) {
  const box = $("#order-detail");
  box.replaceChildren(el("p", { class: "hint" }, "loading…"));
  let order, timeline;
  try {
    [order, timeline] = await Promise.all([api("GET", `/v1/orders/${encodeURIComponent(id)}`),
                                          api("GET", `/v1/orders/${encodeURIComponent(id)}/timeline`)]);
  } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); return; }
  const release = order.held ? el("button", { class: "primary", onclick: () => {
    const reason = askReason(`Release ${id}? Its events go to the connectors.`);
    if (reason !== null) act("POST", `/v1/orders/${encodeURIComponent(id)}/release`, { reason }, () => `${id} released`,
                             () => box.replaceChildren());
  } }, "Release") : null;
  box.replaceChildren(el("div", { class: "detail" },
    el("h3", {}, id, " ", pill(order.canonical_status), order.held ? pill("held", "warn") : null, " ", release),
    el("p", {}, `${order.customer_email || "no email"} · ${money(order.grand_total, order.currency)} · trace ${order.trace_id}`),
    order.findings && order.findings.length ? el("p", { class: "error" }, order.findings.map((f) => `${f.rule}: ${f.message}`).join("; ")) : null,
    el("h3", {}, "Deliveries"),
    table(el("table"), ["connector", "state", "events", "attempts", "last answer"], (order.deliveries || []).map((d) =>
      el("tr", {}, el("td", {}, d.connector), el("td", {}, pill(d.state, d.state === "delivered" ? "ok" : d.state === "dead" ? "bad" : "warn")),
         el("td", { class: "num" }, d.events), el("td", { class: "num" }, d.attempts),
         el("td", {}, withStatus(d.http_status, d.reason))))),
    el("h3", {}, "Timeline"),
    table(el("table"), ["at", "step", "connector", "HTTP", "ms", "detail"], timeline.steps.map((s) =>
      el("tr", {}, el("td", { class: "time", title: s.at }, s.at.replace("T", " ").replace("Z", "")), el("td", {}, pill(s.step, s.step === "dead" ? "bad" : s.step === "delivered" ? "ok" : "")),
         el("td", {}, s.connector || ""), el("td", {}, s.http_status || ""), el("td", { class: "num" }, s.latency_ms ?? ""),
         el("td", {}, s.detail))))));
}

// ---- dead letters ---------------------------------------------------------------------------------
function dlqFilter() {
  const f = new FormData($("#dlq-filter"));
  const out = {};
  for (const k of ["connector", "error_class", "entity_id"]) if (f.get(k)) out[k] = f.get(k).trim();
  return out;
}
async function loadDlq() {
  const q = new URLSearchParams({ limit: "100", ...dlqFilter() });
  const page = await api("GET", `/v1/dlq?${q}`);
  table("#dlq", ["id", "connector", "entity", "event", "class", "HTTP", "attempts", "created", "reason"],
        page.items.map((d) => el("tr", { class: "clickable", onclick: () => showDead(d.id) },
          el("td", {}, d.id), el("td", {}, d.connector), el("td", {}, d.entity_id), el("td", {}, d.type),
          el("td", {}, pill(d.error_class, "bad")), el("td", {}, d.http_status || ""), el("td", { class: "num" }, d.attempts),
          el("td", {}, ago(d.created_at)), el("td", {}, d.reason))));
}
async function showDead(id) {
  const d = await api("GET", `/v1/dlq/${id}`);
  const editor = el("textarea", { spellcheck: "false" });
  editor.value = JSON.stringify(d.payload, null, 2);
  $("#dlq-detail").replaceChildren(el("div", { class: "detail" },
    el("h3", {}, `Dead letter ${d.id}: ${d.entity_id} → ${d.connector}`),
    el("p", {}, `${d.error_class}: ${withStatus(d.http_status, d.reason)}`),
    table(el("table"), ["at", "class", "HTTP", "ms", "reason"], d.attempts.map((a) =>
      el("tr", {}, el("td", {}, a.at), el("td", {}, a.error_class || "ok"), el("td", {}, a.http_status || ""),
         el("td", { class: "num" }, a.latency_ms), el("td", {}, a.reason)))),
    el("p", {}, el("button", { class: "primary", onclick: () => {
      const reason = askReason(`Replay dead letter ${d.id} as it is?`);
      if (reason !== null) act("POST", `/v1/dlq/${d.id}/replay`, { reason }, () => `dead letter ${d.id} replayed`,
                               () => $("#dlq-detail").replaceChildren());
    } }, "Replay")),
    el("h3", {}, "Edit and replay"),
    el("p", { class: "hint" }, "The whole event envelope; what you change here is what the connector receives."),
    editor,
    el("p", {}, el("button", { onclick: () => {
      let payload;
      try { payload = JSON.parse(editor.value); } catch (e) { toast(`Not JSON: ${e.message}`); return; }
      const reason = askReason(`Replay dead letter ${d.id} with the edited payload?`);
      if (reason !== null) act("POST", `/v1/dlq/${d.id}/replay`, { reason, payload }, () => `dead letter ${d.id} replayed (edited)`,
                               () => $("#dlq-detail").replaceChildren());
    } }, "Replay edited"))));
}

// ---- connectors and audit -------------------------------------------------------------------------
async function loadConnectors() {
  loadStores().catch((e) => { if (e.message !== "unauthorized") toast(e.message); });
  const lanes = await api("GET", "/v1/connectors");
  table("#connectors", ["connector", "health", "breaker", "in flight / limit", "rate", "backlog", "oldest", "dead",
                        "last success", "last error", ""],
        lanes.items.map((l) => el("tr", {},
          el("td", {}, l.name, " ", pill(l.kind)), el("td", {}, laneHealth(l)), el("td", {}, l.breaker),
          el("td", {}, `${l.in_flight} / ${l.concurrency_limit} (max ${l.max_in_flight})`),
          el("td", {}, `${l.current_rate_per_second.toFixed(1)} of ${l.rate_limit_per_second}/s`),
          el("td", { class: "num" }, l.backlog), el("td", {}, duration(l.oldest_age_seconds)), el("td", { class: "num" }, l.dead),
          el("td", {}, ago(l.last_success_at)),
          el("td", {}, l.last_error ? `${l.last_error.error_class}: ${withStatus(l.last_error.http_status, l.last_error.reason)}` : "–"),
          el("td", {}, el("button", { onclick: () => {
            const verb = l.paused ? "resume" : "pause";
            const reason = askReason(`${verb === "pause" ? "Pause" : "Resume"} ${l.name}?` +
                                     (verb === "pause" ? " Events queue up until it is resumed." : ""));
            if (reason !== null) act("POST", `/v1/connectors/${encodeURIComponent(l.name)}/${verb}`, { reason }, () => `${l.name}: ${verb}d`);
          } }, l.paused ? "Resume" : "Pause")))));
}
async function loadStores() {
  // The reconciliation poller and the webhook watchdog of each shop (GET /v1/stores).
  const stores = await api("GET", "/v1/stores");
  table("#stores", ["shop", "poller", "watermark", "last run", "orders no webhook brought", "stock drift", "webhooks"],
        stores.items.map((s) => {
          const p = s.poller || {};
          const hooks = (s.webhooks || []).map((w) =>
            pill(`${w.topic}: ${w.state}`, w.state === "active" ? "ok" : "bad"));
          return el("tr", {}, el("td", {}, s.id),
            el("td", {}, p.enabled ? (p.last_error ? pill("failing", "bad") : pill("on", "ok")) : "off"),
            el("td", {}, p.watermark || "–"), el("td", {}, p.last_run_at ? ago(p.last_run_at) : "–"),
            el("td", { class: "num" }, p.missed_orders ?? "–"), el("td", { class: "num" }, p.stock_drift ?? "–"),
            el("td", {}, ...(hooks.length ? hooks : ["not watched"])));
        }));
}
async function loadAudit() {
  const page = await api("GET", "/v1/audit?limit=100");
  table("#audit", ["at", "who", "action", "target", "reason"], page.items.map((a) =>
    el("tr", {}, el("td", {}, a.at), el("td", {}, a.actor), el("td", {}, a.action), el("td", {}, a.target), el("td", {}, a.reason))));
}

// ---- wiring ---------------------------------------------------------------------------------------
for (const s of STATUSES) $("#order-search select[name=status]").append(el("option", {}, s));
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
$("#token-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#token").value.trim()); });
$("#order-search").addEventListener("submit", (e) => { e.preventDefault(); $("#order-detail").replaceChildren(); loadOrders(false).catch((x) => toast(x.message)); });
$("#orders-more").addEventListener("click", () => loadOrders(true).catch((x) => toast(x.message)));
$("#dlq-filter").addEventListener("submit", (e) => { e.preventDefault(); loadDlq().catch((x) => toast(x.message)); });
$("#dlq-replay-all").addEventListener("click", () => {
  const filter = dlqFilter();
  if (!Object.keys(filter).length) { toast("Give at least one filter first."); return; }
  const reason = askReason(`Replay every dead letter matching ${JSON.stringify(filter)}?`);
  if (reason !== null) act("POST", "/v1/dlq/replay", { ...filter, reason }, (r) => `${r.replayed} replayed`);
});
state.timer = setInterval(() => { if (state.tab === "overview" || state.tab === "connectors") refresh(); }, 5000);
if (state.token) signIn(state.token); else signOut();
