"""`orderbridge normalize` on the built binary: canonical events for a fixture, exit 3 when unusable."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, SOURCE_DIR

FIXTURES = os.path.join(SOURCE_DIR, "tests/fixtures/woocommerce")


def normalize(*args, config=None):
    cmd = [BIN]
    if config:
        cmd += ["--config", config]
    cmd += ["normalize", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tempfile.mkdtemp())


class NormalizeCliTest(unittest.TestCase):
    def test_order_fixture(self):
        r = normalize("--store", "main", "--topic", "order.updated", os.path.join(FIXTURES, "order_refunds.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["entity_id"], "wc:main:4110")
        self.assertFalse(out["held"])
        self.assertEqual(out["schema_errors"], [])
        self.assertEqual([e["type"] for e in out["events"]], ["order.updated", "refund.created", "refund.created"])
        order = out["events"][0]["data"]
        self.assertEqual(order["totals"]["grand_total"], 14638)
        self.assertEqual(order["currency_exponent"], 2)

    def test_store_rules_from_config_hold_the_order(self):
        cfg = os.path.join(tempfile.mkdtemp(), "c.yaml")
        with open(cfg, "w") as f:
            f.write("stores:\n  - id: main\n    webhook_secrets: [x]\n    currencies: [EUR]\n")
        r = normalize("--store", "main", "--topic", "order.created", os.path.join(FIXTURES, "order_simple.json"),
                      config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["held"])
        self.assertEqual(out["findings"][0]["rule"], "currency_not_configured")

    def test_unusable_body_exits_3(self):
        r = normalize("--store", "main", "--topic", "order.created", os.path.join(FIXTURES, "error_object.json"))
        self.assertEqual(r.returncode, 3)
        self.assertIn("error object", r.stderr)
        bad = os.path.join(tempfile.mkdtemp(), "bad.json")
        with open(bad, "w") as f:
            f.write("{nope")
        r = normalize("--store", "main", "--topic", "order.created", bad)
        self.assertEqual(r.returncode, 3)
        self.assertIn("not JSON", r.stderr)

    def test_usage_errors_exit_2(self):
        r = normalize("--topic", "order.created", os.path.join(FIXTURES, "order_simple.json"))
        self.assertEqual(r.returncode, 2)
        r = normalize("--store", "main", "--topic", "order.created", "/nonexistent.json")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
