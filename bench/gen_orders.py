#!/usr/bin/env python3
"""Writes the order data that bench/paced_load.py sends, without Node.js: DIR/body.tpl (the fixture
with its order id replaced by {{ID}}), DIR/sigs.txt (line k: WooCommerce's base64 HMAC-SHA256 of
the body with id BASE+k) and DIR/meta.txt (base=BASE). Same format as shared/peers/load/gen_data.js.

usage: gen_orders.py FIXTURE SECRET DIR COUNT BASE [FIXTURE_ORDER_ID]
"""
import base64
import hashlib
import hmac
import os
import re
import sys


def main():
    fixture, secret, out, count, base = sys.argv[1:6]
    fid = sys.argv[6] if len(sys.argv) > 6 else "4101"
    count, base = int(count), int(base)
    with open(fixture, "rb") as f:
        body = f.read()
    # Only whole-number occurrences of the id are replaced (not digits inside another number).
    tpl = re.sub(rb"(?<![0-9])" + fid.encode() + rb"(?![0-9])", b"{{ID}}", body)
    parts = tpl.split(b"{{ID}}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "body.tpl"), "wb") as f:
        f.write(tpl)
    key = secret.encode()
    with open(os.path.join(out, "sigs.txt"), "wb") as f:
        for k in range(count):
            b = str(base + k).encode().join(parts)
            f.write(base64.b64encode(hmac.new(key, b, hashlib.sha256).digest()) + b"\n")
    with open(os.path.join(out, "meta.txt"), "w") as f:
        f.write(f"base={base}\ncount={count}\n")


if __name__ == "__main__":
    main()
