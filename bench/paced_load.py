#!/usr/bin/env python3
"""Paced (open-loop) load generator for signed WooCommerce order webhooks; Python stdlib only.

wrk is closed-loop: it sends the next request when the previous one is answered, so it cannot
offer a fixed rate and its latencies hide queueing (coordinated omission). This tool sends request
i at t0 + i/RATE whatever happened before, over CONNS keep-alive connections, and measures every
latency from the request's *scheduled* send time, as wrk2 does. A request that waits because all
connections are busy, or because this process was late, counts that wait as latency.

Inputs are the files of /work/shared/peers/load/gen_data.js: DATADIR/body.tpl (the order body with
{{ID}} for the order id), DATADIR/sigs.txt (line k = signature of the body with id BASE+k) and
DATADIR/meta.txt (base=BASE). Request i carries id BASE + (i mod COUNT); wrapping is reported.

usage: paced_load.py URL DATADIR [--rate 2000] [--duration 20] [--conns 64] [--timeout 10]
Prints one line:
  RESULT mode=paced offered_rps=.. duration_s=.. requests=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=..
         max_ms=.. non2xx=.. errors=.. id_wraps=.. send_lag_p99_ms=.. send_lag_max_ms=..
send_lag is how late requests went on the wire after their scheduled time: waiting for a free
connection (the server is behind: rps below the offered rate) or this process being late (CPU).
Own cost, measured against a trivial asyncio server on a 2-core machine: about 0.3 core at 2,000/s,
p50 about 1 ms and p99 a few ms, so figures at that level are the generator's floor.
"""
import argparse
import asyncio
import gc
import math
import os
import random
import sys
import time
import urllib.parse


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))  # nearest rank
    return sorted_vals[k]


def load_data(datadir):
    with open(os.path.join(datadir, "meta.txt"), encoding="ascii") as f:
        meta = dict(line.strip().split("=", 1) for line in f if "=" in line)
    base = int(meta["base"])
    with open(os.path.join(datadir, "body.tpl"), "rb") as f:
        parts = f.read().split(b"{{ID}}")
    with open(os.path.join(datadir, "sigs.txt"), "rb") as f:
        sigs = f.read().split()
    return base, parts, sigs


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("datadir")
    ap.add_argument("--rate", type=float, default=2000.0, help="requests per second offered")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of scheduled sends")
    ap.add_argument("--conns", type=int, default=64, help="keep-alive connections (at most this many in flight)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one answer")
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    base, parts, sigs = load_data(a.datadir)
    nsig = len(sigs)
    head_fixed = (
        f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
        "User-Agent: WooCommerce/10.2.1 Hookshot (WordPress/6.8.3)\r\n"
        "X-WC-Webhook-Source: https://shop.example.com/\r\nX-WC-Webhook-Topic: order.created\r\n"
        "X-WC-Webhook-Resource: order\r\nX-WC-Webhook-Event: created\r\nX-WC-Webhook-ID: 42\r\n"
    ).encode("ascii")

    def build(i):
        k = i % nsig
        body = str(base + k).encode("ascii").join(parts)
        head = head_fixed + b"X-WC-Webhook-Signature: " + sigs[k] + b"\r\nX-WC-Webhook-Delivery-ID: " + (
            "%032x" % random.getrandbits(128)).encode("ascii") + b"\r\nContent-Length: " + str(
            len(body)).encode("ascii") + b"\r\n\r\n"
        return head + body

    total = int(a.rate * a.duration)
    interval = 1.0 / a.rate
    loop = asyncio.get_running_loop()
    lat, lag = [], []
    st = {"next": 0, "non2xx": 0, "errors": 0}
    t0 = loop.time() + 0.2  # let every connection open first

    async def read_response(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        return status

    async def worker():
        reader = writer = None
        while True:
            i = st["next"]
            if i >= total:
                break
            st["next"] = i + 1
            sched = t0 + i * interval
            now = loop.time()
            if sched > now:
                await asyncio.sleep(sched - now)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                sent = loop.time()
                writer.write(build(i))
                status = await asyncio.wait_for(read_response(reader), a.timeout)
                end = loop.time()
                lat.append(end - sched)
                lag.append(max(0.0, sent - sched))
                if status < 200 or status > 299:
                    st["non2xx"] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                st["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    gc.disable()
    workers = [asyncio.create_task(worker()) for _ in range(a.conns)]
    await asyncio.gather(*workers)
    elapsed = loop.time() - t0
    lat.sort()
    lag.sort()
    ms = lambda v: v * 1000.0
    print(
        "RESULT mode=paced offered_rps=%.0f duration_s=%.3f requests=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
        "p999_ms=%.3f max_ms=%.3f non2xx=%d errors=%d id_wraps=%d send_lag_p99_ms=%.3f send_lag_max_ms=%.3f"
        % (a.rate, elapsed, len(lat), len(lat) / elapsed, ms(percentile(lat, 50)), ms(percentile(lat, 90)),
           ms(percentile(lat, 99)), ms(percentile(lat, 99.9)), ms(lat[-1]) if lat else float("nan"), st["non2xx"],
           st["errors"], max(0, (total - 1) // nsig), ms(percentile(lag, 99)),
           ms(lag[-1]) if lag else float("nan")))
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
