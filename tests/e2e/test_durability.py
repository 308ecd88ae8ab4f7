"""What was acknowledged is never lost or duplicated: SIGKILL during load on both drivers, and a
PostgreSQL outage under load (fast 503s, recovery without restarting the daemon)."""
import http.client
import os
import random
import signal
import subprocess
import threading
import time
import unittest

from harness import Daemon, PG_DSN, Storage, fixture, wait_for, with_order_id, woo_headers

SECRET = "crash-secret"


def config(storage):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
log: {{level: info, format: json, access_log: false}}
{storage.config(extra="  ack_timeout: 2s")}
stores:
  - id: main
    webhook_secrets: ["{SECRET}"]
"""


class Load:
    """Threads posting distinct signed orders; remembers which ids were acknowledged with 2xx."""

    def __init__(self, daemon, first_id, threads=4):
        self.daemon = daemon
        self.next_id = first_id
        self.lock = threading.Lock()
        self.acked = set()
        self.failed = 0
        self.statuses = {}
        self.stop = threading.Event()
        self.base = fixture("order_simple.json")
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self):
        conn, port = None, None
        while not self.stop.is_set():
            with self.lock:
                oid = self.next_id
                self.next_id += 1
            body = with_order_id(self.base, oid)
            try:
                if conn is None or port != self.daemon.port:
                    port = self.daemon.port
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/webhooks/woocommerce/main", body=body, headers=woo_headers(body, SECRET))
                resp = conn.getresponse()
                resp.read()
                with self.lock:
                    self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                    if 200 <= resp.status < 300:
                        self.acked.add(oid)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.failed += 1
                conn = None
                time.sleep(0.01)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


class CrashBase:
    driver = None

    def test_sigkill_under_load_loses_and_duplicates_nothing(self):
        storage = Storage(self.driver)
        d = Daemon(config(storage)).start()
        load = Load(d, 100000).start()
        rng = random.Random(7)
        kills = 0
        try:
            for _ in range(3):
                wait_for(lambda: len(load.acked) > (kills + 1) * 50, timeout=60, what="some acknowledged orders")
                time.sleep(rng.uniform(0.05, 0.5))
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(timeout=10)
                kills += 1
                d.start()  # same directory and database
            wait_for(lambda: len(load.acked) > (kills + 1) * 50, timeout=60, what="orders after the last restart")
        finally:
            load.finish()
            d.stop()
        acked = sorted(load.acked)
        self.assertGreater(len(acked), 200)
        rows = storage.query(d, "SELECT source_id FROM entities WHERE kind = 'order'").split()
        stored = [int(x) for x in rows]
        self.assertEqual(len(stored), len(set(stored)), "an order is stored twice")
        missing = set(acked) - set(stored)
        self.assertEqual(missing, set(), f"{len(missing)} acknowledged orders were lost")
        events = storage.query(d, "SELECT entity_id FROM outbox WHERE type = 'order.created'").split()
        self.assertEqual(len(events), len(set(events)), "an outbox event is duplicated")
        self.assertTrue({f"wc:main:{i}" for i in acked} <= set(events))
        print(f"\n{self.driver}: {len(acked)} acknowledged, {len(stored)} stored, {kills} kills, "
              f"{load.failed} requests cut by the kills, statuses {load.statuses}")


class CrashSqliteTest(CrashBase, unittest.TestCase):
    driver = "sqlite"


class CrashPostgresTest(CrashBase, unittest.TestCase):
    driver = "postgres"


def pg_ctl(action):
    pg_bin = os.environ["ORDERBRIDGE_TEST_PG_BIN"]
    data = os.environ["ORDERBRIDGE_TEST_PG_DATA"]
    cmd = [os.path.join(pg_bin, "pg_ctl"), "-D", data, "-w", "-m", "fast", action]
    if action == "start":
        cmd += ["-l", os.path.join(os.path.dirname(data), "pg.log")]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@unittest.skipUnless(PG_DSN and os.environ.get("ORDERBRIDGE_TEST_PG_DATA"), "needs the private PostgreSQL of make test")
class PostgresOutageTest(unittest.TestCase):
    @staticmethod
    def messages(d):
        return [r.get("msg") for r in d.log_records()]

    def test_outage_gives_fast_503_then_recovers_without_restart(self):
        storage = Storage("postgres")
        d = Daemon(config(storage)).start()
        base = fixture("order_simple.json")
        try:
            body = with_order_id(base, 200001)
            self.assertEqual(d.request("POST", "/webhooks/woocommerce/main", body=body,
                                       headers=woo_headers(body, SECRET))[0], 202)
            pg_ctl("stop")
            try:
                slowest = 0.0
                statuses = []
                for i in range(20):
                    body = with_order_id(base, 200100 + i)
                    started = time.monotonic()
                    status, headers, _ = d.request("POST", "/webhooks/woocommerce/main", body=body,
                                                   headers=woo_headers(body, SECRET))
                    slowest = max(slowest, time.monotonic() - started)
                    statuses.append(status)
                    if status == 503:
                        self.assertIn("Retry-After", headers)
                self.assertEqual(statuses, [503] * 20)
                self.assertLess(slowest, 3.0, "503 must come within the ack timeout bound")
                self.assertEqual(d.request("GET", "/readyz")[0], 503)
                self.assertEqual(d.request("GET", "/healthz")[0], 200)
                # The schema watch (every 5 s) warns once for the outage, not at every failing check.
                wait_for(lambda: self.messages(d).count("schema check failed") == 1, timeout=15,
                         interval=0.5, what="the schema watch to warn that its check failed")
                time.sleep(6)
                self.assertEqual(self.messages(d).count("schema check failed"), 1)
            finally:
                pg_ctl("start")

            def accepted_again():
                body = with_order_id(base, 200500 + int(time.monotonic() * 1000) % 100000)
                return d.request("POST", "/webhooks/woocommerce/main", body=body,
                                 headers=woo_headers(body, SECRET))[0] == 202
            wait_for(accepted_again, timeout=30, interval=0.2, what="ingest to recover after PostgreSQL restarts")
            wait_for(lambda: d.request("GET", "/readyz")[0] == 200, timeout=10, what="readiness to recover")
            wait_for(lambda: "schema check works again" in self.messages(d), timeout=15,
                     interval=0.5, what="the schema watch to log its recovery")
            time.sleep(6)
            self.assertEqual(self.messages(d).count("schema check works again"), 1)
            self.assertEqual(self.messages(d).count("schema check failed"), 1)
            self.assertEqual(d.proc.poll(), None, "the daemon must not have restarted")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
