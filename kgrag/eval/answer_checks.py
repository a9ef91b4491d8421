"""Open answers checked against the facts of their prompt, as the service checks them, for ``kgrag eval qa --rag``.

Per answer, :func:`check_fields` records what :func:`~kgrag.generation.checking.apply_check` finds:
its sentences that the facts they cite support, those judged (supported or not; conversational
ones are not judged), and whether the service would show an answer composed from the facts
instead (an echo of the facts block, no citation while facts exist, a contradiction of a yes/no
fact). Per group of answers, :func:`check_figures` gives the share of judged sentences supported
over the answers kept as the model wrote them (``supported``: the figure of issue 13's acceptance)
and over all (``supported_all``), with the composed answers counted apart.

Example:
    >>> fields = check_fields("高血压的常见症状包括头痛[1]。", citations, "zh", kg)
    >>> fields["sentences_supported"], fields["composed"]
    (1, False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from kgrag.generation.checking import apply_check, tail_names
from kgrag.generation.prompts import Citation
from kgrag.kg.graph import KnowledgeGraph


class CheckedOutcome(Protocol):
    """What :func:`check_figures` reads of an outcome (:class:`~kgrag.eval.qa.QAOutcome` has it)."""

    @property
    def sentences_supported(self) -> int | None: ...
    @property
    def sentences_judged(self) -> int | None: ...
    @property
    def composed(self) -> bool | None: ...
    @property
    def compose_reason(self) -> str | None: ...


def check_fields(text: str, citations: Sequence[Citation], lang: str, kg: KnowledgeGraph) -> dict[str, Any]:
    """The check of the model's ``text`` against the prompt's ``citations`` (other names of each
    fact's tail from ``kg``, as the service passes them): ``sentences_supported``,
    ``sentences_judged``, ``composed`` and ``compose_reason`` (None when not composed)."""
    names = {c.n: tail_names(kg, c.fact) for c in citations}
    _, check = apply_check(text.strip(), citations, lang=lang, names=names)
    statuses = [s.status for s in check.sentences]
    return {
        "sentences_supported": statuses.count("supported"),
        "sentences_judged": statuses.count("supported") + statuses.count("unsupported"),
        "composed": check.composed,
        "compose_reason": check.reason if check.composed else None,
    }


def _share(group: Sequence[CheckedOutcome]) -> float | None:
    judged = sum(o.sentences_judged or 0 for o in group)
    return round(sum(o.sentences_supported or 0 for o in group) / judged, 4) if judged else None


def check_figures(outs: Sequence[CheckedOutcome]) -> dict[str, Any]:
    """``n_checked`` answers (open ones, with retrieval), how many the service would replace by a
    ``composed`` answer (and ``composed_reasons``), ``sentences_judged`` of the kept ones, and the
    share of judged sentences supported: ``supported`` over the kept answers, ``supported_all``
    over every checked answer (None when no sentence was judged)."""
    checked = [o for o in outs if o.composed is not None]
    kept = [o for o in checked if not o.composed]
    return {
        "n_checked": len(checked),
        "composed": sum(bool(o.composed) for o in checked),
        "composed_reasons": dict(Counter(o.compose_reason for o in checked if o.compose_reason)),
        "sentences_judged": sum(o.sentences_judged or 0 for o in kept),
        "supported": _share(kept),
        "supported_all": _share(checked),
    }
