"""``kgrag kg …``: import, stats, show, link-report."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings
from kgrag.kg.graph import KnowledgeGraph

kg_app = typer.Typer(help="Import and inspect the knowledge graph store.", no_args_is_help=True)



def _store_opt() -> Path:
    return get_settings().store


def _load(store: Path | None) -> KnowledgeGraph:
    from kgrag.kg.store import load_store

    return load_store(store or _store_opt())


@kg_app.command("import")
def import_cmd(
    sources: list[str] = typer.Argument(
        None, help="cmekg, hpo, mondo, icd10cm, drugs, mesh, ddi, tcm, umls=/path/META, cmekg=FILE.jsonl …"
    ),
    out: Path = typer.Option(None, "--out", "-o", help="store folder (default: KGRAG_STORE, kg/store/default)"),
    no_links: bool = typer.Option(False, "--no-links", help="skip cross-source linking"),
) -> None:
    """Import KG sources into a store (written atomically)."""
    from kgrag.kg.importer import import_sources

    settings = get_settings()
    specs = [_with_archive(s, settings.sources_dir) for s in (sources or list(settings.default_sources))]
    out = out or settings.store
    t0 = time.perf_counter()
    with CommandProgress("kg import") as progress:
        manifest = import_sources(specs, out, links=not no_links, on_step=progress.step)
    console.print(
        f"[green]wrote[/] {out} in {time.perf_counter() - t0:.1f} s: "
        f"{manifest['counts']['entities']:,} entities, {manifest['counts']['facts']:,} facts"
    )
    _print_stats(manifest)


def _with_archive(spec: str, sources_dir: Path) -> str:
    """``tcm`` → ``tcm=<KGRAG_SOURCES_DIR>/herbiv-0.1a6.tar.gz``: the archive `make tcm-archive` fetched."""
    if spec.strip().lower() != "tcm":
        return spec
    from kgrag.kg.loaders.tcm import default_archive

    return f"tcm={default_archive(sources_dir)}"


def _print_stats(manifest: dict) -> None:  # type: ignore[type-arg]
    table = Table(title="KG store")
    for col in ("source", "version", "entities", "facts", "entity facts", "literal facts"):
        table.add_column(col, justify="right" if col not in ("source", "version") else "left")
    per = manifest["counts"]["per_source"]
    for name, c in per.items():
        info = manifest["sources"].get(name, {})
        table.add_row(
            name,
            f"{info.get('package', '')} {info.get('version', '')}",
            f"{c['entities']:,}",
            f"{c['facts']:,}",
            f"{c['entity_facts']:,}",
            f"{c['literal_facts']:,}",
        )
    table.add_row(
        "[b]total", "", f"[b]{manifest['counts']['entities']:,}", f"[b]{manifest['counts']['facts']:,}", "", ""
    )
    console.print(table)


@kg_app.command("stats")
def stats_cmd(
    store: Path = typer.Option(None, "--store", "-s", help="store folder (default: KGRAG_STORE)"),
    relations: bool = typer.Option(False, "--relations", "-r", help="also list fact counts per relation"),
    licences: bool = typer.Option(
        False, "--licences", help="print the licence and terms of use of every KG source and model (NOTICE.md) only"
    ),
    markdown: bool = typer.Option(False, "--markdown", help="with --licences: as NOTICE.md's Markdown table"),
) -> None:
    """Entity and fact counts per source (and per relation); with --licences, what each source and model may be
    used for."""
    from kgrag.kg.store import read_manifest

    if licences:
        if markdown:
            from kgrag.kg.licences import notice_table

            typer.echo(notice_table())
        else:
            _print_licences()
        return
    path = store or _store_opt()
    manifest = read_manifest(path)
    _print_stats(manifest)
    console.print(f"store {path}  created {manifest['created']}  checksum {manifest['checksum'][:16]}…")
    if relations:
        kg = _load(path)
        t = Table(title="facts per relation")
        for c in ("relation", "中文", "English", "facts"):
            t.add_column(c)
        for rel, n in sorted(kg.relation_counts().items(), key=lambda x: -x[1]):
            r = kg.vocab.get(rel)
            t.add_row(rel, r.zh, r.en, f"{n:,}")
        console.print(t)


def _print_licences() -> None:
    from kgrag.kg.licences import COLUMNS, licences

    table = Table(title="licences and terms of use (kgrag/kg/data/licences.tsv; NOTICE.md)", show_lines=True)
    for col in COLUMNS:
        table.add_column(col, overflow="fold", no_wrap=col in ("kind", "name"))
    for r in licences():
        table.add_row(r.kind, r.name, r.what, r.package, r.package_licence, r.content_licence, r.terms)
    console.print(table)
    console.print("Licences were read from the packages' metadata; check them again before redistributing anything.")


@kg_app.command("show")
def show_cmd(
    name_or_id: str = typer.Argument(..., help="entity name, alias or id (糖尿病, Seizure, hpo:HP:0001250)"),
    store: Path = typer.Option(None, "--store", "-s"),
    limit: int = typer.Option(12, "--limit", "-n", help="values shown per relation"),
    all_matches: bool = typer.Option(False, "--all", help="show every entity with this name, not only the first"),
) -> None:
    """An entity: names, description, cross-references, facts grouped by relation, links."""
    kg = _load(store)
    rows = kg.find(name_or_id)
    if len(rows) > 1 and not all_matches:
        others = ", ".join(kg.entity_id(i) for i in rows[1:6])
        console.print(f"[dim]{len(rows)} entities match; showing the first (also: {others}; --all shows all)[/]")
        rows = rows[:1]
    for i in rows:
        _show_entity(kg, i, limit)


def _show_entity(kg: KnowledgeGraph, i: int, limit: int) -> None:
    e = kg.entity(i)
    console.rule(f"[b]{e.name}[/]  [dim]{e.id}[/]")
    console.print(f"source: {e.source}   language: {e.lang}   types: {', '.join(e.types) or '-'}")
    if e.aliases:
        console.print(f"aliases: {'; '.join(e.aliases[:20])}" + (" …" if len(e.aliases) > 20 else ""))
    if e.xrefs:
        console.print(f"xrefs: {', '.join(e.xrefs[:20])}")
    if e.description:
        console.print(f"description: {e.description}")
    grouped: dict[str, list[int]] = defaultdict(list)
    for j in kg.out_facts(i):
        grouped[kg.fact_relation(int(j))].append(int(j))
    link_rels = {r for r in grouped if kg.vocab.get(r).kind == "link"}
    table = Table(title="facts", show_lines=False)
    for c in ("relation", "values", "source", "provenance (first)"):
        table.add_column(c, overflow="fold")
    for rel, js in grouped.items():
        if rel in link_rels:
            continue
        r = kg.vocab.get(rel)
        values = [kg.fact_tail_text(j) for j in js[:limit]]
        more = f" … (+{len(js) - limit})" if len(js) > limit else ""
        first = kg.fact(js[0])
        table.add_row(f"{r.zh} / {r.en}", "、".join(values) + more, first.source, str(first.provenance))
    console.print(table)
    incoming = [int(j) for j in kg.in_facts(i) if not kg.is_link_fact(int(j))]
    if incoming:
        console.print(
            f"[dim]{len(incoming):,} facts point to this entity, e.g. "
            + "; ".join(
                f"{kg.entity_name(kg.fact_head(j))} —{kg.fact_relation(j)}→"
                for j in incoming[:5]
            )
            + "[/]"
        )
    links = kg.links_of(i)
    if links:
        lt = Table(title="cross-source links")
        for c in ("link", "entity", "name", "evidence"):
            lt.add_column(c, overflow="fold")
        for j, other in links:
            f = kg.fact(j)
            lt.add_row(f.relation, kg.entity_id(other), kg.entity_name(other), f.provenance.key or "")
        console.print(lt)
    else:
        console.print("[dim]no cross-source links[/]")


@kg_app.command("link-report")
def link_report_cmd(
    store: Path = typer.Option(None, "--store", "-s"),
    sample: int = typer.Option(5, "--sample", help="links shown per kind and source pair"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Counts of cross-source links by kind and source pair (and by method, where a link records
    one: ``same_drug_substance``), with a sample of each pair."""
    kg = _load(store)
    by_pair: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    methods: dict[tuple[str, str, str, str], int] = defaultdict(int)
    f_head, f_tail, ent_source = kg.fact_heads(), kg.fact_tails(), kg.entity_source_codes()
    for code in np.flatnonzero(kg.link_mask()):
        rel = kg.relation_names[int(code)]
        rows = np.flatnonzero(kg.fact_relation_codes() == code)
        hs = ent_source[f_head[rows]]
        ts = ent_source[f_tail[rows]]
        for j, h, t in zip(rows.tolist(), hs.tolist(), ts.tolist(), strict=True):
            pair = (rel, kg.source_names[h], kg.source_names[t])
            by_pair[pair].append(j)
            qualifier = kg.fact_qualifier(j) or ""
            if qualifier.startswith("method="):
                methods[(*pair, qualifier.split(";")[0].removeprefix("method="))] += 1
    t = Table(title="cross-source links")
    for c in ("link", "from", "to", "count"):
        t.add_column(c)
    for (rel, s1, s2), js in sorted(by_pair.items()):
        t.add_row(rel, s1, s2, f"{len(js):,}")
    t.add_row("[b]total", "", "", f"[b]{sum(len(js) for js in by_pair.values()):,}")
    console.print(t)
    if methods:
        mt = Table(title="links by method (the rules that made them)")
        for c in ("link", "from", "to", "method", "count"):
            mt.add_column(c)
        for (rel, s1, s2, method), n in sorted(methods.items(), key=lambda x: (x[0][:3], -x[1])):
            mt.add_row(rel, s1, s2, method, f"{n:,}")
        console.print(mt)
    rng = random.Random(seed)
    for (rel, s1, s2), fact_rows in sorted(by_pair.items()):
        st = Table(title=f"sample of {rel} ({s1} → {s2})")
        for c in ("from", "to", "evidence"):
            st.add_column(c, overflow="fold")
        for j in rng.sample(fact_rows, min(sample, len(fact_rows))):
            h, tt = kg.fact_head(j), kg.fact_tail(j)
            st.add_row(
                f"{kg.entity_name(h)} ({kg.entity_id(h)})",
                f"{kg.entity_name(tt)} ({kg.entity_id(tt)})",
                kg.fact(j).provenance.key or "",
            )
        console.print(st)
