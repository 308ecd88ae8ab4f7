"""What the simulators share.

`Scripted`: rules appended by a test and consumed, in order, by the requests they match. A
simulator mixes it in and sets `_rules_state` (an object with a `cond` lock and a `rules` list) and
`_rule_type` (its rule class).

`Recorded`: `status_counts()` and `wait_until()` over `_rules_state.calls` (the requests seen,
each with a `status`), woken through `_rules_state.cond` by every request.

`ThreadedServer`: the lifetime of a simulator that serves from a thread: `close()` and the context
manager. It expects `_server` (with `shutdown`, `server_close`, `drop_connections`), `_stop` (an
Event), `_thread` and `_closed`.

`post(url, body, headers, timeout)`: one POST the simulator itself sends (a webhook), through
http.client so that no proxy variable of the environment reroutes it; (status, answer body)."""
import collections
import http.client
import urllib.parse


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
