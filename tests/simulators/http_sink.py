#!/usr/bin/env python3
"""A scriptable HTTP sink standing in for a downstream system behind the `http` connector (Python stdlib only).

orderbridge delivers each canonical event as `POST <base_url><path>` with the JSON envelope as body and
the headers `Idempotency-Key: <event id>`, `traceparent` and, when a secret is configured,
`X-Orderbridge-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Delivery guarantees (retries,
Retry-After, idempotent redelivery, per-entity ordering, rate limits, breakers) can only be checked
against a receiver that misbehaves on demand and remembers exactly what it saw; this is that receiver.

In a test process:

    with Sink(secret="k") as sink:                  # listens on 127.0.0.1, port 0, in a daemon thread
        sink.script({"status": 503, "count": 2}, {"status": 429, "retry_after": "1"})
        sink.fail_entity("order:main:42")           # permanent 400 for that entity only
        ... point the connector at sink.url ...
        sink.wait_for_accepted(3, timeout=10)
        assert sink.by_entity()["order:main:7"] == ["v1", "v2"]

A rule is a dict (an int N is short for {"status": N}); scripted rules are consumed in order by the
requests they match. Keys:
    status       answer code (default 200)
    body         answer body: dict/list (sent as JSON), str or bytes; a default JSON body otherwise
    headers      extra answer headers (dict)
    retry_after  value of a Retry-After header
    count        how many requests the rule answers before it is used up (default 1; None: never)
    delay        seconds of extra latency before this answer
    hang         seconds to wait without answering, then close the connection (a client timeout)
    reset        True: close with SO_LINGER 0, so the client sees a connection reset and no answer
    accept       False: a 2xx answer that is not recorded as accepted (an error reported inside 200)
    entity_id    the rule applies only to envelopes with this entity_id (or one of a list/set of them)
    match        callable(Request) -> bool: the rule applies only to requests it accepts

Every request is checked in this order: signature (when a secret is set: wrong or missing answers 401,
outcome "rejected", no rule consumed), envelope (a POST whose body is not a JSON object answers 400,
outcome "invalid"), permanent per-entity failures (fail_entity), the first matching scripted rule, the
default rule. A 2xx answer with accept records the envelope as accepted unless its Idempotency-Key was
accepted before, which is a harmless duplicate: answered 200 and counted in `duplicates`. Accepted
means the sink committed the event; the client may still miss the answer (latency above its timeout).

As a process, for benchmarks (asyncio, keep-alive and pipelining, several thousand requests/s a core):

    http_sink.py --port 0 [--latency-ms 20] [--secret S] [--signature-header H] [--status-file PATH]

prints {"port": N} once listening and, on SIGTERM or SIGINT, one summary line
{"requests", "accepted", "duplicates", "rejected", "max_per_second", "status_counts"} and exits 0.
The status file, re-read every 100 ms, holds the default answer: a bare code (`503`) or a rule object
(`{"status": 429, "retry_after": "1"}`); missing or empty means 200. Only counters are kept in this
mode, so memory does not grow with the number of requests (except the set of accepted keys).

Both modes share one implementation: an asyncio server with a hand-written HTTP/1.1 parser (requests
with Content-Length, answers always with Content-Length, `Expect: 100-continue` honoured, chunked
bodies refused with 501). Arrival time is time.monotonic() when a request's body is complete.
"""
import argparse
import asyncio
import collections
import datetime
import hashlib
import hmac
import http
import json
import signal
import socket
import struct
import sys
import threading
import time

from scripting import Scripted, take_rule

__all__ = ["Sink", "Request"]

MAX_HEAD = 64 * 1024          # request line + headers
MAX_BODY = 64 * 1024 * 1024
MAX_PENDING = 64              # pipelined requests queued on one connection before reading pauses
RULE_KEYS = {"status", "body", "headers", "retry_after", "count", "delay", "hang", "reset", "accept", "entity_id",
             "match"}


class Request:
    """One request as the sink saw it, and what it did with it.

    headers has lower-case names; body is the parsed JSON (None when absent or not JSON), raw the bytes.
    answer is the status code sent, or "hang" / "reset". outcome is one of accepted, duplicate, ignored
    (2xx not recorded: accept False or not a POST), failed (non-2xx), rejected (signature), invalid (body),
    hang, reset.
    """
    __slots__ = ("time", "method", "path", "headers", "body", "raw", "answer", "outcome")

    def __init__(self, time_, method, path, headers, body, raw):
        self.time, self.method, self.path, self.headers, self.body, self.raw = time_, method, path, headers, body, raw
        self.answer = None
        self.outcome = None

    @property
    def entity_id(self):
        return self.body.get("entity_id") if isinstance(self.body, dict) else None

    @property
    def idempotency_key(self):
        key = self.headers.get("idempotency-key")
        if key is None and isinstance(self.body, dict):
            key = self.body.get("id")
        return key

    def __repr__(self):
        return (f"Request({self.method} {self.path} entity={self.entity_id!r} key={self.idempotency_key!r} "
                f"answer={self.answer!r} outcome={self.outcome})")


class _Rule:
    __slots__ = ("status", "body", "headers", "delay", "hang", "reset", "accept", "entity_id", "match", "remaining")

    def __init__(self, spec):
        if isinstance(spec, int):
            spec = {"status": spec}
        if not isinstance(spec, dict):
            raise TypeError(f"a rule is a dict or a status code, not {spec!r}")
        unknown = set(spec) - RULE_KEYS
        if unknown:
            raise ValueError(f"unknown rule keys {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
        self.status = int(spec.get("status", 200))
        self.headers = [(str(k), str(v)) for k, v in (spec.get("headers") or {}).items()]
        if spec.get("retry_after") is not None:
            self.headers.append(("Retry-After", str(spec["retry_after"])))
        self.body = _encode_body(spec["body"]) if "body" in spec else _default_body(self.status)
        self.delay = float(spec.get("delay", 0.0))
        self.hang = float(spec["hang"]) if spec.get("hang") is not None else None
        self.reset = bool(spec.get("reset", False))
        self.accept = bool(spec.get("accept", True))
        ids = spec.get("entity_id")
        if ids is not None and not isinstance(ids, (list, tuple, set, frozenset)):
            ids = [ids]
        self.entity_id = None if ids is None else set(ids)
        self.match = spec.get("match")
        count = spec.get("count", 1)
        self.remaining = None if count is None else int(count)
        if self.remaining is not None and self.remaining < 1:
            raise ValueError("count must be at least 1 (None: never used up)")

    def applies(self, req):
        if self.entity_id is not None and req.entity_id not in self.entity_id:
            return False
        return self.match is None or bool(self.match(req))


def _encode_body(body):
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


def _default_body(status):
    if 200 <= status < 300:
        return b'{"ok":true}'
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return _encode_body({"error": {"code": code, "message": f"simulated {status} {phrase}"}})


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _response(status, body, headers=(), close=False):
    lines = [f"HTTP/1.1 {status} {_reason(status)}\r\n",
             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers)
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1") + body


_OK_KEEP_ALIVE = _response(200, b'{"ok":true}')
_DUPLICATE_BODY = b'{"ok":true,"duplicate":true}'


class _Action:
    """What the connection does for one request: answer (status, body, headers), hang, or reset."""
    __slots__ = ("status", "body", "headers", "delay", "hang", "reset")

    def __init__(self, status=200, body=b"", headers=(), delay=0.0, hang=None, reset=False):
        self.status, self.body, self.headers = status, body, headers
        self.delay, self.hang, self.reset = delay, hang, reset


class _Core:
    """Rules and records, shared by the event-loop thread (writer) and the test thread (reader)."""

    def __init__(self, secret=None, signature_header="X-Orderbridge-Signature", latency=0.0, keep_records=True,
                 limit_per_second=None):
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.limit_per_second = limit_per_second
        self.throttled = 0
        self.end_to_end_ms = []  # envelope received_at (the webhook) to this answer, wall clock
        self.signature_header = signature_header.lower()
        self.latency = float(latency)
        self.keep_records = keep_records
        self.cond = threading.Condition(threading.RLock())  # re-entrant: match callables may read the sink
        self.rules = []
        self.fail_entities = {}
        self.default = _Rule({"status": 200, "count": None})
        self.records = []
        self.accepted = []
        self.accepted_count = 0
        self.accepted_keys = set()
        self.duplicates = 0
        self.rejected = 0
        self.total = 0
        self.arrivals = []
        self.status_counts = collections.Counter()
        self.window = collections.deque()   # arrivals in the last second, for max_per_second
        self.max_per_second = 0

    def _signature_ok(self, req):
        given = req.headers.get(self.signature_header)
        if not given:
            return False
        expected = "sha256=" + hmac.new(self.secret, req.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    def _pick_rule(self, req):
        entity = req.entity_id
        if entity is not None and self.fail_entities:
            rule = self.fail_entities.get(entity)
            if rule is not None:
                return rule
        rule = take_rule(self.rules, req)
        return self.default if rule is None else rule

    def handle(self, req):
        """Decides and records the answer to one complete request (called on the event-loop thread)."""
        if req.raw:
            try:
                req.body = json.loads(req.raw)
            except ValueError:
                req.body = None
        sig_ok = self.secret is None or self._signature_ok(req)
        with self.cond:
            self.total += 1
            window = self.window
            window.append(req.time)
            while req.time - window[0] >= 1.0:
                window.popleft()
            if len(window) > self.max_per_second:
                self.max_per_second = len(window)
            if self.limit_per_second is not None and len(window) > self.limit_per_second:
                # A rate-limited system: more than the limit in the last second is refused.
                self.throttled += 1
                action = _Action(429, _encode_body({"error": {"code": "rate_limited"}}), (("Retry-After", "1"),))
                req.outcome = "failed"
            elif not sig_ok:
                self.rejected += 1
                action = _Action(401, _encode_body({"error": {"code": "bad_signature",
                                                              "message": "missing or wrong signature"}}))
                req.outcome = "rejected"
            elif req.method == "POST" and not isinstance(req.body, dict):
                action = _Action(400, _encode_body({"error": {"code": "invalid_body",
                                                              "message": "body is not a JSON object"}}))
                req.outcome = "invalid"
            else:
                action, req.outcome = self._apply(self._pick_rule(req), req)
            req.answer = "hang" if action.hang is not None else "reset" if action.reset else action.status
            self.status_counts[str(req.answer)] += 1
            if self.keep_records:
                self.records.append(req)
                self.arrivals.append(req.time)
            self.cond.notify_all()
        action.delay += self.latency
        return action

    def _apply(self, rule, req):
        if rule.hang is not None:
            return _Action(hang=rule.hang, delay=rule.delay), "hang"
        if rule.reset:
            return _Action(reset=True, delay=rule.delay), "reset"
        action = _Action(rule.status, rule.body, rule.headers, rule.delay)
        if not 200 <= rule.status < 300:
            return action, "failed"
        if req.method != "POST" or not rule.accept:
            return action, "ignored"
        key = req.idempotency_key
        if key is not None and key in self.accepted_keys:
            self.duplicates += 1
            action.status, action.body = 200, _DUPLICATE_BODY
            return action, "duplicate"
        if key is not None:
            self.accepted_keys.add(key)
        self.accepted_count += 1
        received_at = req.body.get("received_at") if isinstance(req.body, dict) else None
        if isinstance(received_at, str):
            try:
                sent = datetime.datetime.fromisoformat(received_at).timestamp()
                self.end_to_end_ms.append((time.time() + self.latency - sent) * 1000.0)
            except ValueError:
                pass
        if self.keep_records:
            self.accepted.append(req.body)
        return action, "accepted"

    def summary(self):
        with self.cond:
            e2e = sorted(self.end_to_end_ms)

            def pct(p):
                return round(e2e[max(0, min(len(e2e) - 1, -(-len(e2e) * p // 100) - 1))], 1) if e2e else None

            return {"received_to_ack_ms": {"count": len(e2e), "p50": pct(50), "p99": pct(99),
                                           "max": round(e2e[-1], 1) if e2e else None},
                    "throttled_429": self.throttled,
                    "requests": self.total, "accepted": self.accepted_count, "duplicates": self.duplicates,
                    "rejected": self.rejected, "max_per_second": self.max_per_second,
                    "status_counts": dict(sorted(self.status_counts.items()))}


class _Connection(asyncio.Protocol):
    """One client connection: parses pipelined HTTP/1.1 requests and answers them in order."""

    def __init__(self, server):
        self.server = server
        self.core = server.core
        self.transport = None
        self.buf = bytearray()
        self.head = None          # (method, path, headers, length, close) of a request awaiting its body
        self.pending = collections.deque()
        self.busy = False         # a delayed or hanging answer is in progress
        self.stop_parsing = False
        self.paused = False
        self.task = None

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc):
        self.server.connections.discard(self)
        self.pending.clear()
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data):
        self.buf += data
        self._parse()
        self._pump()

    def _parse(self):
        buf = self.buf
        while not self.stop_parsing:
            if self.head is None:
                while buf[:2] == b"\r\n":   # empty lines before a request line are allowed
                    del buf[:2]
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        self._refuse(431)
                    return
                head = bytes(buf[:end])
                del buf[:end + 4]
                parsed = self._parse_head(head)
                if parsed is None:
                    return
                self.head = parsed
                if parsed[3] > len(buf) and parsed[2].get("expect", "").lower() == "100-continue":
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            method, path, headers, length, close = self.head
            if len(buf) < length:
                return
            raw = bytes(buf[:length])
            del buf[:length]
            self.head = None
            self.pending.append((Request(time.monotonic(), method, path, headers, None, raw), close))
            if close:
                self.stop_parsing = True
            if len(self.pending) >= MAX_PENDING and not self.paused:
                self.paused = True
                self.transport.pause_reading()

    def _parse_head(self, head):
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ValueError(line)
                name = name.lower()
                value = value.strip()
                headers[name] = headers[name] + ", " + value if name in headers else value
            if "transfer-encoding" in headers:
                self._refuse(501)
                return None
            length = int(headers.get("content-length", "0"))
            if length < 0 or length > MAX_BODY:
                raise ValueError(length)
        except ValueError:
            self._refuse(400)
            return None
        connection = headers.get("connection", "").lower()
        close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        return method, path, headers, length, close

    def _refuse(self, status):
        """A request that cannot be parsed: answered (after the ones before it) and the connection closed."""
        self.stop_parsing = True
        self.pending.append((None, status))

    def _pump(self):
        while self.pending and not self.busy:
            if self.transport.is_closing():
                self.pending.clear()
                return
            req, close = self.pending.popleft()
            if req is None:   # a parse error, close holds its status
                self.transport.write(_response(close, _default_body(close), close=True))
                self.transport.close()
                self.pending.clear()
                return
            action = self.core.handle(req)
            if action.delay > 0 or action.hang is not None:
                self.busy = True
                self.task = asyncio.get_running_loop().create_task(self._later(action, close))
                return
            self._perform(action, close)
        if self.paused and len(self.pending) < MAX_PENDING // 2 and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()

    async def _later(self, action, close):
        if action.delay > 0:
            await asyncio.sleep(action.delay)
        if action.hang is not None:
            await asyncio.sleep(action.hang)
            self.transport.close()
            self.pending.clear()
            return
        self.busy = False
        self.task = None
        if not self.transport.is_closing():
            self._perform(action, close)
            self._pump()

    def _perform(self, action, close):
        if action.reset:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            self.pending.clear()
            return
        if action.status == 200 and action.body == b'{"ok":true}' and not action.headers and not close:
            self.transport.write(_OK_KEEP_ALIVE)
        else:
            self.transport.write(_response(action.status, action.body, action.headers, close))
        if close:
            self.transport.close()


class _Server:
    """The asyncio listener; start() and stop() run on the event loop."""

    def __init__(self, core):
        self.core = core
        self.connections = set()
        self.server = None
        self.port = None

    async def start(self, host, port):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Connection(self), host, port, reuse_address=True, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()
        for conn in list(self.connections):
            conn.transport.abort()
        await self.server.wait_closed()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Sink(Scripted):
    """The sink in a background thread of this process; a context manager. Listening once constructed.

    Attributes: port, url ("http://127.0.0.1:<port>"). Reads return snapshots and are thread-safe.
    """

    @property
    def _rules_state(self):
        return self._core

    def __init__(self, secret=None, signature_header="X-Orderbridge-Signature", latency=0.0, host="127.0.0.1"):
        self._rule_type = _Rule
        self._core = _Core(secret, signature_header, latency, keep_records=True)
        self._server = _Server(self._core)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-sink", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            asyncio.run_coroutine_threadsafe(self._server.start(host, 0), self._loop).result(10)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self._server.port
        self.url = f"http://{host}:{self.port}"

    # --- lifetime --------------------------------------------------------------------------------
    def close(self):
        """Stops listening, drops every connection (hanging ones included) and ends the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10)
        finally:
            self._stop_loop()

    def _stop_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- scripting -------------------------------------------------------------------------------
    def fail_entity(self, entity_id, status=400, **rule):
        """Every request for this entity answers `status` (never used up); other rule keys allowed."""
        r = _Rule({**rule, "status": status, "count": None})
        with self._core.cond:
            self._core.fail_entities[entity_id] = r

    def clear_fail_entity(self, entity_id):
        with self._core.cond:
            self._core.fail_entities.pop(entity_id, None)

    def set_default(self, status=200, **rule):
        """The answer when no rule applies (initially 200 with {"ok": true})."""
        r = _Rule({**rule, "status": status, "count": None})
        with self._core.cond:
            self._core.default = r

    # --- records ---------------------------------------------------------------------------------
    @property
    def requests(self):
        """Every request in arrival order (Request objects)."""
        with self._core.cond:
            return list(self._core.records)

    @property
    def accepted(self):
        """Envelopes accepted (2xx, first time for their Idempotency-Key), in arrival order."""
        with self._core.cond:
            return list(self._core.accepted)

    @property
    def duplicates(self):
        with self._core.cond:
            return self._core.duplicates

    @property
    def rejected(self):
        """How many requests failed signature verification."""
        with self._core.cond:
            return self._core.rejected

    def accepted_keys(self):
        """Idempotency keys accepted, in arrival order."""
        with self._core.cond:
            return [r.idempotency_key for r in self._core.records if r.outcome == "accepted"]

    def by_entity(self):
        """{entity_id: [version, ...]} in accepted order."""
        out = {}
        for env in self.accepted:
            out.setdefault(env.get("entity_id"), []).append(env.get("version"))
        return out

    def arrival_times(self):
        with self._core.cond:
            return list(self._core.arrivals)

    def status_counts(self):
        """{"200": n, "503": n, "hang": n, ...}"""
        with self._core.cond:
            return dict(self._core.status_counts)

    def max_in_window(self, seconds=1.0):
        """The most requests that arrived within any sliding window of that length."""
        times = self.arrival_times()
        best = start = 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # --- waiting ---------------------------------------------------------------------------------
    def wait_until(self, predicate, timeout=10.0, what="condition"):
        """Waits (on the condition variable, woken by each request) until predicate(self) is true."""
        with self._core.cond:
            if self._core.cond.wait_for(lambda: predicate(self), timeout):
                return
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; saw {self._core.total} requests, "
                             f"{self._core.accepted_count} accepted, status counts {self.status_counts()}")

    def wait_for_accepted(self, n, timeout=10.0):
        """Waits until at least n envelopes are accepted and returns them; AssertionError on timeout."""
        self.wait_until(lambda s: len(s._core.accepted) >= n, timeout, f"{n} accepted events")
        return self.accepted

    def wait_for_requests(self, n, timeout=10.0):
        """Waits until at least n requests arrived (any answer) and returns them."""
        self.wait_until(lambda s: len(s._core.records) >= n, timeout, f"{n} requests")
        return self.requests


# --- standalone process -------------------------------------------------------------------------------

def _read_status_file(path):
    """The default rule the file holds, or None when it cannot be read as one."""
    try:
        with open(path, "rb") as f:
            text = f.read().strip()
    except FileNotFoundError:
        text = b""
    if not text:
        return {"status": 200}
    spec = json.loads(text)
    return {"status": spec} if isinstance(spec, int) else spec


async def _watch_status_file(core, path):
    last = None
    while True:
        try:
            with open(path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            content = b""
        if content != last:
            last = content
            try:
                spec = _read_status_file(path)
                rule = _Rule({**spec, "count": None})
            except (ValueError, TypeError) as e:
                print(f"http_sink: ignoring status file {path}: {e}", file=sys.stderr, flush=True)
            else:
                with core.cond:
                    core.default = rule
        await asyncio.sleep(0.1)


async def _serve(args):
    core = _Core(args.secret, args.signature_header, args.latency_ms / 1000.0, keep_records=False,
                 limit_per_second=args.limit_per_second)
    server = _Server(core)
    await server.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.status_file:
        loop.create_task(_watch_status_file(core, args.status_file))
    print(json.dumps({"port": server.port}), flush=True)
    await stop.wait()
    await server.stop()
    print(json.dumps(core.summary()), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    ap.add_argument("--secret", help="verify the signature header with this HMAC-SHA256 key")
    ap.add_argument("--signature-header", default="X-Orderbridge-Signature")
    ap.add_argument("--status-file", help="file holding the default answer, re-read every 100 ms")
    ap.add_argument("--limit-per-second", type=int, help="answer 429 (Retry-After: 1) beyond this many requests "
                                                          "in any one-second window, like a rate-limited ERP")
    args = ap.parse_args(argv)
    if args.status_file:
        _read_status_file(args.status_file)  # a malformed file is an error at start, not a silent 200
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
