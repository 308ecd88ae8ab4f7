"""What the simulators' self-tests share (Python standard library only).

`Receiver(status=200, body=b"")`: a tiny webhook receiver on 127.0.0.1 standing in for the middleware;
records every POST in `received` as (path, lower-case headers, body bytes) and answers `status` (which a
test may change) with `body`. Attributes `url`; `close()`.

`Standalone(script, *args)`: a simulator run as its own process, `python3 <script> --port 0 <args>` from
this folder; `port` once it has printed it. A context manager: leaving sends SIGTERM and waits (5 s) for
the exit; then `returncode`, and `summary`: the last line it printed, as JSON.
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


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
