"""Ranking configuration: channel weights from a spec string."""

from __future__ import annotations

import pytest

from kgrag.errors import ConfigError
from kgrag.retrieval.ranking import RankingConfig


def test_ranking_weights_parse_from_a_spec_and_bad_ones_are_named() -> None:
    cfg = RankingConfig.parse("structure=0, lexical=0,rrf_k=30")
    assert (cfg.structure, cfg.lexical, cfg.dense, cfg.rrf_k) == (0.0, 0.0, RankingConfig().dense, 30)
    assert RankingConfig.parse("") == RankingConfig()
    with pytest.raises(ConfigError, match="unknown ranking weight 'bm25'"):
        RankingConfig.parse("bm25=1")
    with pytest.raises(ConfigError, match="dense must be a number; got 'x'"):
        RankingConfig.parse("dense=x")
    with pytest.raises(ConfigError, match="non-negative"):
        RankingConfig.parse("dense=-1")
