"""KG store benchmark: import of the default store, and load-back, compact vs networkx.

Usage: python benchmarks/kg_store.py [--store kg/store/bench] [--sources cmekg hpo mondo icd10cm]

Each step runs in its own interpreter so its peak RSS is its own. The compact load is what kgrag
uses; the networkx load (``to_networkx()`` of the whole graph) is the obvious alternative.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from _measure import CHILD_PEAK, run_measured


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="kg/store/bench")
    ap.add_argument("--sources", nargs="+", default=["cmekg", "hpo", "mondo", "icd10cm", "drugs", "mesh", "ddi"])
    args = ap.parse_args()
    importing = run_measured(
        CHILD_PEAK
        + (
            "import time; t=time.perf_counter()\n"
            "from kgrag.kg.importer import import_sources\n"
            f"m = import_sources({args.sources!r}, __import__('pathlib').Path({args.store!r}))\n"
            "print(json.dumps({'step_s': time.perf_counter()-t, 'peak_rss_mib': peak(), "
            "'entities': m['counts']['entities'], 'facts': m['counts']['facts']}))\n"
        )
    )
    load = run_measured(
        CHILD_PEAK
        + (
            "import time; t=time.perf_counter()\n"
            "from kgrag.kg.store import load_store\n"
            f"kg = load_store({args.store!r})\n"
            "n = int(kg.arrays['f_head'].sum() % 7) + len(kg.out_facts(kg.find('糖尿病')[0]))\n"
            "print(json.dumps({'step_s': time.perf_counter()-t, 'peak_rss_mib': peak()}))\n"
        )
    )
    load_nx = run_measured(
        CHILD_PEAK
        + (
            "import time; t=time.perf_counter()\n"
            "from kgrag.kg.store import load_store\n"
            f"kg = load_store({args.store!r})\n"
            "g = kg.to_networkx(literals=True)\n"
            "print(json.dumps({'step_s': time.perf_counter()-t, 'peak_rss_mib': peak(),\n"
            "                  'nodes': g.number_of_nodes(), 'edges': g.number_of_edges()}))\n"
        )
    )
    rows = [
        ("import (all sources → store)", importing),
        ("load-back, compact store", load),
        ("load-back + full networkx MultiDiGraph", load_nx),
    ]
    print(
        f"\nmachine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; store {args.store}: "
        f"{importing['entities']:,} entities, {importing['facts']:,} facts"
    )
    print("| step | wall (s) | in-process (s) | peak RSS (MiB) |\n|---|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['wall_s']:.1f} | {r['step_s']:.1f} | {r['peak_rss_mib']:.0f} |")
    print(
        f"\nnetworkx / compact: load time ×{load_nx['step_s'] / load['step_s']:.1f}, "
        f"RSS ×{load_nx['peak_rss_mib'] / load['peak_rss_mib']:.1f}"
    )
    print(json.dumps({"import": importing, "load": load, "load_networkx": load_nx}))


if __name__ == "__main__":
    main()
