"""Adapters that expose kgrag to other frameworks.

Each adapter needs its framework's package (an optional extra), so nothing is imported until a
name is asked for: ``import kgrag.integrations`` works without them.

Example:
    >>> from kgrag.integrations import KGLangChainRetriever   # needs langchain-core
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kgrag.integrations.langchain import KGLangChainRetriever

__all__ = ["KGLangChainRetriever"]


def __getattr__(name: str) -> Any:
    # PEP 562: import the adapter (and its framework) only when it is used
    if name == "KGLangChainRetriever":
        from kgrag.integrations.langchain import KGLangChainRetriever

        return KGLangChainRetriever
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
