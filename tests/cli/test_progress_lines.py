"""Progress that shows anywhere: plain lines when the output is not a terminal (a log, a pipe, a
container), rich's live bars when it is — and the long commands use it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.cli.progress import CommandProgress, PlainLines

DATA = Path(__file__).parents[1] / "kg" / "data"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(console: Console) -> list[str]:
    file = console.file
    assert isinstance(file, io.StringIO)
    return [line for line in file.getvalue().splitlines() if line]


def _plain(clock: Clock, **kw: float) -> tuple[PlainLines, Console]:
    console = Console(file=io.StringIO(), width=200)
    return PlainLines("build-index", console, clock=clock, **kw), console


def test_a_stage_prints_its_start_every_five_percent_and_its_end() -> None:
    clock = Clock()
    lines, console = _plain(clock)
    for done in range(0, 1001):
        clock.now = done * 0.001  # fast: the 10 s interval never comes
        lines.update("entities", done, 1000)
    out = _lines(console)
    assert out[0] == "[build-index] entities: 0/1,000 (0%)"
    assert out[-1] == "[build-index] entities: 1,000/1,000 (100%) in 1 s"
    assert len(out) == 1 + 20  # 0 %, then 5 %, 10 % … 100 %
    assert "[build-index] entities: 50/1,000 (5%)" in out[1]


def test_a_slow_stage_prints_every_interval_with_the_time_left() -> None:
    clock = Clock()
    lines, console = _plain(clock, interval_s=10.0)
    lines.update("facts", 0, 10_000)
    for second in range(1, 61):
        clock.now = float(second)
        lines.update("facts", second * 10, 10_000)  # 0.1 % a second
    out = _lines(console)
    assert len(out) == 1 + 6  # the start, then at 10, 20 … 60 s
    assert out[1] == "[build-index] facts: 100/10,000 (1%), 10 s, about 16.5 min left"


def test_stages_of_unknown_size_print_once_each() -> None:
    clock = Clock()
    lines, console = _plain(clock)
    for step in ("loading cmekg", "loading hpo", "linking sources"):
        lines.update(step, 0, 0)
        lines.update(step, 0, 0)
    assert _lines(console) == ["[build-index] loading cmekg…", "[build-index] loading hpo…",
                               "[build-index] linking sources…"]


def test_a_stage_that_stops_early_says_where_it_stopped() -> None:
    clock = Clock()
    lines, console = _plain(clock)
    lines.update("optimizer steps", 3, 10)
    clock.now = 4.0
    lines.finish()
    assert _lines(console)[-1] == "[build-index] optimizer steps: stopped at 3/10 after 4 s"


def test_bad_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="step_pct"):
        _plain(Clock(), step_pct=0)


def test_lines_when_not_a_terminal_bars_when_it_is() -> None:
    piped = Console(file=io.StringIO(), width=120)
    with CommandProgress("make-kgqa", piped) as progress:
        assert not progress.live
        progress("records written", 5, 10)
    assert _lines(piped) == ["[make-kgqa] records written: 5/10 (50%)", "[make-kgqa] records written: stopped at "
                             "5/10 after 0 s"]
    terminal = Console(file=io.StringIO(), width=120, force_terminal=True)
    with CommandProgress("make-kgqa", terminal) as progress:
        assert progress.live
        progress("records written", 10, 10)
    assert "[make-kgqa]" not in terminal.file.getvalue()  # type: ignore[attr-defined]


def test_used_outside_its_block_it_says_so() -> None:
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        CommandProgress("x", Console(file=io.StringIO()))("stage", 1, 2)


# --- the commands -----------------------------------------------------------------------------------------------


def test_kg_import_prints_its_steps_as_lines_in_a_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["kg", "import", f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", f"hpo={DATA / 'hpo'}",
                                      "--out", str(tmp_path / "store")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for step in ("loading cmekg", "loading hpo", "linking sources", "freezing columns", "writing"):
        assert f"[kg import] {step}" in result.stderr, result.stderr
    assert "[kg import]" not in result.stdout  # stdout keeps the results only
    assert "wrote" in result.stdout


def test_make_kgqa_prints_both_stages_to_their_end(tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    assert runner.invoke(app, ["kg", "import", f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", "--out", str(store)]
                         ).exit_code == 0
    result = runner.invoke(app, ["make-kgqa", "--kg", str(store), "--out", str(tmp_path / "qa")])
    assert result.exit_code == 0, result.output
    assert "[make-kgqa] entities asked about:" in result.stderr and "(100%) in" in result.stderr
    assert "[make-kgqa] records written:" in result.stderr


def test_build_index_prints_each_part_as_lines(tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    assert runner.invoke(app, ["kg", "import", f"hpo={DATA / 'hpo'}", "--out", str(store)]).exit_code == 0
    result = runner.invoke(app, ["build-index", "--kg", str(store), "--out", str(tmp_path / "idx"), "--limit", "6",
                                 "--embedder", "use-multilingual"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[build-index] loading the KG store" in result.stderr
    assert "[build-index] entities (use-multilingual): 0/6 (0%)" in result.stderr
    assert "[build-index] entities (use-multilingual): 6/6 (100%) in" in result.stderr
    assert "[build-index] facts (use-multilingual): 6/6 (100%) in" in result.stderr


def test_eval_retrieval_prints_the_questions_done(tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    assert runner.invoke(app, ["kg", "import", f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", "--out", str(store)]
                         ).exit_code == 0
    result = runner.invoke(app, ["eval", "retrieval", "--store", str(store), "--n", "3", "--langs", "zh",
                                 "--no-by-relation"])
    assert result.exit_code == 0, result.output
    assert "[eval retrieval] questions: 1/3 (33%)" in result.stderr  # its first report: after one question
    assert "[eval retrieval] questions: 3/3 (100%) in" in result.stderr and "R@10" in result.stdout
