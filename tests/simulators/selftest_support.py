"""What the simulators' self-tests share (Python standard library only).

`Receiver(status=200, body=b"")`: a tiny webhook receiver on 127.0.0.1 standing in for the middleware;
records every POST in `received` as (path, lower-case headers, body bytes) and answers `status` (which a
test may change) with `body`. Attributes `url`; `close()`.

`Standalone(script, *args)`: a simulator run as its own process, `python3 <script> --port 0 <args>` from
this folder; `port` once it has printed it. A context manager: leaving sends SIGTERM and waits (5 s) for
the exit; then `returncode`, and `summary`: the last line it printed, as JSON.

`JsonClient(port, timeout=5.0, headers=None)`: one keep-alive connection to a simulator on 127.0.0.1 speaking
as the connector would; `headers` (default: the subclass's `default_headers()`) go with every request that
names none of its own. `request(method, path, body=None, query=None, headers=None)` returns (status,
lower-case headers, parsed JSON body or raw bytes); `close()`.

`overridden(body, overrides)`: body with each override set, or removed where its value is None.
"""
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def overridden(body, overrides):
    """body (changed in place) with overrides applied: a None value removes the key, any other sets it."""
    for k, v in overrides.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


class JsonClient:
    """One keep-alive connection speaking to the simulator as the connector would."""

    def __init__(self, port, timeout=5.0, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.headers = self.default_headers() if headers is None else dict(headers)

    @staticmethod
    def default_headers():
        return {}

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, query=None, headers=None):
        """Returns (status, lower-case headers, parsed JSON body or raw bytes)."""
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        hdrs = dict(self.headers if headers is None else headers)
        raw = None
        if body is not None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self.conn.request(method, url, body=raw, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if hdrs.get("content-type", "").startswith("application/json") and data:
            data = json.loads(data)
        return resp.status, hdrs, data


class Receiver:
    def __init__(self, status=200, body=b""):
        received = self.received = []
        self.status, self.body = status, body
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Standalone:
    def __init__(self, script, *args):
        script, *leading = script.split()  # "serve.py woocommerce": the kind goes before --port
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), *leading, "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True, cwd=HERE)
        self.returncode = self.output = None
        try:
            self.port = json.loads(self.proc.stdout.readline())["port"]
        except BaseException:
            self.stop()
            raise

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.output, _ = self.proc.communicate(timeout=5)
        self.returncode = self.proc.returncode

    @property
    def summary(self):
        return json.loads(self.output.strip().splitlines()[-1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
