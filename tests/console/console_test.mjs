// End-to-end test of the orderbridge web console (/console/) in headless Chromium, driven by
// playwright-core against Debian's /usr/bin/chromium (no Playwright browser download).
//
// It is started by test_console.py, which runs the daemon, seeds it and checks the effects of the
// page's actions through /v1 afterwards. It can also be run by hand against any seeded daemon:
//
//   CONSOLE_URL=http://127.0.0.1:8080/console/ CONSOLE_TOKEN=... CONSOLE_ORDER_ID=wc:main:5001 \
//   CONSOLE_HELD_ORDER_ID=wc:main:4104 CONSOLE_DEAD_ENTITY_ID=wc:main:5003 \
//   CONSOLE_BREAKERS='{"erp":"closed"}' node tests/console/console_test.mjs
//
// Environment:
//   CONSOLE_URL              the console, e.g. http://127.0.0.1:PORT/console/ (required)
//   CONSOLE_TOKEN            an operator token (required)
//   CONSOLE_ACTOR            the token's name, expected in the audit view (default: not checked)
//   CONSOLE_ORDER_ID         a delivered order to search for (required)
//   CONSOLE_HELD_ORDER_ID    an order held by a business rule (required)
//   CONSOLE_DEAD_ENTITY_ID   the entity of the one dead letter to replay from the page (required)
//   CONSOLE_BREAKERS         JSON {connector: breaker state} expected in the connectors view (required)
//   CONSOLE_REPLAY_REASON    the reason typed into the replay prompt (default "console e2e replay")
//   CONSOLE_RELEASE_REASON   the reason typed into the release prompt (default "console e2e release")
//   CONSOLE_ARTIFACTS        where screenshots go (default tests/console/artifacts/)
//   CONSOLE_README_SCREENSHOT  if set, a PNG of the overview is written there too, once its sparklines
//                            have CONSOLE_README_SAMPLES points (default 8: about 40 s)
//   CHROMIUM                 the browser (default /usr/bin/chromium)
//   CONSOLE_ASSETS_DIR       if set (e.g. console/ of the work tree), the page's files under /console/ are
//                            served from there instead of the ones compiled into the binary (the daemon's
//                            headers are kept): tries console changes without a rebuild
//
// Exit 0 when every check holds; 1 with "FAIL [step]: message" on the first one that does not.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;

function required(name) {
  if (!env[name]) {
    console.error(`FAIL [setup]: environment variable ${name} is required`);
    process.exit(2);
  }
  return env[name];
}
const URL_ = required("CONSOLE_URL");
const TOKEN = required("CONSOLE_TOKEN");
const ORDER_ID = required("CONSOLE_ORDER_ID");
const HELD_ID = required("CONSOLE_HELD_ORDER_ID");
const DEAD_ENTITY = required("CONSOLE_DEAD_ENTITY_ID");
const BREAKERS = JSON.parse(required("CONSOLE_BREAKERS"));
const ACTOR = env.CONSOLE_ACTOR || "";
const REASON = env.CONSOLE_REPLAY_REASON || "console e2e replay";
const RELEASE_REASON = env.CONSOLE_RELEASE_REASON || "console e2e release";
const ARTIFACTS = path.resolve(env.CONSOLE_ARTIFACTS || path.join(here, "artifacts"));
const README_SHOT = env.CONSOLE_README_SCREENSHOT ? path.resolve(env.CONSOLE_README_SCREENSHOT) : "";
const README_SAMPLES = Number(env.CONSOLE_README_SAMPLES || 8);
const CHROMIUM = env.CHROMIUM || "/usr/bin/chromium";
const VIEWPORT = { width: 1366, height: 768 };
const TIMEOUT = 15000; // for any one thing to appear; the page refreshes its live views every 5 s

class CheckFailed extends Error {}
function check(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

// ---- what the browser reports: console errors, page errors, failed requests ---------------------
const problems = [];
let allowUnauthorized = false; // only while a wrong token is tried on purpose
function isExpected401(text) {
  return allowUnauthorized && /status of 401/.test(text);
}
function watch(page) {
  page.on("console", (msg) => {
    if (msg.type() !== "error" || isExpected401(msg.text())) return;
    const loc = msg.location();
    problems.push(`console error: ${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ""}`);
  });
  page.on("pageerror", (err) => problems.push(`uncaught exception in the page: ${err.stack || err.message}`));
  page.on("requestfailed", (req) =>
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure() ? req.failure().errorText : "?"}`));
  page.on("response", (res) => {
    if (res.status() < 400) return;
    if (allowUnauthorized && res.status() === 401) return;
    problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
}
function noProblems(when) {
  check(problems.length === 0, `the browser reported problems ${when}:\n  ${problems.join("\n  ")}`);
}

// ---- small waiting helpers (playwright-core has no expect()) ------------------------------------
async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new CheckFailed(`timed out after ${timeout} ms waiting for ${what}` +
                                                   (typeof last === "string" ? ` (last: ${last})` : ""));
    await new Promise((r) => setTimeout(r, 100));
  }
}
async function visible(locator, what, timeout = TIMEOUT) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
  } catch {
    throw new CheckFailed(`${what} is not visible after ${timeout} ms`);
  }
}
const texts = async (locator) => (await locator.allInnerTexts()).map((t) => t.trim());
const rowWith = (page, tableSel, text) => page.locator(`${tableSel} tbody tr`).filter({ hasText: text });

let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  const file = path.join(ARTIFACTS, `${String(shotNo).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
async function toastSays(page, re, what) {
  const toast = page.locator("#toast");
  await until(`the toast to confirm ${what} (${re})`, async () =>
    (await toast.isVisible()) && re.test(await toast.innerText()));
  return (await toast.innerText()).trim();
}
async function openTab(page, tab, label) {
  await page.click(`#tabs button[data-tab="${tab}"]`);
  await until(`the ${label} tab to be shown`, async () =>
    (await page.locator(`#tabs button[data-tab="${tab}"]`).getAttribute("class") || "").includes("active") &&
    (await page.locator(`[data-panel="${tab}"]`).isVisible()));
}

// ---- optional: the console's files from a directory instead of the binary ---------------------------
const ASSETS_DIR = env.CONSOLE_ASSETS_DIR ? path.resolve(env.CONSOLE_ASSETS_DIR) : "";
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml" };
async function serveAssetsFrom(context, dir) {
  const prefix = new URL(URL_).pathname.replace(/[^/]*$/, ""); // "/console/"
  await context.route((u) => u.pathname.startsWith(prefix), async (route) => {
    const name = new URL(route.request().url()).pathname.slice(prefix.length) || "index.html";
    const file = path.join(dir, name);
    if (name.includes("/") || !fs.existsSync(file)) return route.continue();
    const real = await route.fetch(); // the daemon's answer, for its headers (CSP, nosniff, ...)
    const headers = { ...real.headers(), "content-type": TYPES[path.extname(name)] || "application/octet-stream" };
    delete headers["content-length"];
    await route.fulfill({ status: 200, headers, body: fs.readFileSync(file) });
  });
}

// ---- the steps ------------------------------------------------------------------------------------
const steps = [];
const step = (name, fn) => steps.push({ name, fn });
const dialogs = [];

step("sign-in prompt", async (page) => {
  const res = await page.goto(URL_, { waitUntil: "load" });
  check(res && res.status() === 200, `GET ${URL_} answered ${res && res.status()}`);
  const csp = res.headers()["content-security-policy"] || "";
  check(csp.includes("default-src 'self'"), `the console is served without its Content-Security-Policy: "${csp}"`);
  await visible(page.locator("#signin"), "the sign-in form (no token yet)");
  await visible(page.locator("#token"), "the token field");
  check(await page.locator("#app").isHidden(), "the app is visible before a token was given");
  check((await page.locator("#token").getAttribute("type")) === "password", "the token field is not a password field");
  await shot(page, "signin");
});

step("wrong token is refused", async (page) => {
  allowUnauthorized = true;
  try {
    await page.fill("#token", "not-a-token");
    const refused = page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/connectors" && r.status() === 401);
    await page.click("#token-form button[type=submit]");
    await refused;
    await until("the sign-in error for a wrong token", async () =>
      /not accepted/i.test(await page.locator("#signin-error").innerText()));
    check(await page.locator("#app").isHidden(), "the app opened with a wrong token");
  } finally {
    await page.waitForTimeout(200); // let the 401's console message arrive while it is allowed
    allowUnauthorized = false;
  }
});

step("sign in with the operator token", async (page) => {
  await page.fill("#token", TOKEN);
  await page.click("#token-form button[type=submit]");
  await visible(page.locator("#app"), "the console after signing in");
  check(await page.locator("#signin").isHidden(), "the sign-in form is still shown after signing in");
  await until("'signed in' in the header", async () => /signed in/.test(await page.locator("#who").innerText()));
  check(await page.evaluate(() => sessionStorage.getItem("ob-token")) === TOKEN, "the token is not kept for the tab");
});

step("overview with charts", async (page) => {
  const cards = page.locator("#charts .card");
  await until("the five overview cards", async () => (await cards.count()) === 5);
  const labels = await texts(page.locator("#charts .card .label"));
  for (const want of ["Orders accepted / s", "Deliveries / s", "Failed attempts", "Backlog (all lanes)", "Dead letters"])
    check(labels.includes(want), `overview card "${want}" missing; cards: ${JSON.stringify(labels)}`);
  const deadCard = cards.filter({ hasText: "Dead letters" }).locator(".value");
  check((await deadCard.innerText()).trim() === "1", `the Dead letters card shows "${await deadCard.innerText()}", want 1`);
  // Sparklines need two (backlog) or three (rates) samples, taken every 5 s while the page is open.
  await until("a sparkline in every overview card", async () =>
    (await page.locator("#charts .card svg polyline").count()) === 5, 25000);
  const points = await page.locator("#charts .card svg polyline").first().getAttribute("points");
  check(points && points.split(" ").length >= 2, `a sparkline without points: "${points}"`);
  for (const name of Object.keys(BREAKERS)) {
    await until(`connector ${name} in the overview's lanes`, async () => (await rowWith(page, "#overview-lanes", name).count()) === 1);
  }
  const rate = Number((await cards.filter({ hasText: "Orders accepted / s" }).locator(".value").innerText()).trim());
  check(Number.isFinite(rate), "the accepted rate is not a number");
  await shot(page, "overview");
  if (README_SHOT) {
    await until(`${README_SAMPLES} points in the sparklines for the README picture`, async () =>
      ((await page.locator("#charts .card svg polyline").first().getAttribute("points")) || "").split(" ").length >=
        README_SAMPLES, (README_SAMPLES + 2) * 5000);
    await page.mouse.move(0, VIEWPORT.height - 1); // no hover highlight in the picture
    fs.mkdirSync(path.dirname(README_SHOT), { recursive: true });
    // The viewport's width, and its height down to the end of the content (no empty half picture).
    const bottom = await page.evaluate(() => document.querySelector("#app").getBoundingClientRect().bottom);
    const height = Math.min(VIEWPORT.height, Math.max(400, Math.ceil(bottom) + 16));
    await page.screenshot({ path: README_SHOT, clip: { x: 0, y: 0, width: VIEWPORT.width, height } });
    console.log(`README screenshot: ${README_SHOT}`);
  }
});

step("order search and timeline", async (page) => {
  await openTab(page, "orders", "Orders");
  const form = page.locator("#order-search");
  await form.locator("input[name=id]").fill(ORDER_ID);
  await form.locator("button[type=submit]").click();
  const detail = page.locator("#order-detail .detail");
  await visible(detail, `the detail of ${ORDER_ID}`);
  const title = await detail.locator("h3").first().innerText();
  check(title.includes(ORDER_ID), `the order detail is titled "${title}", not ${ORDER_ID}`);
  check((await page.locator("#orders tr").count()) === 0 && (await page.locator("#orders-more").isHidden()),
        "a search by id still shows the order list above the order (the result is pushed out of view)");
  const tables = detail.locator("table");
  check((await tables.count()) === 2, "the order detail should have a deliveries and a timeline table");
  const delivered = tables.nth(0).locator("tbody tr").filter({ hasText: "delivered" });
  check((await delivered.count()) >= 1, `no delivered delivery for ${ORDER_ID}: ${await tables.nth(0).innerText()}`);
  const stepsShown = await texts(tables.nth(1).locator("tbody tr td:nth-child(2)"));
  for (const want of ["received", "normalized", "committed", "attempt", "delivered"])
    check(stepsShown.includes(want), `timeline step "${want}" missing for ${ORDER_ID}; shown: ${JSON.stringify(stepsShown)}`);
  check(stepsShown.indexOf("received") < stepsShown.indexOf("committed") &&
        stepsShown.indexOf("committed") < stepsShown.lastIndexOf("delivered"),
        `timeline out of order: ${JSON.stringify(stepsShown)}`);
  await shot(page, "order-timeline");
});

step("held orders", async (page) => {
  const form = page.locator("#order-search");
  await form.locator("input[name=id]").fill("");
  await form.locator("input[name=held]").check();
  await form.locator("button[type=submit]").click();
  const rows = page.locator("#orders tbody tr");
  await until(`the held order ${HELD_ID} in the list`, async () => (await rowWith(page, "#orders", HELD_ID).count()) === 1);
  const all = await texts(rows);
  check(all.length === 1, `"held only" lists ${all.length} orders, want only ${HELD_ID}: ${JSON.stringify(all)}`);
  check(/held/.test(all[0]), `the held order's row has no "held" mark: ${all[0]}`);
  check(await page.locator("#order-detail").innerText() === "", "the previous order's detail is still shown");
  await rowWith(page, "#orders", HELD_ID).click();
  const detail = page.locator("#order-detail .detail");
  await visible(detail, `the detail of the held order ${HELD_ID}`);
  await until("the finding that holds the order", async () => /currency_not_configured/.test(await detail.innerText()));
  await visible(detail.locator("button", { hasText: "Release" }), "the Release button of the held order");
  await shot(page, "held-orders");
});

step("release the held order", async (page) => {
  const detail = page.locator("#order-detail .detail");
  await detail.locator("button", { hasText: "Release" }).click();
  const d = await until("the release's reason prompt", async () => dialogs.shift());
  check(d.type === "prompt" && d.message.includes(`Release ${HELD_ID}?`), `unexpected dialog ${d.type}: "${d.message}"`);
  const said = await toastSays(page, new RegExp(`${HELD_ID} released|Refused`), "the release");
  check(!/Refused/.test(said), `the release was refused: ${said}`);
  await until("the held list to be empty after the release", async () =>
    (await texts(page.locator("#orders tbody tr"))).join() === "nothing here");
  await until("the released order's detail (and its Release button) to go", async () =>
    (await page.locator("#order-detail").innerText()).trim() === "");
  // Its own view: no longer held, no Release button, the release in its timeline.
  const form = page.locator("#order-search");
  await form.locator("input[name=held]").uncheck();
  await form.locator("input[name=id]").fill(HELD_ID);
  await form.locator("button[type=submit]").click();
  await visible(detail, `the detail of the released order ${HELD_ID}`);
  const title = await detail.locator("h3").first().innerText();
  check(title.includes(HELD_ID) && !/held|Release/.test(title), `the released order is still shown as held: "${title}"`);
  const stepsShown = await texts(detail.locator("table").nth(1).locator("tbody tr td:nth-child(2)"));
  check(stepsShown.includes("released"), `no "released" step in the timeline: ${JSON.stringify(stepsShown)}`);
  await shot(page, "released");
});

let deadId = "";
step("dead letter replay", async (page) => {
  await openTab(page, "dlq", "Dead letters");
  const row = rowWith(page, "#dlq", DEAD_ENTITY);
  await until(`the dead letter of ${DEAD_ENTITY}`, async () => (await row.count()) === 1);
  const cells = await texts(row.locator("td"));
  deadId = cells[0];
  check(/^\d+$/.test(deadId), `the dead letter's id cell is "${deadId}"`);
  check(cells.includes("permanent"), `the dead letter is not shown as permanent: ${JSON.stringify(cells)}`);
  await row.click();
  const detail = page.locator("#dlq-detail .detail");
  await visible(detail, `the detail of dead letter ${deadId}`);
  const heading = await detail.locator("h3").first().innerText();
  check(heading.includes(deadId) && heading.includes(DEAD_ENTITY), `dead letter detail titled "${heading}"`);
  check((await detail.locator("table tbody tr").count()) >= 1, "the dead letter shows no attempts");
  const payload = JSON.parse(await detail.locator("textarea").inputValue());
  check(payload.entity_id === DEAD_ENTITY, `the payload editor holds ${payload.entity_id}, not ${DEAD_ENTITY}`);
  await shot(page, "dead-letter");

  await detail.locator("button", { hasText: /^Replay$/ }).click();
  const d = await until("the replay's reason prompt", async () => dialogs.shift());
  check(d.type === "prompt" && d.message.includes(`Replay dead letter ${deadId}`),
        `unexpected dialog ${d.type}: "${d.message}"`);
  const said = await toastSays(page, new RegExp(`dead letter ${deadId} replayed|Refused`), "the replay");
  check(!/Refused/.test(said), `the replay was refused: ${said}`);
  await until(`dead letter ${deadId} to leave the list`, async () => (await rowWith(page, "#dlq", DEAD_ENTITY).count()) === 0);
  await until(`dead letter ${deadId}'s detail (and its Replay buttons) to go`, async () =>
    (await page.locator("#dlq-detail").innerText()).trim() === "");
  await shot(page, "dead-letter-replayed");
});

step("connectors with breaker state", async (page) => {
  await openTab(page, "connectors", "Connectors");
  for (const [name, breaker] of Object.entries(BREAKERS)) {
    const row = rowWith(page, "#connectors", name);
    await until(`connector ${name} in the connectors view`, async () => (await row.count()) === 1);
    await until(`connector ${name}'s breaker shown as "${breaker}"`, async () =>
      (await row.locator("td").nth(2).innerText()).trim() === breaker);
    const health = (await row.locator("td").nth(1).innerText()).trim();
    if (breaker === "open") check(health === "breaker open", `${name}: health "${health}" with an open breaker`);
    if (breaker === "closed") check(!/breaker/.test(health), `${name}: health "${health}" with a closed breaker`);
    await visible(row.locator("button", { hasText: /^(Pause|Resume)$/ }), `${name}'s Pause button`);
  }
  await until("the shop in the shops table", async () => (await page.locator("#stores tbody tr td").first().innerText()).trim() === "main");
  await shot(page, "connectors");
});

step("audit shows the release and the replay", async (page) => {
  await openTab(page, "audit", "Audit");
  for (const [reason, action, target] of [[RELEASE_REASON, "release", HELD_ID], [REASON, "replay", `dlq:${deadId}`]]) {
    const row = page.locator("#audit tbody tr").filter({ hasText: reason });
    await until(`the ${action} in the audit log`, async () => (await row.count()) === 1);
    const cells = await texts(row.locator("td"));
    check(cells[2] === action && cells[3] === target, `audit row ${JSON.stringify(cells)} is not the ${action} of ${target}`);
    if (ACTOR) check(cells[1] === ACTOR, `the ${action}'s audit row names ${cells[1]}, want ${ACTOR}`);
  }
  await shot(page, "audit");
});

// ---- run --------------------------------------------------------------------------------------------
fs.mkdirSync(ARTIFACTS, { recursive: true });
for (const f of fs.readdirSync(ARTIFACTS)) // this run's pictures only
  if (/^(\d\d-.*\.png|failure\.(png|html))$/.test(f)) fs.rmSync(path.join(ARTIFACTS, f));
const started = Date.now();
let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
} catch (e) {
  console.error(`FAIL [launch]: cannot start ${CHROMIUM} with playwright-core: ${e.message}`);
  process.exit(1);
}
let failed = false;
try {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: "en-US",
                                             timezoneId: "UTC" });
  if (ASSETS_DIR) {
    await serveAssetsFrom(context, ASSETS_DIR);
    console.log(`console files served from ${ASSETS_DIR}, not from the binary`);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watch(page);
  page.on("dialog", async (dialog) => {
    dialogs.push({ type: dialog.type(), message: dialog.message() });
    if (dialog.type() === "prompt") await dialog.accept(dialog.message().startsWith("Release") ? RELEASE_REASON : REASON);
    else await dialog.dismiss();
  });
  for (const { name, fn } of steps) {
    const t0 = Date.now();
    try {
      await fn(page);
      noProblems(`during "${name}"`);
    } catch (e) {
      failed = true;
      const why = e instanceof CheckFailed ? e.message : (e.stack || String(e));
      console.error(`FAIL [${name}]: ${why}`);
      if (problems.length && !(e instanceof CheckFailed && why.startsWith("the browser reported")))
        console.error(`  the browser also reported:\n  ${problems.join("\n  ")}`);
      try {
        const file = path.join(ARTIFACTS, "failure.png");
        await page.screenshot({ path: file, fullPage: true });
        fs.writeFileSync(path.join(ARTIFACTS, "failure.html"), await page.content());
        console.error(`  page at the failure: ${file} (and failure.html)`);
      } catch (shotErr) {
        console.error(`  (no failure screenshot: ${shotErr.message})`);
      }
      break;
    }
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  }
  await context.close();
} finally {
  await browser.close();
}
if (failed) process.exit(1);
console.log(`all ${steps.length} console checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
