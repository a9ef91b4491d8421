"""Evaluation of kgrag on held-out questions generated from the KG (``kgrag eval``)."""

from kgrag.evaluation.questions import EvalQuestion, QuestionGenerator, Template, load_templates
from kgrag.evaluation.retrieval import Outcome, evaluate, report, summarize

__all__ = [
    "EvalQuestion",
    "Outcome",
    "QuestionGenerator",
    "Template",
    "evaluate",
    "load_templates",
    "report",
    "summarize",
]
