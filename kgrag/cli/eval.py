"""``kgrag eval``: measure kgrag's components on questions generated from the KG."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kgrag.atomic import write_jsonl_atomic
from kgrag.cli.console import console
from kgrag.cli.mcq import mcq_cmd
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings

eval_app = typer.Typer(name="eval", no_args_is_help=True)


@eval_app.callback()
def _eval() -> None:
    """Evaluate kgrag on held-out questions generated from the KG."""



_CAUSE = {"no_link": "none", "wrong_link": "link", "intent_miss": "intent", "ranking": "rank"}


def _row(name: str, fig: dict[str, Any], ks: tuple[int, ...]) -> list[str]:
    return [
        name,
        str(fig["n"]),
        *(f"{fig[f'recall@{k}']:.3f}" for k in ks),
        f"{fig['mrr']:.3f}",
        f"{fig['p50_ms']:.1f}",
        f"{fig['p95_ms']:.1f}",
        " ".join(f"{_CAUSE[k]}={v}" for k, v in fig["failures"].items() if v),
    ]


def _table(
    title: str, figures: dict[str, dict[str, Any]], ks: tuple[int, ...] = (1, 5, 10), prompt_k: int = 0
) -> Table:
    table = Table(title=title)
    recall_cols = [f"R@{k}" + (" (prompt)" if k == prompt_k else "") for k in ks]
    for col in ("group", "n", *recall_cols, "MRR", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "group" else "right", no_wrap=True)
    table.add_column("misses by cause", overflow="fold")
    for name, fig in figures.items():
        table.add_row(*_row(name, fig, ks))
    return table


@eval_app.command("retrieval")
def retrieval_cmd(
    store: Path = typer.Option(None, "--store", "-s", help="KG store (default: KGRAG_STORE)"),
    index: Path | None = typer.Option(
        None, "--index", "-i", help="vector index folder, or none (the default: structure + lexical only)"
    ),
    n: int = typer.Option(600, "--n", "-n", help="questions per language"),
    split: str = typer.Option("test", "--split", help="dev (for tuning), test (for reports) or all"),
    seed: int = typer.Option(0, "--seed", help="question sampling seed"),
    split_seed: int = typer.Option(0, "--split-seed", help="seed of the dev/test entity hash (keep it fixed)"),
    langs: str = typer.Option("zh,en", "--langs", help="languages, comma-separated: zh, en"),
    out: Path = typer.Option(None, "--out", "-o", help="write the full results (JSON) here, atomically"),
    by_relation: bool = typer.Option(True, "--by-relation/--no-by-relation", help="also show the per-relation table"),
    device: str = typer.Option("cpu", "--device", "-d", help="device of the question embedder: cpu, cuda"),
    weights: str = typer.Option("", "--weights", help="channel weights, e.g. structure=0,lexical=0 (dense only)"),
    questions_file: Path = typer.Option(
        None, "--questions", "-q",
        help="KG-QA JSONL whose relation records are the questions (`kgrag eval make-patient-set`); "
        "--n, --split and --seed are then not used",
    ),
) -> None:
    """Recall@1/5/k/10 and MRR of the retriever on generated questions, by language, style and relation
    (k: the facts a prompt gets, KGRAG_TOP_K)."""
    from kgrag.errors import ConfigError
    from kgrag.eval.question_file import eval_questions
    from kgrag.eval.retrieval import KS, evaluate, report, write_json_atomic
    from kgrag.kgqa.questions import DEV_FRACTION, SPLITS, QuestionGenerator
    from kgrag.kgqa.records import read_examples
    from kgrag.lang import LANGS
    from kgrag.retrieval.ranking import RankingConfig
    from kgrag.retrieval.retriever import KGRetriever

    settings = get_settings()
    store = store or settings.store
    index = None if index is not None and str(index).lower() == "none" else index
    lang_list = [x.strip() for x in langs.split(",") if x.strip()]
    if split not in SPLITS or not lang_list or not set(lang_list) <= set(LANGS) or n < 1:
        raise ConfigError(
            f"bad --split {split!r}, --langs {langs!r} or --n {n}: split is one of {', '.join(SPLITS)}, "
            f"langs a comma-separated subset of {', '.join(LANGS)}, n at least 1"
        )
    examples = read_examples(questions_file) if questions_file is not None else None
    t0 = time.perf_counter()
    ranking = RankingConfig.parse(weights)
    retriever = KGRetriever.load(store, index, device=device, ranking=ranking)
    load_s = time.perf_counter() - t0
    left_out: dict[str, int] = {}
    if examples is not None:
        questions, left_out = eval_questions([e for e in examples if e.lang in lang_list], retriever.kg)
        if not questions:
            raise ConfigError(f"questions: {questions_file} has no relation record with fact rows in {langs}")
    else:
        generator = QuestionGenerator(retriever.kg, split_seed=split_seed)
        questions = generator.generate(n, langs=lang_list, split=split, seed=seed)
    ks = tuple(sorted({*KS, settings.top_k}))
    with CommandProgress("eval retrieval") as progress:
        outcomes = evaluate(retriever, questions, top_k=max(ks),
                            progress=progress.counter("questions", len(questions)))
    metrics = report(outcomes, ks, by_template=examples is not None)
    config = {
        "store": str(store),
        "store_checksum": retriever.kg.checksum,
        "index": None if index is None else str(index),
        "questions": None if questions_file is None else str(questions_file),
        "n_per_lang": None if examples is not None else n,
        "langs": lang_list,
        "seed": None if examples is not None else seed,
        "top_k": max(ks),
        "prompt_top_k": settings.top_k,
        "ranking": dataclasses.asdict(ranking),
        "device": device,
        "load_s": round(load_s, 2),
    }
    if left_out:
        config["records_left_out"] = left_out
    split_info = {
        "requested": split,
        "split_seed": split_seed,
        "dev_fraction": DEV_FRACTION,
        "method": "sha256(split_seed, smallest entity id of the head's link component) < dev_fraction → dev",
    }
    if examples is not None:  # the records' own split (the KG-QA generator's: train, validation, test)
        split_info = {"from_questions_file": dict(Counter(q.split for q in questions))}
    what = f"questions of {questions_file}" if questions_file is not None else f"{split} questions"
    console.print(
        _table(
            f"retrieval on {len(questions)} {what} ({store})",
            {**{"all": metrics["overall"]}, **metrics["by_lang"], **metrics["by_lang_style"]},
            ks, settings.top_k,
        )
    )
    if by_relation:
        console.print(_table("by language and relation", metrics["by_lang_relation"], ks, settings.top_k))
    if left_out:
        console.print("records not ranked: " + "; ".join(f"{v:,} {k}" for k, v in left_out.items()))
    if out is not None:
        payload = {
            "config": config,
            "split": split_info,
            "metrics": metrics,
            "questions": [o.as_dict() for o in outcomes],
        }
        write_json_atomic(out, payload)
        console.print(f"[green]wrote[/] {out}")


def _split(value: str) -> list[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


def _qa_table(title: str, figures: dict[str, dict[str, Any]], first: str = "group", rag: bool = False) -> Table:
    table = Table(title=title)
    rag_cols = ["echoed ✓", "fact in prompt", "supported", "composed"] if rag else []
    for col in (first, "n", "accuracy", "no echo", "open n", "recall", *rag_cols):
        table.add_column(col, justify="left" if col == first else "right", no_wrap=True)
    for name, fig in figures.items():
        recall = "" if fig["recall"] is None else f"{fig['recall']:.3f}"
        open_n = str(fig["n_open"]) if fig["n_open"] else ""
        shown = "" if fig["in_prompt"] is None else f"{fig['in_prompt']:.3f}"
        supported = "" if fig["supported"] is None else f"{fig['supported']:.3f}"
        composed = f"{fig['composed']}/{fig['n_checked']}" if fig["n_checked"] else ""
        extra = [str(fig["echoed_correct"]), shown, supported, composed] if rag else []
        table.add_row(name, str(fig["n"]), f"{fig['accuracy']:.3f}", f"{fig['accuracy_no_echo']:.3f}", open_n, recall,
                      *extra)
    return table


@eval_app.command("qa")
def qa_cmd(
    data: Path = typer.Option(..., "--data", help="KG-QA JSONL (`kgrag make-kgqa`): data/kgqa/default/chat/test.jsonl"),
    model: str = typer.Option(None, "--model", "-m", help="model name or folder (default: KGRAG_MODEL)"),
    adapter: Path = typer.Option(None, "--adapter", help="LoRA adapter folder (peft) on top of the model"),
    rag: bool = typer.Option(False, "--rag/--no-rag", help="prompt with KG facts as the service does"),
    kg: Path = typer.Option(None, "--kg", help="KG store the data was made from (default: KGRAG_STORE)"),
    index: Path = typer.Option(None, "--index", "-i", help="vector index for --rag (default: none)"),
    limit: int = typer.Option(None, "--limit", "-n", help="at most N questions per language, even across types"),
    langs: str = typer.Option("zh,en", "--langs", help="languages, comma-separated: zh, en"),
    types: str = typer.Option("choice,relation,pair", "--types", help="types, comma-separated: choice, relation, pair"),
    relations: str = typer.Option(None, "--relations", help="only these relations, comma-separated (default: all)"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="questions per forward pass or generation batch"),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="answer length cap of open questions"),
    repetition_penalty: float = typer.Option(1.1, "--repetition-penalty", help="as the service decodes"),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N"),
    prompt_format: str = typer.Option(None, "--format", help="chatml, llama2, alpaca or baichuan (default: detect)"),
    out: Path = typer.Option(None, "--out", "-o", help="write settings and figures (JSON) here, atomically"),
    predictions: Path = typer.Option(None, "--predictions", help="write one JSON line per question here"),
    seed: int = typer.Option(0, "--seed", help="seed of the --limit draw"),
) -> None:
    """Accuracy of a chat model on KG-QA questions: options by likelihood, open answers by the entities they name."""
    from kgrag.errors import ConfigError
    from kgrag.eval.gold import GoldExtractor, check_made_from
    from kgrag.eval.qa import evaluate_qa, select_questions
    from kgrag.eval.retrieval import write_json_atomic
    from kgrag.generation.answer import Answerer
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.weights import resolve_model
    from kgrag.kg.store import load_store
    from kgrag.kgqa.records import read_examples

    settings = get_settings()
    store = kg or settings.store
    if index is not None and not rag:
        raise ConfigError(f"index: --index {index} is used only with --rag (closed-book prompts retrieve nothing)")
    if batch_size < 1 or max_new_tokens < 1:
        raise ConfigError(f"batch_size and max_new_tokens must be at least 1; got {batch_size} and {max_new_tokens}")
    t0 = time.perf_counter()
    examples = read_examples(data)
    rel_list = None if relations is None else _split(relations)
    questions, skipped = select_questions(
        examples, langs=_split(langs), types=_split(types), relations=rel_list, limit=limit, seed=seed
    )
    retriever = golds = None
    if rag:
        from kgrag.device import resolve_device
        from kgrag.retrieval.retriever import KGRetriever

        on_gpu = resolve_device(device).startswith("cuda")
        retriever = KGRetriever.load(store, index, device="cuda" if on_gpu else "cpu")
    if any(q.type != "choice" for q in questions):
        graph = retriever.kg if retriever is not None else load_store(store)
        check_made_from(data, graph)
        golds = GoldExtractor(graph)
        golds.names  # noqa: B018 - built now, so that loading is not counted as scoring time
    model_path = resolve_model(model or settings.model, settings.model_dir)
    chat = load_chat_model(
        model_path, device=device, adapter=adapter, allow_remote_code=settings.allow_remote_code,
        prompt_format=prompt_format or settings.prompt_format, name=model or settings.model,
    )
    answerer = None
    if retriever is not None:
        answerer = Answerer(
            retriever, chat, top_k=settings.top_k, max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty
        )
    load_s = time.perf_counter() - t0
    with CommandProgress("eval qa") as progress:
        report = evaluate_qa(
            chat, questions, golds=golds, answerer=answerer, batch_size=batch_size, max_new_tokens=max_new_tokens,
            repetition_penalty=repetition_penalty, progress=progress,
        )
    skipped = dict(Counter(skipped) + Counter(report.skipped))
    figures = report.figures()
    n = len(report.outcomes)
    mode = "with retrieval" if rag else "closed-book"
    cells = {"all": figures["overall"], **figures["by_lang"], **figures["by_type"], **figures["by_lang_type"],
             **{f"family {k}": v for k, v in figures["by_family"].items()}}
    name = f"{chat.name} + {adapter}" if adapter else chat.name
    console.print(_qa_table(f"{name}, {mode}: {n} questions ({data})", cells, rag=rag))
    console.print(_qa_table("by relation", figures["by_relation"], first="relation", rag=rag))
    if rag:
        console.print(
            "no echo: accuracy counting answers that repeat lines of the prompt's facts block as wrong; "
            "echoed ✓: correct open answers that repeat lines of the prompt's facts block; fact in prompt: share "
            "of questions whose answer's KG fact was among the retrieved facts (retrieval's ceiling); supported: "
            "share of judged answer sentences that the facts they cite support, over the answers the service "
            "shows as the model wrote them; composed: open answers the service would replace by one composed "
            "from the facts (echo, no citation, contradiction), counted apart"
        )
    if skipped:
        console.print(
            "not scored (records of the data within --langs/--relations): "
            + "; ".join(f"{v:,} {k}" for k, v in skipped.items())
        )
    speed = n / report.seconds if report.seconds > 0 else 0.0
    console.print(f"{n} questions in {report.seconds:.1f} s ({speed:.2f}/s) after {load_s:.1f} s of loading")
    if out is not None:
        config = {
            "model": chat.name, "model_path": str(model_path), "adapter": None if adapter is None else str(adapter),
            "rag": rag, "kg": str(store), "index": None if index is None else str(index), "data": str(data),
            "limit": limit, "langs": _split(langs), "types": _split(types), "relations": rel_list, "seed": seed,
            "batch_size": batch_size, "max_new_tokens": max_new_tokens, "repetition_penalty": repetition_penalty,
            "device": chat.device, "prompt_format": chat.prompt_format, "top_k": settings.top_k if rag else None,
            "n": n, "seconds": round(report.seconds, 2), "questions_per_s": round(speed, 3), "load_s": round(load_s, 2),
        }
        write_json_atomic(out, {"settings": config, "figures": figures, "skipped": skipped})
        console.print(f"[green]wrote[/] {out}")
    if predictions is not None:
        write_jsonl_atomic(predictions, [o.as_dict() for o in report.outcomes])
        console.print(f"[green]wrote[/] {predictions}")


@eval_app.command("make-patient-set")
def make_patient_set_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="JSONL to write (chat layout: `kgrag eval qa --data` reads it)"),
    store: Path = typer.Option(None, "--store", "-s", help="KG store (default: KGRAG_STORE)"),
    n: int = typer.Option(360, "--n", "-n", help="questions per language"),
    langs: str = typer.Option("zh,en", "--langs", help="languages, comma-separated: zh, en"),
    seed: int = typer.Option(0, "--seed", help="sampling seed: the same seed and store give the same file"),
) -> None:
    """Write the held-out patient-phrased question set (test-split entities, phrasings no template or
    cue file uses; kgrag/eval/data/patient_phrasings.tsv) with gold facts, for `eval retrieval
    --questions` and `eval qa --data`."""
    from kgrag.eval.patient_set import PatientSetMaker, style_counts
    from kgrag.kg.store import load_store
    from kgrag.kgqa.dataset_formats import to_chat

    settings = get_settings()
    store = store or settings.store
    t0 = time.perf_counter()
    maker = PatientSetMaker(load_store(store))
    records = maker.make(n, langs=_split(langs), seed=seed)
    write_jsonl_atomic(out, [to_chat(r) for r in records])
    table = Table(title=f"{len(records)} patient-phrased questions from {store}")
    for col in ("language/style", "n"):
        table.add_column(col, justify="left" if col != "n" else "right")
    for key, count in style_counts(records).items():
        table.add_row(key, str(count))
    console.print(table)
    console.print(f"[green]wrote[/] {out} in {time.perf_counter() - t0:.1f} s")


eval_app.command("mcq")(mcq_cmd)
