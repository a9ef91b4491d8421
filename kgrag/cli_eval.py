"""``kgrag eval``: measure kgrag's components on questions generated from the KG."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table

from kgrag.config import get_settings

eval_app = typer.Typer(name="eval", no_args_is_help=True)


@eval_app.callback()
def _eval() -> None:
    """Evaluate kgrag on held-out questions generated from the KG."""


def _console():  # type: ignore[no-untyped-def]
    from kgrag.cli import console

    return console


_CAUSE = {"no_link": "none", "wrong_link": "link", "intent_miss": "intent", "ranking": "rank"}


def _row(name: str, fig: dict[str, Any]) -> list[str]:
    return [
        name,
        str(fig["n"]),
        f"{fig['recall@1']:.3f}",
        f"{fig['recall@5']:.3f}",
        f"{fig['recall@10']:.3f}",
        f"{fig['mrr']:.3f}",
        f"{fig['p50_ms']:.1f}",
        f"{fig['p95_ms']:.1f}",
        " ".join(f"{_CAUSE[k]}={v}" for k, v in fig["failures"].items() if v),
    ]


def _table(title: str, figures: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("group", "n", "R@1", "R@5", "R@10", "MRR", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "group" else "right", no_wrap=True)
    table.add_column("misses by cause", overflow="fold")
    for name, fig in figures.items():
        table.add_row(*_row(name, fig))
    return table


@eval_app.command("retrieval")
def retrieval_cmd(
    store: Path = typer.Option(None, "--store", "-s", help="KG store (default: KGRAG_STORE)"),
    index: Path = typer.Option(None, "--index", "-i", help="vector index folder (default: none; structure + lexical)"),
    n: int = typer.Option(600, "--n", "-n", help="questions per language"),
    split: str = typer.Option("test", "--split", help="dev (for tuning), test (for reports) or all"),
    seed: int = typer.Option(0, "--seed", help="question sampling seed"),
    split_seed: int = typer.Option(0, "--split-seed", help="seed of the dev/test entity hash (keep it fixed)"),
    langs: str = typer.Option("zh,en", "--langs", help="languages, comma-separated: zh, en"),
    out: Path = typer.Option(None, "--out", "-o", help="write the full results (JSON) here, atomically"),
    by_relation: bool = typer.Option(True, "--by-relation/--no-by-relation", help="also show the per-relation table"),
    device: str = typer.Option("cpu", "--device", "-d", help="device of the question embedder: cpu, cuda"),
    weights: str = typer.Option("", "--weights", help="channel weights, e.g. structure=0,lexical=0 (dense only)"),
) -> None:
    """Recall@1/5/10 and MRR of the retriever on generated questions, by language, style and relation."""
    from kgrag.errors import ConfigError
    from kgrag.evaluation.questions import DEV_FRACTION, LANGS, SPLITS, QuestionGenerator
    from kgrag.evaluation.retrieval import evaluate, report, write_json_atomic
    from kgrag.retrieval.ranking import RankingConfig
    from kgrag.retrieval.retriever import KGRetriever

    settings = get_settings()
    store = store or settings.store
    lang_list = [x.strip() for x in langs.split(",") if x.strip()]
    if split not in SPLITS or not lang_list or not set(lang_list) <= set(LANGS) or n < 1:
        raise ConfigError(
            f"bad --split {split!r}, --langs {langs!r} or --n {n}: split is one of {', '.join(SPLITS)}, "
            f"langs a comma-separated subset of {', '.join(LANGS)}, n at least 1"
        )
    console = _console()
    t0 = time.perf_counter()
    ranking = RankingConfig.parse(weights)
    retriever = KGRetriever.load(store, index, device=device, ranking=ranking)
    load_s = time.perf_counter() - t0
    generator = QuestionGenerator(retriever.kg, split_seed=split_seed)
    questions = generator.generate(n, langs=lang_list, split=split, seed=seed)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"retrieving for {len(questions)} questions", total=len(questions))
        outcomes = evaluate(retriever, questions, progress=lambda k: bar.advance(task, k))
    metrics = report(outcomes)
    config = {
        "store": str(store),
        "store_checksum": retriever.kg.manifest["checksum"],  # type: ignore[attr-defined]
        "index": None if index is None else str(index),
        "n_per_lang": n,
        "langs": lang_list,
        "seed": seed,
        "top_k": 10,
        "ranking": dataclasses.asdict(ranking),
        "device": device,
        "load_s": round(load_s, 2),
    }
    split_info = {
        "requested": split,
        "split_seed": split_seed,
        "dev_fraction": DEV_FRACTION,
        "method": "sha256(split_seed, smallest entity id of the head's link component) < dev_fraction → dev",
    }
    console.print(
        _table(
            f"retrieval on {len(questions)} {split} questions ({store})",
            {**{"all": metrics["overall"]}, **metrics["by_lang"], **metrics["by_lang_style"]},
        )
    )
    if by_relation:
        console.print(_table("by language and relation", metrics["by_lang_relation"]))
    if out is not None:
        payload = {
            "config": config,
            "split": split_info,
            "metrics": metrics,
            "questions": [o.as_dict() for o in outcomes],
        }
        write_json_atomic(out, payload)
        console.print(f"[green]wrote[/] {out}")
