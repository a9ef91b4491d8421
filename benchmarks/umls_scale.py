"""UMLS-scale import benchmark: a synthetic META folder → UMLSLoader → KGBuilder → build → store.

Usage: python benchmarks/umls_scale.py [--concepts 1000000] [--relations 5000000] [--workdir DIR]

Generates a META folder in the real RRF layout with realistic shapes (per concept ~2.5 English
atoms with codes and flags, a Spanish atom for 30 % and a Chinese one for 5 % of them, 2 %
suppressed atoms; MRSTY 1-2 types per concept; MRDEF for 20 % of the concepts; MRREL rows in
both directions with a REL/RELA mix like UMLS's, 10 % repeated by a second source, some SIB/SY,
suppressed, self and dangling rows). Then, each in its own interpreter so that its peak RSS is
its own, runs the import and the load-back, sampling RSS every 50 ms, and prints a table and a
linear projection to full UMLS (4.5 M concepts, 45 M MRREL rows).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

FULL_CONCEPTS = 4_500_000
FULL_RELATIONS = 45_000_000
CHUNK = 200_000

SABS = np.array(["SNOMEDCT_US", "MSH", "NCI", "LNC", "RXNORM", "ICD10CM", "MDR", "MTH"])
SAB_P = np.array([0.30, 0.15, 0.15, 0.10, 0.10, 0.05, 0.10, 0.05])
TTYS = {"SNOMEDCT_US": "PT", "MSH": "MH", "NCI": "PT", "LNC": "LN", "RXNORM": "IN", "ICD10CM": "PT",
        "MDR": "LLT", "MTH": "PN"}
STYS = [
    ("T047", "Disease or Syndrome"), ("T121", "Pharmacologic Substance"), ("T109", "Organic Chemical"),
    ("T184", "Sign or Symptom"), ("T033", "Finding"), ("T061", "Therapeutic or Preventive Procedure"),
    ("T059", "Laboratory Procedure"), ("T023", "Body Part, Organ, or Organ Component"),
    ("T116", "Amino Acid, Peptide, or Protein"),
    ("T028", "Gene or Genome"), ("T191", "Neoplastic Process"), ("T046", "Pathologic Function"),
    ("T201", "Clinical Attribute"), ("T200", "Clinical Drug"), ("T037", "Injury or Poisoning"),
]
DEF_SABS = np.array(["MSH", "NCI", "CSP", "MEDLINEPLUS", "HPO", "MSHSPA", "NCI_NCI-GLOSS"])
# (REL, RELA, inverse REL, inverse RELA, share of pairs)
PAIRS = [
    ("CHD", "isa", "PAR", "inverse_isa", 0.16), ("CHD", "", "PAR", "", 0.08),
    ("RN", "", "RB", "", 0.12), ("RO", "may_treat", "RO", "may_be_treated_by", 0.03),
    ("RO", "has_finding_site", "RO", "finding_site_of", 0.05), ("RO", "has_component", "RO", "component_of", 0.06),
    ("RO", "mapped_to", "RO", "mapped_from", 0.04), ("RO", "has_ingredient", "RO", "ingredient_of", 0.04),
    ("RO", "has_associated_morphology", "RO", "associated_morphology_of", 0.03),
    ("RO", "has_system", "RO", "system_of", 0.05), ("RO", "has_property", "RO", "property_of", 0.04),
    ("RO", "", "RO", "", 0.06), ("RQ", "", "RQ", "", 0.03), ("SIB", "", "SIB", "", 0.13),
    ("SY", "", "SY", "", 0.06), ("AQ", "", "QB", "", 0.02),
]


# -- synthetic META ------------------------------------------------------------------------------
def _words(rng: np.random.Generator, n: int = 6000) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 11, n)
    return np.array(["".join(rng.choice(letters, k)) for k in lengths])


def _texts(rng: np.random.Generator, words: np.ndarray, n: int, lo: int, hi: int) -> list[str]:
    counts = rng.integers(lo, hi, n)
    flat = words[rng.integers(0, len(words), int(counts.sum()))].tolist()
    out, i = [], 0
    for c in counts.tolist():
        out.append(" ".join(flat[i : i + c]).capitalize())
        i += c
    return out


def _codes(rng: np.random.Generator, sabs: np.ndarray) -> list[str]:
    nums = rng.integers(1, 99_999_999, len(sabs)).tolist()
    out = []
    for sab, k in zip(sabs.tolist(), nums, strict=True):
        if sab == "MSH":
            out.append(f"D{k % 1_000_000:06d}")
        elif sab == "NCI":
            out.append(f"C{k % 200_000}")
        elif sab == "LNC":
            out.append(f"{k % 100_000}-{k % 10}")
        elif sab == "ICD10CM":
            out.append(f"{chr(65 + k % 26)}{k % 100:02d}.{k % 10}")
        elif sab == "MTH":
            out.append("NOCODE")
        else:
            out.append(str(k))
    return out


def generate(meta: Path, n_concepts: int, n_relations: int, seed: int = 0) -> dict[str, int]:
    """Write MRCONSO, MRSTY, MRDEF, MRREL and release.dat to ``meta``; returns row counts."""
    rng = np.random.default_rng(seed)
    meta.mkdir(parents=True, exist_ok=True)
    words = _words(rng)
    cuis = np.sort(rng.choice(9_000_000, n_concepts, replace=False)) + 1
    cui_str = np.array([f"C{c:07d}" for c in cuis.tolist()])
    counts = {}
    aui = 0
    rows = 0
    with (meta / "MRCONSO.RRF").open("w", encoding="utf-8") as f:
        for start in range(0, n_concepts, CHUNK):
            block = cui_str[start : start + CHUNK]
            n = len(block)
            extra = rng.poisson(1.5, n)  # English atoms beyond the preferred one: mean 2.5 in all
            spa = rng.random(n) < 0.30
            chi = rng.random(n) < 0.05
            per = 1 + extra + spa + chi
            total = int(per.sum())
            owner = np.repeat(np.arange(n), per)
            first = np.r_[0, np.cumsum(per)[:-1]]
            pos = np.arange(total) - first[owner]
            lat = np.full(total, "ENG", dtype=object)
            lat[first[spa] + 1 + extra[spa]] = "SPA"
            lat[first[chi] + per[chi] - 1] = "CHI"
            sab = rng.choice(SABS, total, p=SAB_P).astype(object)
            sab[lat == "SPA"] = "MSHSPA"
            sab[lat == "CHI"] = "CHIDEMO"
            codes = _codes(rng, sab.astype(str))
            strs = _texts(rng, words, total, 1, 6)
            suppress = np.where(rng.random(total) < 0.02, "O", "N")
            suppress[pos == 0] = "N"
            lines = []
            for i in range(total):
                c, p, s = block[owner[i]], int(pos[i]), sab[i]
                pref = p == 0
                aui += 1
                lines.append(
                    f"{c}|{lat[i]}|{'P' if pref else 'S'}|L{aui:08d}|{'PF' if pref or p % 2 else 'VO'}|S{aui:08d}|"
                    f"{'Y' if pref or p % 3 else 'N'}|A{aui:09d}|||{codes[i] if s == 'MSH' else ''}|{s}|"
                    f"{TTYS.get(s, 'PT') if pref else 'SY'}|{codes[i]}|{strs[i]}|0|{suppress[i]}|256|\n"
                )
            f.writelines(lines)
            rows += total
    counts["MRCONSO"] = rows
    with (meta / "MRSTY.RRF").open("w", encoding="utf-8") as f:
        two = rng.random(n_concepts) < 0.3
        picks = rng.integers(0, len(STYS), (n_concepts, 2))
        lines = []
        for i, c in enumerate(cui_str.tolist()):
            for k in range(1 + int(two[i])):
                tui, sty = STYS[(picks[i, k] + k) % len(STYS)]
                lines.append(f"{c}|{tui}|B2.2.1.2.1|{sty}|AT{i:08d}{k}|256|\n")
        f.writelines(lines)
        counts["MRSTY"] = len(lines)
    with (meta / "MRDEF.RRF").open("w", encoding="utf-8") as f:
        with_def = np.flatnonzero(rng.random(n_concepts) < 0.20)
        ndefs = 1 + (rng.random(len(with_def)) < 0.3)
        owners = np.repeat(with_def, ndefs)
        sabs = rng.choice(DEF_SABS, len(owners))
        texts = _texts(rng, words, len(owners), 12, 30)
        f.writelines(
            f"{cui_str[o]}|A{i:09d}|AT{i:09d}||{s}|{t}.|{'Y' if i % 50 == 0 else 'N'}||\n"
            for i, (o, s, t) in enumerate(zip(owners.tolist(), sabs.tolist(), texts, strict=True))
        )
        counts["MRDEF"] = len(owners)
    counts["MRREL"] = _write_mrrel(meta / "MRREL.RRF", rng, cui_str, n_relations)
    (meta / "release.dat").write_text("umls.release.name=SYNTH\n", encoding="utf-8")
    return counts


def _write_mrrel(path: Path, rng: np.random.Generator, cui_str: np.ndarray, n_rows: int) -> int:
    """Pairs written in both directions; 10 % of pairs repeated by a second source, 1 % self
    rows, 1 % to a CUI that MRCONSO does not have, 1 % suppressed."""
    kinds = np.array([p[4] for p in PAIRS])
    n_pairs = round(n_rows / 2.2)
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, n_pairs, CHUNK):
            n = min(CHUNK, n_pairs - start)
            a = rng.integers(0, len(cui_str), n)
            b = rng.integers(0, len(cui_str), n)
            c1, c2 = cui_str[a].tolist(), cui_str[b].tolist()
            kind = rng.choice(len(PAIRS), n, p=kinds / kinds.sum()).tolist()
            sab = rng.choice(SABS[:7], n).tolist()
            dup = (rng.random(n) < 0.10).tolist()
            odd = rng.random(n).tolist()
            lines = []
            for i in range(n):
                rel, rela, irel, irela, _ = PAIRS[kind[i]]
                x, y = c1[i], c2[i]
                if odd[i] < 0.01:
                    y = x
                elif odd[i] < 0.02:
                    y = "C9999999"
                sup = "O" if 0.02 <= odd[i] < 0.03 else "N"
                k = start + i
                for s in (sab[i], "MTH") if dup[i] else (sab[i],):  # MTH repeats 10 % of the pairs
                    lines.append(f"{x}|A{k:09d}|SCUI|{rel}|{y}|A{k:09d}|SCUI|{rela}|R{k:09d}1||{s}|{s}|||{sup}||\n")
                    lines.append(f"{y}|A{k:09d}|SCUI|{irel}|{x}|A{k:09d}|SCUI|{irela}|R{k:09d}2||{s}|{s}|||{sup}||\n")
            f.writelines(lines)
            written += len(lines)
    return written


# -- children ------------------------------------------------------------------------------------
def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _peak_mib() -> float:
    """This process's peak RSS. ``VmHWM`` is reset by exec, unlike ``ru_maxrss``, which would
    still count the parent's pages from before the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(meta: Path, store: Path) -> None:
    """In a child interpreter: import, recording time and RSS at each loader log line."""
    t0 = time.perf_counter()
    marks: list[dict[str, object]] = []

    def mark(what: str) -> None:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        marks.append({"at": what, "t_s": round(time.perf_counter() - t0, 2),
                      "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 2), "rss_mib": round(_rss_mib()),
                      "peak_mib": round(_peak_mib())})

    phases = {"done;": "loader done", "MRCONSO rows": "MRCONSO → entities", "MRSTY rows": "MRSTY → types",
              "MRDEF rows": "MRDEF → definitions", "de-duplicating": "MRREL read, kept rows packed",
              "facts from": "MRREL dedup → add_fact"}

    class Marks(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            mark(next((label for key, label in phases.items() if key in msg), msg[:60]))

    logger = logging.getLogger("kgrag.kg.loaders.umls")
    logger.setLevel(logging.INFO)
    logger.addHandler(Marks())
    from kgrag.kg.builder import KGBuilder
    from kgrag.kg.loaders.umls import UMLSLoader
    from kgrag.kg.store import write_store

    mark("start (imports done)")
    builder = KGBuilder()
    UMLSLoader(meta).load(builder)
    n_entities, n_facts = len(builder.entities), builder.n_facts
    kg = builder.build()
    mark("build() done")
    del builder
    write_store(kg, store)
    mark("write_store() done")
    print(json.dumps({"marks": marks, "entities": n_entities, "facts": n_facts}, ensure_ascii=False))


def child_load(store: Path, cui: str) -> None:
    """In a child interpreter: load the store, then look one concept up by id and name."""
    t0 = time.perf_counter()
    from kgrag.kg.store import load_store

    base = _rss_mib()
    kg = load_store(store)
    t_load, rss_load = time.perf_counter() - t0, _rss_mib()
    i = kg.index_of("umls:" + cui)
    n = len(kg.out_facts(i)) + len(kg.in_facts(i))
    t_id, rss_id = time.perf_counter() - t0, _rss_mib()
    print(json.dumps({"base_mib": base, "load_s": t_load, "load_rss_mib": rss_load, "id_index_s": t_id,
                      "id_index_rss_mib": rss_id, "peak_mib": _peak_mib(), "facts_of_one": n}))


def run_child(args: list[str]) -> dict[str, object]:
    """Run this script with ``args`` in a child interpreter; wall time, RSS sampled every 50 ms
    (process tree), and the child's JSON report."""
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{err[-4000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "sampled_peak_mib": peak / 2**20, **report}


# -- report --------------------------------------------------------------------------------------
def project(imp: dict, n_concepts: int, n_relations: int) -> dict[str, float]:  # type: ignore[type-arg]
    """Linear projection to full UMLS, split at the end of the concept passes (MRCONSO, MRSTY,
    MRDEF: scale with concepts) and the rest (MRREL, dedup, build, write: scale with MRREL rows).
    Conservative: build() also encodes the entities' strings, which scale with concepts only."""
    marks = imp["marks"]
    start = marks[0]
    concepts_end = next(m for m in marks if m["at"] == "MRDEF → definitions")
    peak = max(imp["sampled_peak_mib"], marks[-1]["peak_mib"])
    mem_c, mem_r = concepts_end["rss_mib"] - start["rss_mib"], peak - concepts_end["rss_mib"]
    t_c, t_r = concepts_end["t_s"] - start["t_s"], marks[-1]["t_s"] - concepts_end["t_s"]
    cpu_c, cpu_r = concepts_end["cpu_s"] - start["cpu_s"], marks[-1]["cpu_s"] - concepts_end["cpu_s"]
    c, r = FULL_CONCEPTS / n_concepts, FULL_RELATIONS / n_relations
    return {
        "base_mib": start["rss_mib"], "mem_c": mem_c, "mem_r": mem_r, "c": c, "r": r, "t0": start["t_s"],
        "t_c": t_c, "t_r": t_r, "peak_mib": start["rss_mib"] + mem_c * c + mem_r * r,
        "time_s": start["t_s"] + t_c * c + t_r * r, "cpu_c": cpu_c, "cpu_r": cpu_r,
        "cpu_time_s": start["cpu_s"] + cpu_c * c + cpu_r * r,
        "bytes_per_concept": mem_c * 2**20 / n_concepts, "bytes_per_row": mem_r * 2**20 / n_relations,
        "us_per_concept": t_c * 1e6 / n_concepts, "us_per_row": t_r * 1e6 / n_relations,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concepts", type=int, default=1_000_000)
    ap.add_argument("--relations", type=int, default=5_000_000, help="MRREL rows")
    ap.add_argument("--workdir", type=Path, default=None, help="where META and the store go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kgrag-umls-scale-"))
    meta, store = work / "META", work / "store"
    try:
        t = time.perf_counter()
        counts = generate(meta, args.concepts, args.relations, args.seed)
        gen_s = time.perf_counter() - t
        mb = sum(p.stat().st_size for p in meta.iterdir()) / 2**20
        print(f"generated {meta} in {gen_s:.0f} s: {mb:.0f} MiB, rows {counts}", flush=True)
        load_before = psutil.getloadavg()[0]
        imp = run_child(["_import", str(meta), str(store)])
        imp["load_avg"] = (load_before, psutil.getloadavg()[0])
        store_mb = sum(p.stat().st_size for p in store.iterdir()) / 2**20
        first_cui = (meta / "MRCONSO.RRF").open(encoding="utf-8").readline().split("|")[0]
        back = run_child(["_load", str(store), first_cui])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(args, counts, imp, back, store_mb)


def report(args: argparse.Namespace, counts: dict, imp: dict, back: dict, store_mb: float) -> None:  # type: ignore[type-arg]
    vm = psutil.virtual_memory().total / 2**30
    print(f"\nmachine: {psutil.cpu_count()} cores, {vm:.0f} GiB RAM, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; load average during the import "
          f"{imp['load_avg'][0]:.1f} to {imp['load_avg'][1]:.1f} (wall times stretch when other work shares the cores;"
          f" CPU times do much less)")
    print(f"input: {args.concepts:,} concepts, {counts['MRCONSO']:,} MRCONSO rows, {counts['MRREL']:,} MRREL rows, "
          f"{counts['MRDEF']:,} MRDEF rows, {counts['MRSTY']:,} MRSTY rows")
    print(f"output: {imp['entities']:,} entities, {imp['facts']:,} facts, store {store_mb:.0f} MiB\n")
    print("| step (import child, marked at the loader's log lines) | at, wall (s) | at, CPU (s) | RSS (MiB) "
          "| peak RSS so far (MiB) |\n|---|---:|---:|---:|---:|")
    for m in imp["marks"]:
        print(f"| {m['at']} | {m['t_s']:.1f} | {m['cpu_s']:.1f} | {m['rss_mib']} | {m['peak_mib']} |")
    peak = max(imp["sampled_peak_mib"], imp["marks"][-1]["peak_mib"])
    total = "**import total** (wall incl. interpreter start; peak: 50 ms samples and VmHWM)"
    print(f"| {total} | {imp['wall_s']:.1f} | | | {peak:.0f} |")
    print(f"| load_store (memory-mapped; load child) | {back['load_s']:.2f} | | {back['load_rss_mib']:.0f} | |")
    print(f"| + first lookup by id (builds the id index) | {back['id_index_s']:.2f} | | "
          f"{back['id_index_rss_mib']:.0f} | {back['peak_mib']:.0f} |")
    p = project(imp, args.concepts, args.relations)
    full = f"{FULL_CONCEPTS:,} concepts, {FULL_RELATIONS:,} MRREL rows"
    print(f"\nprojection to full UMLS ({full}), linear in each part:")
    print(f"  peak RSS = base + M_c * {FULL_CONCEPTS:,}/{args.concepts:,}"
          f" + M_r * {FULL_RELATIONS:,}/{args.relations:,}")
    print(f"           = {p['base_mib']:.0f} + {p['mem_c']:.0f} * {p['c']:.2f} + {p['mem_r']:.0f} * {p['r']:.2f}"
          f" = {p['peak_mib']:,.0f} MiB ({p['peak_mib'] / 1024:.1f} GiB)")
    print(f"  time     = t0 + T_c * {p['c']:.2f} + T_r * {p['r']:.2f} = {p['t0']:.1f} + {p['t_c']:.1f} * {p['c']:.2f}"
          f" + {p['t_r']:.1f} * {p['r']:.2f} = {p['time_s']:,.0f} s ({p['time_s'] / 60:.1f} min)")
    cpu0 = p["cpu_time_s"] - p["cpu_c"] * p["c"] - p["cpu_r"] * p["r"]
    print(f"  CPU time = {cpu0:.1f} + {p['cpu_c']:.1f} * {p['c']:.2f} + {p['cpu_r']:.1f} * {p['r']:.2f}"
          f" = {p['cpu_time_s']:,.0f} s ({p['cpu_time_s'] / 60:.1f} min; the import is single-threaded)")
    print(f"  M_c, T_c: RSS growth and time of the concept passes (MRCONSO, MRSTY, MRDEF):"
          f" {p['bytes_per_concept']:,.0f} B and {p['us_per_concept']:.1f} us per concept;\n  M_r, T_r: from there to"
          f" the peak / the end (MRREL, dedup, build, write_store): {p['bytes_per_row']:,.0f} B and"
          f" {p['us_per_row']:.1f} us per MRREL row")
    lb = back["id_index_rss_mib"] - back["load_rss_mib"]
    print(f"  load-back: the memory-mapped load stays ~{back['load_rss_mib']:.0f} MiB; the id index adds"
          f" {lb:.0f} * {p['c']:.2f} = {lb * p['c']:,.0f} MiB and {back['id_index_s'] - back['load_s']:.1f} * "
          f"{p['c']:.2f} = {(back['id_index_s'] - back['load_s']) * p['c']:.1f} s")
    print(json.dumps({"counts": counts, "import": imp, "load": back, "projection": p}, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_import":
        child_import(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        child_load(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
