"""Graph expansion: from linked entities to candidate facts, 1–2 hops, across sources.

Hop 0 is the linked entity itself: its own facts (out-edges) and the facts that name it
(in-edges: "which drugs have 多尿 as a side effect"). Cross-source links (``same_*``) are
followed at no hop cost but a small confidence discount, so 高血压 reaches HPO's Hypertension and
its annotations, and "hypertension" reaches CMeKG's 高血压 facts. A second hop goes up ``is_a``
only (a subtype inherits its parent's facts: 2型糖尿病 → 糖尿病), discounted again, and from an
ingredient to the products made of it: CMeKG keeps side effects, dosage and contraindications on
products (拜阿司匹灵 —ingredient→ 阿司匹林), not on the ingredient, so "阿司匹林的副作用" needs them.
Single-ingredient products come first, then those with more facts.

A fact that joins two entities the question names in different places ("阿司匹林 and 胃出血",
"Is amenorrhea a symptom of hyperthecosis syndrome? A. … C. amenorrhea") is a *bridge*: it is
collected whatever the fan-out caps drop and marked, so that ranking can put it first. Equivalents
of one mention (高血压 and HPO's Hypertension, or the several entities "Oxygen" names) belong to
that mention and do not bridge to each other.

**Relation back-off**: when a seed (with its twins and parents) has no fact of a relation the
question asks for, the relation is taken from the nearest entity that has it: a variant named with
a qualifier (胆囊炎 → 急性胆囊炎, 中耳炎 → 慢性中耳炎, 心肌炎 → 小儿心肌炎), then an ``is_a`` child. Such a
fact keeps its own head, so its citation says which entity it came from.

**Class rules**: a drug's classes (``member_of_class``: warfarine → anticoagulants oraux) speak for
it, as products do for an ingredient, so the interaction thesaurus' class-level rule
"acide acétylsalicylique —interacts with→ anticoagulants oraux" bridges "warfarin" and "aspirin".
A class is an anchor of its member's mention (discounted), never a seed of its own.

Fan-out caps keep the work bounded for hubs (糖尿病 has 1,300 in-edges, HP:0000118 tens of
thousands): at most ``per_relation`` facts of one relation per entity and ``max_facts`` in all,
preferring relations the question's intent asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from kgrag.kg.graph import KnowledgeGraph, normalize_name

LINK_DISCOUNT = 0.9
PARENT_DISCOUNT = 0.6
INCOMING_DISCOUNT = 0.8
PRODUCT_DISCOUNT = 0.7
BACKOFF_DISCOUNT = 0.5
CLASS_DISCOUNT = 0.8
#: Qualifiers that name a variant of a disease in CMeKG ("急性" + 胆囊炎), nearest first.
VARIANT_QUALIFIERS = ("急性", "慢性", "小儿", "儿童", "新生儿", "老年", "原发性", "继发性", "复发性", "成人", "妊娠期",
                      "婴儿", "重症", "轻度")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fact reached from a linked entity.

    Attributes:
        fact: the fact's row.
        anchor: the entity row it was reached through (head, or tail for incoming facts).
        seed: the linked entity row the walk started from.
        hops: 0 for the seed's own facts, 1 through ``is_a``.
        weight: link confidence times the discounts of the path (0..1).
        incoming: the anchor is the fact's tail, not its head.
        bridge: the fact joins entities of two different mentions in the question.
    """

    fact: int
    anchor: int
    seed: int
    hops: int
    weight: float
    incoming: bool = False
    bridge: bool = False


@dataclass(frozen=True)
class ExpansionConfig:
    per_relation: int = 40
    prior_per_relation: int = 200
    max_facts: int = 4000
    max_equivalents: int = 6
    max_parents: int = 3
    max_products: int = 4
    incoming: bool = True
    max_bridges: int = 200
    max_backoff: int = 3  # variants asked for a missing relation
    max_classes: int = 12  # drug classes of one anchor (the thesaurus gives a drug up to 9)


class GraphExpander:
    """Collects candidate facts around linked entities.

    Args:
        kg: the graph.
        config: fan-out caps.
    """

    def __init__(self, kg: KnowledgeGraph, config: ExpansionConfig | None = None) -> None:
        self.kg = kg
        self.config = config or ExpansionConfig()
        self._is_link = kg.link_mask()
        is_a = kg.relation_code("is_a")
        self._is_a = -1 if is_a is None else is_a
        ingredient = kg.relation_code("ingredient")
        self._ingredient = -1 if ingredient is None else ingredient
        member = kg.relation_code("member_of_class")
        self._member = -1 if member is None else member
        #: ingredients per product, and facts per entity: the keys that order an ingredient's products
        self._n_ingredients = None if ingredient is None else kg.entity_tails_per_head(ingredient)
        self._n_facts = kg.out_degrees()
        kg.name_index()  # built now (~0.7 s on the default store), not inside the first back-off
    def equivalents(self, row: int) -> list[int]:
        """Entities joined to ``row`` by cross-source links (both directions)."""
        out = [other for _j, other in self.kg.links_of(row)]
        return list(dict.fromkeys(out))[: self.config.max_equivalents]

    def parents(self, row: int) -> list[int]:
        tails, rels = self.kg.fact_tails(), self.kg.fact_relation_codes()
        out = [int(tails[j]) for j in self.kg.out_facts(row) if rels[j] == self._is_a]
        return out[: self.config.max_parents]

    def products(self, row: int) -> list[int]:
        """Products that have ``row`` as an ingredient: single-ingredient ones first, then by facts."""
        n_ingredients, n_facts = self._n_ingredients, self._n_facts
        if n_ingredients is None:
            return []
        f_head, rels = self.kg.fact_heads(), self.kg.fact_relation_codes()
        heads = [int(f_head[j]) for j in self.kg.in_facts(row) if rels[j] == self._ingredient]
        ranked = sorted(dict.fromkeys(heads), key=lambda p: (n_ingredients[p] != 1, -n_facts[p]))
        return ranked[: self.config.max_products]

    def classes(self, row: int) -> list[int]:
        """The drug classes ``row`` is a member of (``member_of_class``)."""
        if self._member < 0:
            return []
        tails, rels = self.kg.fact_tails(), self.kg.fact_relation_codes()
        out = [int(tails[j]) for j in self.kg.out_facts(row) if rels[j] == self._member]
        return out[: self.config.max_classes]

    def _pick(self, facts: np.ndarray, prior: Callable[[str], float]) -> Iterable[int]:
        """Facts of one entity, capped per relation (more for relations the intent wants)."""
        if len(facts) == 0:
            return []
        rel_codes = self.kg.fact_relation_codes()[facts]
        keep = ~self._is_link[rel_codes]
        facts, rel_codes = facts[keep], rel_codes[keep]
        picked: list[int] = []
        for code in np.unique(rel_codes):
            rows = facts[rel_codes == code]
            wanted = prior(self.kg.relation_names[int(code)]) > 0.5
            cap = self.config.prior_per_relation if wanted else self.config.per_relation
            picked.extend(int(j) for j in rows[:cap])
        return picked

    def expand(
        self,
        seeds: list[tuple[int, float]],
        prior: Callable[[str], float] = lambda _r: 0.0,
        mentions: Mapping[int, int] | None = None,
    ) -> list[Candidate]:
        """Candidate facts around ``seeds`` (``(entity row, link confidence)``), best weight per fact.

        Args:
            seeds: linked entities and their link confidence, best first.
            prior: relation id → the question's prior for it (> 0.5: the intent asks for it).
            mentions: seed row → the mention it was linked from (seeds of one mention share a
                number); bridges are facts between anchors of different mentions. None: every seed
                is its own mention.
        """
        best: dict[int, Candidate] = {}
        mention_of = dict(mentions) if mentions is not None else {row: n for n, (row, _) in enumerate(seeds)}
        #: a mention's own entities (seeds, their equivalents, an ingredient's products): row → (mention, weight, seed)
        anchored: dict[int, tuple[int, float, int]] = {}

        def visit(anchor: int, seed: int, hops: int, weight: float) -> None:
            for j in self._pick(self.kg.out_facts(anchor), prior):
                c = best.get(j)
                if c is None or c.weight < weight:
                    best[j] = Candidate(j, anchor, seed, hops, weight)
            if self.config.incoming and hops == 0:
                w_in = weight * INCOMING_DISCOUNT
                for j in self._pick(self.kg.in_facts(anchor), prior):
                    c = best.get(j)
                    if c is None or c.weight < w_in:
                        best[j] = Candidate(j, anchor, seed, hops, w_in, incoming=True)

        wanted = [c for c, name in enumerate(self.kg.relation_names) if prior(name) > 0.5]
        f_rel = self.kg.fact_relation_codes()
        for seed, conf in seeds:
            anchors = [(seed, conf)] + [(e, conf * LINK_DISCOUNT) for e in self.equivalents(seed)]
            mention = mention_of.get(seed, -1 - seed)
            # an ingredient's products speak for it (阿司匹林 → 拜阿司匹灵 —side effect→ 出血)
            products = {a: self.products(a) for a, _ in anchors}
            own = anchors + [(p, w * PRODUCT_DISCOUNT) for a, w in anchors for p in products[a]]
            # a drug's classes carry the thesaurus' class-level interactions (warfarine → anticoagulants oraux)
            own += [(k, w * CLASS_DISCOUNT) for a, w in anchors for k in self.classes(a)]
            for anchor, w in own:
                if anchor not in anchored or anchored[anchor][1] < w:
                    anchored[anchor] = (mention, w, seed)
            for anchor, w in anchors:
                visit(anchor, seed, 0, w)
                for parent in self.parents(anchor):
                    visit(parent, seed, 1, w * PARENT_DISCOUNT)
                for product in products[anchor]:
                    visit(product, seed, 1, w * PRODUCT_DISCOUNT)
                if len(best) >= self.config.max_facts:
                    break
            have = {int(f_rel[c.fact]) for c in best.values() if c.seed == seed and not c.incoming}
            if missing := [c for c in wanted if c not in have]:
                self._back_off(seed, conf * BACKOFF_DISCOUNT, missing, best)
        ranked = sorted(best.values(), key=lambda c: -c.weight)[: self.config.max_facts]
        bridges = self.bridges(anchored)
        kept = {c.fact for c in ranked}
        out = [replace(c, bridge=True) if c.fact in bridges else c for c in ranked]
        out += [bridges[j] for j in bridges if j not in kept]
        return out

    def variants(self, row: int) -> list[int]:
        """Entities that stand nearest for ``row`` when it lacks a relation: the ones named with a
        qualifier of :data:`VARIANT_QUALIFIERS` + its name, then its ``is_a`` children."""
        name, names = self.kg.entity_name(row), self.kg.name_index()
        named = [r for q in VARIANT_QUALIFIERS for r in names.get(normalize_name(q + name), ()) if r != row]
        f_head, rels = self.kg.fact_heads(), self.kg.fact_relation_codes()
        children = [int(f_head[j]) for j in self.kg.in_facts(row) if rels[j] == self._is_a]
        return list(dict.fromkeys(named + children))

    def _back_off(self, seed: int, weight: float, missing: list[int], best: dict[int, Candidate]) -> None:
        """Facts of the ``missing`` relations from the seed's nearest variants (at most
        ``max_backoff`` of them), weighted ``weight``, into ``best``."""
        rels = self.kg.fact_relation_codes()
        asked = 0
        for variant in self.variants(seed):
            facts = self.kg.out_facts(variant)
            hit = [int(j) for j in facts if int(rels[j]) in missing]
            if not hit:
                continue
            for j in hit[: self.config.per_relation]:
                if j not in best or best[j].weight < weight:
                    best[j] = Candidate(j, variant, seed, 1, weight)
            asked += 1
            if asked >= self.config.max_backoff:
                return

    def bridges(self, anchored: Mapping[int, tuple[int, float, int]]) -> dict[int, Candidate]:
        """Facts from one anchor to an anchor of another mention (``anchored``: row → (mention,
        weight, seed)), weighted by the weaker end; at most ``max_bridges``."""
        if len(anchored) < 2:
            return {}
        f_tail, f_rel = self.kg.fact_tails(), self.kg.fact_relation_codes()
        rows = np.fromiter(anchored, dtype=np.int64, count=len(anchored))
        found: dict[int, Candidate] = {}
        for anchor, (mention, weight, seed) in anchored.items():
            out = self.kg.out_facts(anchor)
            if len(out) == 0:
                continue
            tails = f_tail[out]
            # a membership joins a drug to its own class, which another mention may also have anchored
            hit = np.isin(tails, rows) & ~self._is_link[f_rel[out]] & (f_rel[out] != self._member)
            for j, tail in zip(out[hit].tolist(), tails[hit].tolist(), strict=True):
                other_mention, other_weight, _ = anchored[int(tail)]
                if other_mention == mention or j in found:
                    continue
                found[j] = Candidate(j, anchor, seed, 0, min(weight, other_weight), bridge=True)
                if len(found) >= self.config.max_bridges:
                    return found
        return found
