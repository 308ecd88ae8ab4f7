"""Helpers to drive the built orderbridge binary in end-to-end tests (Python standard library only).

Each Daemon runs in its own temporary directory with its own config, binds port 0, and reads the
real port from its "listening" log line. Waits are conditions with deadlines, never fixed sleeps.
"""
import http.client
import json
import os
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


class Daemon:
    """orderbridge serve with a generated config; use as a context manager."""

    def __init__(self, config_text, env=None, args=None):
        self.dir = tempfile.mkdtemp(prefix="ob-e2e-")
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
        self.proc = subprocess.Popen([BIN, "--config", self.config_path, *self.args, "serve"], cwd=self.dir,
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
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
