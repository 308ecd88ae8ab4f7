"""Helpers to drive the built orderbridge binary in end-to-end tests (Python standard library only).

Each Daemon runs in its own temporary directory with its own config, binds port 0, and reads the
real port from its "listening" log line. Waits are conditions with deadlines, never fixed sleeps.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

BIN = os.path.abspath(os.environ.get("ORDERBRIDGE_BIN", os.path.join(os.path.dirname(__file__), "../../build/ci/src/orderbridge")))
SOURCE_DIR = os.environ.get("ORDERBRIDGE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


_DIRS = []


@atexit.register
def _remove_dirs():
    """The daemons' working directories go when the test process ends (a test may stop a daemon and read
    its database afterwards, or start it again); ORDERBRIDGE_KEEP_TEST_DIRS=1 keeps them for a post-mortem."""
    if not os.environ.get("ORDERBRIDGE_KEEP_TEST_DIRS"):
        for d in _DIRS:
            shutil.rmtree(d, ignore_errors=True)


class Daemon:
    """orderbridge serve with a generated config; use as a context manager."""

    def __init__(self, config_text, env=None, args=None):
        self.dir = tempfile.mkdtemp(prefix="ob-e2e-")
        _DIRS.append(self.dir)
        self.config_path = os.path.join(self.dir, "orderbridge.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.args = args or []
        self.proc = None
        self.port = None
        self.lines = []
        self._lock = threading.Lock()

    def start(self, wait=True):
        with self._lock:
            self.lines = []  # a restart must not find the previous process's "listening" line
        self.proc = subprocess.Popen([BIN, "--config", self.config_path, *self.args, "serve"], cwd=self.dir,
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        if wait:
            self.port = wait_for(self._listening_port, timeout=30, what="the daemon to listen")
        return self

    def _pump(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log_records(self):
        with self._lock:
            lines = list(self.lines)
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"msg": line})
        return out

    def _listening_port(self):
        for rec in self.log_records():
            if rec.get("msg") == "listening":
                return rec["port"]
        if self.proc.poll() is not None:
            raise AssertionError("daemon exited early:\n" + "\n".join(self.lines))
        return None

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.poll() is not None and self.proc.stdout:
            self._pump_thread.join(5)  # the pipe reaches its end once the process has gone
            if not self._pump_thread.is_alive():
                self.proc.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def base_config(extra_server="", extra=""):
    return f"""
server:
  listen: "127.0.0.1:0"
  io_threads: 2
{extra_server}
log: {{level: info, format: json}}
storage:
  driver: sqlite
  sqlite: {{path: "data/orderbridge.db"}}
{extra}
"""


VIEWER_TOKEN = "viewer-token-0123456789"
OPERATOR_TOKEN = "operator-token-0123456789"


def daemon_config(storage, body, operator=False):
    """What most e2e configurations share: the server on a free port with the viewer token `support`
    (and, with `operator`, the operator token `ops`), JSON logs without access log, the storage of
    `storage`; then `body` (stores, connectors, ...)."""
    tokens = [f'    - {{name: support, token: "{VIEWER_TOKEN}", role: viewer}}']
    if operator:
        tokens.append(f'    - {{name: ops, token: "{OPERATOR_TOKEN}", role: operator}}')
    return ("\nserver:\n  listen: \"127.0.0.1:0\"\n  io_threads: 2\n  admin_tokens:\n" + "\n".join(tokens) +
            "\nlog: {level: info, format: json, access_log: false}\n" + storage.config() + "\n" + body)


# --- WooCommerce deliveries ---------------------------------------------------------------------
import base64
import hashlib
import hmac
import uuid

FIXTURES = os.path.join(SOURCE_DIR, "tests/fixtures/woocommerce")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def with_order_id(body, new_id, old_id=4101):
    """The fixture body with every occurrence of its order id replaced (ids, number, links)."""
    return body.replace(str(old_id).encode(), str(new_id).encode())


def with_full_refund(body, refund_id, reason="Customer changed their mind"):
    """An order body (status already "refunded") as WooCommerce sends it after a full refund: one refund
    of the whole total in `refunds` (the body's bytes are otherwise kept)."""
    total = json.loads(body)["total"]
    refund = json.dumps([{"id": refund_id, "reason": reason, "total": "-" + total}], separators=(",", ":"))
    assert body.count(b'"refunds":[]') == 1
    return body.replace(b'"refunds":[]', b'"refunds":' + refund.encode())


def sign(body, secret):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def woo_headers(body, secret, topic="order.created"):
    return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": sign(body, secret), "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-Source": "https://shop.example.com/", "User-Agent": "WooCommerce/10.2.1 Hookshot (WordPress/6.8.3)"}


# --- storage drivers ------------------------------------------------------------------------------
PG_DSN = os.environ.get("ORDERBRIDGE_TEST_PG_DSN", "")


def psql(dsn, sql):
    r = subprocess.run(["psql", dsn, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"psql failed: {r.stderr}")
    return r.stdout.strip()


class Storage:
    """A fresh database for one daemon: a SQLite file, or a new PostgreSQL database."""

    def __init__(self, driver):
        self.driver = driver
        if driver == "postgres":
            if not PG_DSN:
                raise unittest_skip("ORDERBRIDGE_TEST_PG_DSN is not set (make test sets it)")
            self.name = "ob_" + uuid.uuid4().hex[:12]
            psql(PG_DSN, f"CREATE DATABASE {self.name}")
            self.dsn = PG_DSN.rsplit("/", 1)[0] + "/" + self.name

    def config(self, daemon_dir_relative="data/orderbridge.db", extra=""):
        if self.driver == "sqlite":
            return f'storage:\n  driver: sqlite\n  sqlite: {{path: "{daemon_dir_relative}"}}\n{extra}'
        return (f'storage:\n  driver: postgres\n  postgres: {{dsn: "{self.dsn}", pool_size: 4, connect_timeout: 1s, '
                f'statement_timeout: 2s}}\n{extra}')

    def query(self, daemon, sql):
        if self.driver == "sqlite":
            r = subprocess.run(["sqlite3", os.path.join(daemon.dir, "data/orderbridge.db"), sql], capture_output=True,
                               text=True, timeout=60)
            if r.returncode != 0:
                raise AssertionError(r.stderr)
            return r.stdout.strip()
        return psql(self.dsn, sql)


def unittest_skip(msg):
    import unittest
    return unittest.SkipTest(msg)
