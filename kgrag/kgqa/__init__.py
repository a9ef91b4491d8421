"""KG-QA: question/answer datasets generated from the KG, for fine-tuning and evaluating models.

Example:
    >>> from kgrag.kgqa import make_kgqa
    >>> card = make_kgqa("kg/store/default", "data/kgqa/default", limit=10_000)
    >>> card["total"], card["counts"]["lang"]
"""

from __future__ import annotations

from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import SPLITS
from kgrag.kgqa.generator import KGQAGenerator, valid_relations
from kgrag.kgqa.make import make_kgqa

__all__ = ["SPLITS", "KGQAGenerator", "QARecord", "make_kgqa", "valid_relations"]
