#!/usr/bin/env python3
"""Checks deploy/grafana/orderbridge-dashboard.json: valid JSON with unique panel ids, every query
names only metrics that docs/metrics.md documents (or the standard process_* ones), and every
query parses as PromQL (`promtool query instant` against no server is not possible, so the
expressions are checked by the same parser through `promtool check rules` on a generated file)."""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    with open(os.path.join(ROOT, "deploy/grafana/orderbridge-dashboard.json")) as f:
        dash = json.load(f)
    with open(os.path.join(ROOT, "docs/metrics.md")) as f:
        catalog = f.read()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    problems = []
    for e in exprs:
        for name in re.findall(r"\b(orderbridge_[a-z_]+)", e):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if f"`{base}`" not in catalog:
                problems.append(f"{name} in {e!r} is not in docs/metrics.md")
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr{i}", "expr": e}
                                                         for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML
    r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        problems.append("PromQL: " + r.stdout + r.stderr)
    if problems:
        print("\n".join(problems))
        return 1
    print(f"dashboard OK: {len(dash['panels'])} panels, {len(exprs)} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
