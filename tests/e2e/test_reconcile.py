"""The reconciliation poller and the webhook watchdog against the WooCommerce simulator
(research/woocommerce.md 1.7 and 3.4): WooCommerce never retries a webhook and sends nothing while
orderbridge is down, so the poller reads `GET /orders?modified_after=` from a watermark kept in the
store; every order goes through the webhook's normalize/dedupe/commit path, so an order that also
arrives by webhook is stored and delivered once. The watchdog finds disabled or missing webhooks and
repairs them when told to."""
import datetime
import json
import os
import sys
import threading
import unittest

from harness import Daemon, Storage, daemon_config, fixture, wait_for, woo_headers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "simulators"))
from http_sink import Sink  # noqa: E402
from woocommerce_sim import WooCommerceSim  # noqa: E402

SECRET = "wh-secret"
VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}
HOOK_URL = "https://bridge.example.com/webhooks/woocommerce/main"


def config(storage, woo_url, sink_url, poller=True, repair=False):
    return daemon_config(storage, f"""
stores:
  - id: main
    url: "{woo_url}"
    webhook_secrets: ["{SECRET}"]
    api: {{consumer_key: ck_test, consumer_secret: cs_test, rate_per_second: 50, timeout: 2s}}
    poller: {{enabled: {str(poller).lower()}, interval: 1s}}
    webhooks:
      topics: [order.created, order.updated]
      delivery_url: "{HOOK_URL}"
      check_interval: 1s
      repair: {str(repair).lower()}
connectors:
  - name: sink
    kind: http
    base_url: "{sink_url}"
    path: /events
    subscribe: ["order.*"]
    timeout: 2s
    rate_limit: {{per_second: 500, burst: 100, max_in_flight: 4}}
    retry: {{max_attempts: 8, initial_backoff: 50ms, max_backoff: 300ms, max_age: 1h}}
""", operator=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def add_order(woo, order_id, modified):
    """A real order (the simple fixture) placed in the simulated shop."""
    o = json.loads(fixture("order_simple.json"))
    for key in ("id", "number", "_links", "date_created", "date_modified", "date_created_gmt", "date_paid",
                "date_paid_gmt", "date_completed", "date_completed_gmt"):
        o.pop(key, None)
    o["date_modified_gmt"] = modified
    o["date_created_gmt"] = modified
    status, items = o.pop("status"), o.pop("line_items")
    woo.add_order(order_id, status=status, line_items=items, **o)


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.decode().splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return 0.0


class PollerTest(unittest.TestCase):
    def setUp(self):
        self.woo = WooCommerceSim()
        self.sink = Sink()
        self.storage = Storage("sqlite")
        self.d = Daemon(config(self.storage, self.woo.url, self.sink.url)).start()

    def tearDown(self):
        self.d.stop()
        self.woo.close()
        self.sink.close()

    def stores(self):
        _, _, data = self.d.request("GET", "/v1/stores", headers=VIEWER)
        return json.loads(data)["items"]

    def test_orders_taken_while_the_daemon_was_down_arrive_once(self):
        # The first run records a watermark; then the daemon goes down.
        wait_for(lambda: self.stores()[0]["poller"]["last_run_at"] is not None, timeout=10, what="a poller run")
        self.d.stop()
        modified = utc_now()
        for order_id in range(70001, 70101):
            add_order(self.woo, order_id, modified)
        self.d.start()
        # Some webhooks arrive late, while the poller is catching up: the same bodies WooCommerce would send.
        late = [self.woo.orders[i] for i in range(70001, 70011)]
        answers = []

        def send(view):
            view = {k: v for k, v in view.items() if k != "notes"}
            body = json.dumps(view, separators=(",", ":")).encode()
            answers.append(self.d.request("POST", "/webhooks/woocommerce/main", body=body,
                                          headers=woo_headers(body, SECRET, "order.updated"))[0])
        threads = [threading.Thread(target=send, args=(v,)) for v in late]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(a in (200, 202) for a in answers), answers)

        self.sink.wait_for_accepted(100, timeout=60)
        wait_for(lambda: self.stores()[0]["poller"]["missed_orders"] >= 90, timeout=20, what="poller counts")
        by_entity = self.sink.by_entity()
        self.assertEqual(sorted(by_entity), [f"wc:main:{i}" for i in range(70001, 70101)])
        self.assertTrue(all(len(v) == 1 for v in by_entity.values()), {k: v for k, v in by_entity.items() if len(v) > 1})
        # The run that brought them has ended when the lag is reported.
        wait_for(lambda: b'orderbridge_poller_lag_seconds{store="main"}' in self.d.request("GET", "/metrics")[2],
                 timeout=10, what="the poller run to end")
        _, _, metrics = self.d.request("GET", "/metrics")
        missed = metric(metrics, "orderbridge_poller_orders_total", outcome="missed", store="main")
        webhook_new = answers.count(202)
        self.assertEqual(missed + webhook_new, 100)
        self.assertGreaterEqual(missed, 90)
        self.assertIsNotNone(self.stores()[0]["poller"]["watermark"])

        # A later change in the shop (no webhook) is picked up too, as a new version. WooCommerce's
        # date_modified has whole seconds, and two changes within one second cannot be ordered: change
        # the order in a later second than the one it was placed in.
        wait_for(lambda: utc_now() > modified, timeout=3, what="the next second")
        self.woo.set_order_status(70050, "completed")
        wait_for(lambda: len(self.sink.by_entity().get("wc:main:70050", [])) == 2, timeout=20, what="the update")


    def test_stock_that_drifted_in_the_shop_is_written_again(self):
        self.woo.add_product(801, "MUG-BLUE", stock_quantity=0)
        levels = {"levels": [{"sku": "MUG-BLUE", "location": "east", "on_hand": 6, "available": 5,
                              "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]}
        status, _, _ = self.d.request("POST", "/v1/inventory", body=json.dumps(levels).encode(),
                                      headers={"Authorization": "Bearer operator-token-0123456789",
                                               "Content-Type": "application/json"})
        self.assertEqual(status, 202)
        wait_for(lambda: self.woo.stock_of("MUG-BLUE") == 5, timeout=20, what="the first write")
        self.woo.set_stock(801, 2)  # someone edits the stock in the shop's admin
        wait_for(lambda: self.woo.stock_of("MUG-BLUE") == 5, timeout=20, what="the drift corrected")
        wait_for(lambda: self.stores()[0]["poller"]["stock_drift"] >= 1, timeout=10, what="the drift counted")
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertGreaterEqual(metric(metrics, "orderbridge_stock_drift_total", store="main"), 1.0)


class WatchdogTest(unittest.TestCase):
    def start(self, repair):
        self.woo = WooCommerceSim()
        self.sink = Sink()
        self.storage = Storage("sqlite")
        self.created = self.woo.add_webhook("order.created", HOOK_URL, SECRET)
        self.updated = self.woo.add_webhook("order.updated", HOOK_URL, SECRET, status="disabled")
        self.d = Daemon(config(self.storage, self.woo.url, self.sink.url, poller=False, repair=repair)).start()

    def tearDown(self):
        self.d.stop()
        self.woo.close()
        self.sink.close()

    def states(self):
        _, _, data = self.d.request("GET", "/v1/stores", headers=VIEWER)
        return {w["topic"]: w for w in json.loads(data)["items"][0]["webhooks"]}

    def test_a_disabled_webhook_is_reported(self):
        self.start(repair=False)
        wait_for(lambda: len(self.states()) == 2, timeout=10, what="a watchdog check")
        self.assertEqual(self.states()["order.created"]["state"], "active")
        self.assertEqual(self.states()["order.updated"]["state"], "disabled")
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertEqual(metric(metrics, "orderbridge_webhook_health", store="main", topic="order.updated"), 0.0)
        self.assertEqual(metric(metrics, "orderbridge_webhook_health", store="main", topic="order.created"), 1.0)
        self.assertEqual(self.woo.webhooks[self.updated]["status"], "disabled")  # left alone without repair

    def test_a_disabled_webhook_is_enabled_and_a_missing_one_created_with_repair(self):
        self.start(repair=True)
        wait_for(lambda: self.woo.webhooks[self.updated]["status"] == "active", timeout=10, what="re-enabled")
        self.assertEqual(self.woo.webhooks[self.updated]["secret"], SECRET)
        # Deleted in the shop: created again, with our secret and delivery URL.
        self.woo.set_webhook_status(self.created, "disabled")
        with self.woo._shop.cond:
            del self.woo._shop.webhooks[self.created]
        wait_for(lambda: any(w["topic"] == "order.created" and w["status"] == "active" and w["delivery_url"] == HOOK_URL
                             for w in self.woo.webhooks.values()), timeout=10, what="re-created")
        new = [w for w in self.woo.webhooks.values() if w["topic"] == "order.created"][0]
        self.assertEqual(new["secret"], SECRET)
        _, _, metrics = self.d.request("GET", "/metrics")
        self.assertGreaterEqual(metric(metrics, "orderbridge_webhook_repairs_total", action="created", store="main",
                                       topic="order.created"), 1.0)


if __name__ == "__main__":
    unittest.main()
