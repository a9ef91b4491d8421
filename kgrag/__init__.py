"""kgrag: knowledge-graph-grounded medical question answering (Chinese and English)."""

__version__ = "0.1.0"
