"""What the simulators share.

`Scripted`: rules appended by a test and consumed, in order, by the requests they match. A
simulator mixes it in and sets `_rules_state` (an object with a `cond` lock and a `rules` list) and
`_rule_type` (its rule class).

`Recorded`: `requests`, `status_counts()` and `wait_until()` over `_rules_state.calls` (the requests seen,
each with a `status`), woken through `_rules_state.cond` by every request.

`ThreadedServer`: the lifetime of a simulator that serves from a thread: `close()` and the context
manager. It expects `_server` (with `shutdown`, `server_close`, `drop_connections`), `_stop` (an
Event), `_thread` and `_closed`; `_listen(server, host, name)` sets all but `_stop`;
`_listen_http(server_type, core_type, state, host, port, name)` sets them all, serving through
server_type((host, port), core_type(state, _stop)).

`post(url, body, headers, timeout)`: one POST the simulator itself sends (a webhook), through
http.client so that no proxy variable of the environment reroutes it; (status, answer body).

`parse_request(method, target, raw)`: the RequestInfo a rule's match sees and a Call records.
`take_rule(rules, request)`: the first rule that applies, counted down. `record(state, info, outcome)`: the
Call of an answered request appended to `state.calls`.

`serve_until_signalled(port)`: the standalone process prints {"port": N} and serves until SIGTERM or SIGINT.
`process_parser(doc)`: its argument parser with --host and --port. `finish_process(sim, dump_path, dump, summary)`:
its end once the simulator is closed: the dump file and the summary line."""
import argparse
import collections
import http.client
import json
import signal
import threading
import urllib.parse

# What a rule's match callable sees: the URL-decoded path, the query as a dict of first values, the parsed
# JSON body or None.
RequestInfo = collections.namedtuple("RequestInfo", "method path query body")
# One request as recorded: RequestInfo and the status answered, or "hang" / "reset".
Call = collections.namedtuple("Call", "method path query body status")


def parse_request(method, target, raw):
    """RequestInfo(method, path, query, body) of a request line's target and its raw body (bytes)."""
    split = urllib.parse.urlsplit(target)
    query = {}
    for k, v in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(k, v)
    body = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    return RequestInfo(method, urllib.parse.unquote(split.path), query, body)


def take_rule(rules, request):
    """The first of rules that applies to request (rule.applies), counted down and removed from the list once
    used up; None when none applies. The caller holds the lock that guards rules."""
    for i, rule in enumerate(rules):
        if rule.applies(request):
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    del rules[i]
            return rule
    return None


def record(state, info, outcome):
    """Appends the Call of a request (status: the answer's, or the outcome's kind) to state.calls and wakes
    state.cond's waiters (the caller holds it); returns outcome."""
    status = outcome.status if outcome.kind == "answer" else outcome.kind
    state.calls.append(Call(info.method, info.path, info.query, info.body, status))
    state.cond.notify_all()
    return outcome


class Scripted:
    _rules_state = None
    _rule_type = None

    def script(self, *rules):
        """Appends rules (dicts, or status codes), consumed in order by the requests they match."""
        parsed = [self._rule_type(r) for r in rules]
        with self._rules_state.cond:
            self._rules_state.rules.extend(parsed)
        return self

    def clear_script(self):
        with self._rules_state.cond:
            self._rules_state.rules.clear()

    def pending_rules(self):
        """How many scripted rules are not used up yet."""
        with self._rules_state.cond:
            return len(self._rules_state.rules)


class ThreadedServer:
    def _listen(self, server, host, name):
        """Takes server (bound and listening) as `_server` with `port` and `url`, and a daemon `_thread` to serve
        it, not started yet: the caller starts it once its state knows the url."""
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                                        daemon=True)
        self._closed = False

    def _listen_http(self, server_type, core_type, state, host, port, name):
        """`_stop` (a new Event) and _listen with server_type((host, port), core_type(state, _stop))."""
        self._stop = threading.Event()
        self._listen(server_type((host, port), core_type(state, self._stop)), host, name)

    def close(self):
        """Stops listening, drops every connection (hanging ones included) and ends the thread."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Recorded:
    @property
    def requests(self):
        """Every request in the order it was answered: Call(method, path, query, body, status)."""
        with self._rules_state.cond:
            return list(self._rules_state.calls)

    def status_counts(self):
        """{"200": n, "417": n, "hang": n, ...}"""
        with self._rules_state.cond:
            return dict(collections.Counter(str(c.status) for c in self._rules_state.calls))

    def wait_until(self, predicate, timeout=10.0, what="condition"):
        """Waits (woken by each request) until predicate(self) is true; AssertionError on timeout."""
        with self._rules_state.cond:
            if self._rules_state.cond.wait_for(lambda: predicate(self), timeout):
                return True
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; saw {len(self._rules_state.calls)} "
                                 f"requests, status counts {self.status_counts()}")


def post(url, body, headers=None, timeout=10.0):
    """POSTs body (bytes) to an http or https URL; (status, answer body). OSError when nothing answers."""
    split = urllib.parse.urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    conn_type = http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(split.hostname, split.port, timeout=timeout)
    try:
        conn.request("POST", (split.path or "/") + ("?" + split.query if split.query else ""), body=body,
                     headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def serve_until_signalled(port):
    """The standalone process: prints {"port": port} on stdout and returns once SIGTERM or SIGINT arrives."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"port": port}), flush=True)
    while not stop.wait(0.2):
        pass


def process_parser(doc):
    """The argument parser of a standalone simulator (doc: its module docstring), with --host and --port."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    return ap


def finish_process(sim, dump_path, dump, summary):
    """The end of a standalone simulator's process, sim closed: writes dump() as JSON to dump_path when one is
    given, prints summary (a dict) with sim's status counts added as "status_counts"; returns 0 (the exit
    status)."""
    if dump_path:
        with open(dump_path, "w") as f:
            json.dump(dump(), f, indent=1, default=str)
    print(json.dumps({**summary, "status_counts": dict(sorted(sim.status_counts().items()))}), flush=True)
    return 0
