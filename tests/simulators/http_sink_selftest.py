"""Self-test of the HTTP sink simulator (Python standard library only): scripting, recording, signature
checks, resets and hangs, pipelining, and the standalone benchmark process.

Run: cd tests/simulators && python3 -m unittest -v http_sink_selftest
"""
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from http_sink import Sink

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "sink-secret"


def envelope(entity_id="order:main:1", version="v1", event_id=None):
    event_id = event_id or str(uuid.uuid4())
    return {"id": event_id, "type": "order.updated", "schema_version": 1,
            "source": {"system": "woocommerce", "store_id": "main"}, "occurred_at": "2024-05-01T10:00:00Z",
            "received_at": "2024-05-01T10:00:01Z", "trace_id": uuid.uuid4().hex, "idempotency_key": event_id,
            "entity_id": entity_id, "version": version, "data": {"status": "processing"}}


def post(conn, env, secret=None, signature=None, path="/events"):
    """Sends one delivery as orderbridge does; returns (status, headers, parsed body)."""
    raw = json.dumps(env).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": env["id"],
               "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
    if secret is not None:
        headers["X-Orderbridge-Signature"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["X-Orderbridge-Signature"] = signature
    conn.request("POST", path, body=raw, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(body) if body else None


class SinkTest(unittest.TestCase):
    def setUp(self):
        self.sink = Sink()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.sink.port, timeout=5)

    def tearDown(self):
        self.conn.close()
        self.sink.close()

    def test_default_accepts_and_records(self):
        envs = [envelope("order:main:1", "v1"), envelope("order:main:2", "v1"), envelope("order:main:1", "v2")]
        for env in envs:
            status, _, body = post(self.conn, env)   # one keep-alive connection
            self.assertEqual((status, body), (200, {"ok": True}))
        self.assertEqual(self.sink.accepted, envs)
        self.assertEqual(self.sink.accepted_keys(), [e["id"] for e in envs])
        self.assertEqual(self.sink.by_entity(), {"order:main:1": ["v1", "v2"], "order:main:2": ["v1"]})
        reqs = self.sink.requests
        self.assertEqual([(r.method, r.path, r.answer, r.outcome) for r in reqs],
                         [("POST", "/events", 200, "accepted")] * 3)
        self.assertEqual(reqs[0].headers["idempotency-key"], envs[0]["id"])
        self.assertRegex(reqs[0].headers["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertEqual(len(self.sink.arrival_times()), 3)
        self.assertEqual(self.sink.url, f"http://127.0.0.1:{self.sink.port}")

    def test_duplicates_are_answered_200_and_counted(self):
        env = envelope()
        for _ in range(3):
            self.assertEqual(post(self.conn, env)[0], 200)
        self.assertEqual(len(self.sink.accepted), 1)
        self.assertEqual(self.sink.duplicates, 2)
        self.assertEqual([r.outcome for r in self.sink.requests], ["accepted", "duplicate", "duplicate"])

    def test_429_with_retry_after_then_accepts(self):
        self.sink.script({"status": 429, "retry_after": "2", "count": 2})
        env = envelope()
        for _ in range(2):
            status, headers, body = post(self.conn, env)
            self.assertEqual((status, headers["retry-after"]), (429, "2"))
            self.assertEqual(body["error"]["code"], "too_many_requests")
        status, headers, _ = post(self.conn, env)
        self.assertEqual(status, 200)
        self.assertNotIn("retry-after", headers)
        self.assertEqual(self.sink.pending_rules(), 0)
        self.assertEqual(self.sink.status_counts(), {"429": 2, "200": 1})
        self.assertEqual(len(self.sink.accepted), 1)

    def test_rules_in_order_with_match_body_and_accept_false(self):
        self.sink.script({"status": 400, "body": {"error": "bad sku"}, "match": lambda r: r.path == "/orders"},
                         503, {"status": 200, "accept": False})
        env = envelope()
        self.assertEqual(post(self.conn, env)[0], 503)              # the /orders rule does not match
        self.assertEqual(post(self.conn, env)[:1], (200,))          # an error inside 200: not accepted
        self.assertEqual(self.sink.accepted, [])
        self.assertEqual(post(self.conn, env, path="/orders")[::2], (400, {"error": "bad sku"}))
        self.assertEqual(post(self.conn, env)[0], 200)
        self.assertEqual(self.sink.accepted, [env])
        self.assertEqual([r.outcome for r in self.sink.requests], ["failed", "ignored", "failed", "accepted"])

    def test_reset_is_seen_by_the_client(self):
        self.sink.script({"reset": True, "count": 1})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            post(self.conn, envelope())
        self.conn.close()
        self.assertEqual(post(self.conn, envelope())[0], 200)        # reconnects; the rule is used up
        self.assertEqual([r.answer for r in self.sink.requests], ["reset", 200])

    def test_hang_times_the_client_out_and_close_is_prompt(self):
        self.sink.script({"hang": 30.0})
        conn = http.client.HTTPConnection("127.0.0.1", self.sink.port, timeout=0.3)
        with self.assertRaises(TimeoutError):
            post(conn, envelope())
        conn.close()
        self.assertEqual(self.sink.requests[0].outcome, "hang")
        self.assertEqual(self.sink.accepted, [])
        started = time.monotonic()
        self.sink.close()
        self.assertLess(time.monotonic() - started, 2.0)

    def test_fail_entity_is_permanent_for_that_entity_only(self):
        self.sink.fail_entity("order:main:9")
        for _ in range(3):
            status, _, body = post(self.conn, envelope("order:main:9"))
            self.assertEqual(status, 400)
            self.assertIn("error", body)
        self.assertEqual(post(self.conn, envelope("order:main:1"))[0], 200)
        self.assertEqual(list(self.sink.by_entity()), ["order:main:1"])
        self.sink.clear_fail_entity("order:main:9")
        self.assertEqual(post(self.conn, envelope("order:main:9"))[0], 200)

    def test_entity_rule_and_default(self):
        self.sink.set_default(503, retry_after=1)
        self.sink.script({"status": 200, "entity_id": ["order:main:2", "order:main:3"], "count": None})
        status, headers, _ = post(self.conn, envelope("order:main:1"))
        self.assertEqual((status, headers["retry-after"]), (503, "1"))
        self.assertEqual(post(self.conn, envelope("order:main:2"))[0], 200)
        self.assertEqual(post(self.conn, envelope("order:main:3"))[0], 200)
        self.assertEqual(self.sink.pending_rules(), 1)

    def test_non_json_post_is_invalid(self):
        self.conn.request("POST", "/events", body=b"not json", headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["error"]["code"]), (400, "invalid_body"))
        self.assertEqual(self.sink.requests[0].outcome, "invalid")

    def test_unknown_rule_key_is_refused(self):
        with self.assertRaises(ValueError):
            self.sink.script({"stauts": 500})

    def test_pipelined_requests_are_answered_in_order(self):
        self.sink.script(201, 202)
        envs = [envelope(version=f"v{i}") for i in range(3)]
        wire = b""
        for env in envs:
            raw = json.dumps(env).encode()
            wire += (f"POST /e HTTP/1.1\r\nHost: x\r\nIdempotency-Key: {env['id']}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode() + raw
        with socket.create_connection(("127.0.0.1", self.sink.port), timeout=5) as s:
            s.sendall(wire[:50])
            s.sendall(wire[50:])
            statuses = []
            f = s.makefile("rb")
            for _ in envs:
                statuses.append(int(f.readline().split()[1]))
                length = 0
                while (line := f.readline()) != b"\r\n":
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                f.read(length)
        self.assertEqual(statuses, [201, 202, 200])
        self.assertEqual(self.sink.by_entity(), {"order:main:1": ["v0", "v1", "v2"]})

    def test_wait_for_accepted_wakes_on_arrival_and_times_out(self):
        env = envelope()
        t = threading.Thread(target=post, args=(self.conn, env))   # the test thread only waits meanwhile
        t.start()
        self.assertEqual(self.sink.wait_for_accepted(1, timeout=5), [env])
        t.join()
        started = time.monotonic()
        with self.assertRaises(AssertionError):
            self.sink.wait_for_accepted(2, timeout=0.1)
        self.assertLess(time.monotonic() - started, 1.0)


class SignatureTest(unittest.TestCase):
    def test_correct_signature_accepted_wrong_or_missing_rejected(self):
        with Sink(secret=SECRET) as sink:
            conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
            self.assertEqual(post(conn, envelope(), secret=SECRET)[0], 200)
            self.assertEqual(post(conn, envelope(), secret="other")[0], 401)
            self.assertEqual(post(conn, envelope(), signature="sha256=" + "0" * 64)[0], 401)
            status, _, body = post(conn, envelope())
            self.assertEqual((status, body["error"]["code"]), (401, "bad_signature"))
            conn.close()
            self.assertEqual(sink.rejected, 3)
            self.assertEqual(len(sink.accepted), 1)
            self.assertEqual([r.outcome for r in sink.requests], ["accepted", "rejected", "rejected", "rejected"])

    def test_custom_header_name(self):
        with Sink(secret=SECRET, signature_header="X-Sig") as sink:
            conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
            raw = json.dumps(envelope()).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            conn.request("POST", "/", body=raw, headers={"X-Sig": sig, "Content-Type": "application/json"})
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()


class WindowTest(unittest.TestCase):
    def test_max_in_window_and_latency(self):
        with Sink(latency=0.1) as sink:
            conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
            started = time.monotonic()
            for _ in range(4):                      # sequential on one connection: arrivals >= 0.1 s apart
                post(conn, envelope())
            self.assertGreaterEqual(time.monotonic() - started, 0.4)
            conn.close()
            times = sink.arrival_times()
            self.assertTrue(all(b - a >= 0.09 for a, b in zip(times, times[1:])))
            self.assertEqual(sink.max_in_window(0.05), 1)
            self.assertEqual(sink.max_in_window(10.0), 4)
            self.assertEqual(sink.max_in_window(0.15), 2)


class StandaloneTest(unittest.TestCase):
    def test_process_counts_and_summarises(self):
        with tempfile.TemporaryDirectory() as d:
            status_file = os.path.join(d, "status")
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, "http_sink.py"), "--port", "0", "--secret",
                                     SECRET, "--status-file", status_file], stdout=subprocess.PIPE, text=True)
            try:
                port = json.loads(proc.stdout.readline())["port"]
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                envs = [envelope(version=f"v{i}") for i in range(3)]
                for env in envs:
                    self.assertEqual(post(conn, env, secret=SECRET)[0], 200)
                self.assertEqual(post(conn, envs[0], secret=SECRET)[0], 200)          # duplicate
                self.assertEqual(post(conn, envelope(), secret="wrong")[0], 401)
                with open(status_file, "w") as f:
                    f.write('{"status": 503, "retry_after": "1"}')
                deadline, sent_503 = time.monotonic() + 5, 0
                while time.monotonic() < deadline:                                   # until the file is read
                    status, headers, _ = post(conn, envelope(), secret=SECRET)
                    if status == 503:
                        self.assertEqual(headers["retry-after"], "1")
                        sent_503 += 1
                        break
                    time.sleep(0.02)
                self.assertEqual(sent_503, 1)
                conn.close()
                proc.send_signal(signal.SIGTERM)
                out, _ = proc.communicate(timeout=5)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            self.assertEqual(proc.returncode, 0)
            summary = json.loads(out.strip().splitlines()[-1])
            counts = summary["status_counts"]
            self.assertEqual(counts["503"], 1)
            self.assertEqual(counts["401"], 1)
            self.assertEqual(summary["requests"], sum(counts.values()))
            self.assertGreaterEqual(summary["requests"], 6)             # 3 new, 1 duplicate, 1 rejected, the 503
            self.assertEqual(summary["accepted"], counts["200"] - 1)
            self.assertEqual(summary["duplicates"], 1)
            self.assertEqual(summary["rejected"], 1)
            self.assertGreaterEqual(summary["max_per_second"], 1)


if __name__ == "__main__":
    unittest.main()
