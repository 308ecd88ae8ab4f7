#!/usr/bin/env python3
"""One entry point for every simulator, as a process on a chosen port:

    serve.py erpnext     [--port N] [erpnext_sim.py options]
    serve.py shipstation [--port N] [shipstation_sim.py options]
    serve.py shipbob     [--port N] [shipbob_sim.py options]
    serve.py woocommerce [--port N] [woocommerce_sim.py options]
    serve.py odoo        [--port N] [odoo_sim.py options]
    serve.py http        [--port N] [http_sink.py options]

Each prints {"port": N} once listening and a summary line on SIGTERM or SIGINT, as the simulator's
own script does (see its module docstring for the options and the behaviour). Python stdlib only."""
import importlib
import os
import sys

KINDS = {"erpnext": "erpnext_sim", "shipstation": "shipstation_sim", "shipbob": "shipbob_sim",
         "woocommerce": "woocommerce_sim", "http": "http_sink", "odoo": "odoo_sim"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in KINDS:
        print(f"usage: serve.py {{{'|'.join(KINDS)}}} [--port N] [options of that simulator]", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    return importlib.import_module(KINDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
