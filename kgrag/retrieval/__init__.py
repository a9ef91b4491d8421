"""Retrieval front end: question normalization, entity linking and intent detection.

Data flows one way: question → :func:`validate_question` / :func:`normalize_question` →
:class:`EntityLinker` (entities mentioned) and :func:`detect_intents` (what is asked, as relation
priors) → graph expansion and ranking downstream.
"""

from kgrag.errors import QuestionError
from kgrag.retrieval.intents import Intent, detect_intents, relation_prior
from kgrag.retrieval.linking import DenseFallback, EntityLink, EntityLinker
from kgrag.retrieval.names import StopRules
from kgrag.retrieval.normalize import normalize_question, normalize_with_offsets, validate_question

__all__ = [
    "DenseFallback",
    "EntityLink",
    "EntityLinker",
    "Intent",
    "QuestionError",
    "StopRules",
    "detect_intents",
    "normalize_question",
    "normalize_with_offsets",
    "relation_prior",
    "validate_question",
]
