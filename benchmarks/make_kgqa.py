"""KG-QA generation benchmark: the full ``make_kgqa`` run on a store, timed, with peak RSS.

Usage: python benchmarks/make_kgqa.py [--store kg/store/default] [--out /tmp/kgqa-bench] [--limit N]

The run happens in its own interpreter so its peak RSS is its own. It prints the wall time, the
records per second, the per-stage seconds (generation, writing, counting) and the machine load
(the 1-minute load average before and after), then the records per type and language.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil

from _measure import CHILD_PEAK, run_measured


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="kg/store/default")
    ap.add_argument("--out", default="/tmp/kgqa-bench")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    fig = run_measured(
        CHILD_PEAK
        + (
            "import time, logging; t=time.perf_counter()\n"
            "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
            "from kgrag.kgqa import make_kgqa\n"
            f"card = make_kgqa({args.store!r}, {args.out!r}, limit={args.limit!r})\n"
            "print(json.dumps({'step_s': time.perf_counter()-t, 'peak_rss_mib': peak(), 'total': card['total'],\n"
            "                  'by_split': card['by_split'], 'type': card['counts']['type'],\n"
            "                  'lang': card['counts']['lang']}))\n"
        )
    )
    load_after = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"make_kgqa {args.store} → {args.out}: {fig['total']:,} records in {fig['step_s']:.1f} s "
          f"({fig['total'] / fig['step_s']:,.0f} records/s; interpreter wall {fig['wall_s']:.1f} s), "
          f"peak RSS {fig['peak_rss_mib']:,.0f} MiB")
    print("records per type:", json.dumps(fig["type"]))
    print("records per language:", json.dumps(fig["lang"]))
    for split, counts in fig["by_split"].items():
        print(f"  {split}: type {json.dumps(counts['type'])} lang {json.dumps(counts['lang'])}")


if __name__ == "__main__":
    main()
