"""The training and evaluation files of the shipped adapter, drawn from a KG-QA dataset.

Training: a seeded draw from the train split of ``--template`` records in the template bank's
phrasing and ``--families`` in the seen phrasing families (patient, search box, typo, traditional
characters, the other language's name, follow-ups) — the families are over-drawn so that the model
sees them often, not at their 19 % of the split — and ``--consult`` consultations that ask
one clarifying question (``kgrag/kgqa/consult.py``; 0.3 % of the split, so drawn apart).
Held-out families are never in the train split (``kgrag make-kgqa`` keeps them out), so none can
be drawn. The evaluation files are the test and
test_phrasing splits as they are.

Prints each written file's sha256; the adapter's manifest records them.

    python benchmarks/adapter_data.py --data data/kgqa/default --out .ship/bundle/kgqa
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import orjson

from kgrag.atomic import sha256_file as sha256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/kgqa/default"), help="a `kgrag make-kgqa` folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--template", type=int, default=30_000, help="records in the template bank's phrasing")
    ap.add_argument("--families", type=int, default=18_000, help="records in the seen phrasing families")
    ap.add_argument("--consult", type=int, default=2_000, help="consultation records (one clarifying question)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lines = (args.data / "chat" / "train.jsonl").read_bytes().splitlines()
    template, other, consult = [], [], []
    for line in lines:
        record = orjson.loads(line)
        pool = consult if record.get("type") == "consult" else template if record.get(
            "family", "template") == "template" else other
        pool.append(line)
    rng = random.Random(f"{args.seed}\tadapter-data")
    chosen = rng.sample(template, min(args.template, len(template))) + rng.sample(other, min(args.families, len(other)))
    chosen += rng.sample(consult, min(args.consult, len(consult)))
    rng.shuffle(chosen)
    args.out.mkdir(parents=True, exist_ok=True)
    train = args.out / "train.jsonl"
    tmp = train.with_suffix(".tmp")
    tmp.write_bytes(b"\n".join(chosen) + b"\n")
    tmp.replace(train)
    print(f"{train}: {len(chosen):,} records ({min(args.template, len(template)):,} template, "
          f"{min(args.families, len(other)):,} other families, {min(args.consult, len(consult)):,} consultations) "
          f"sha256 {sha256(train)}")
    for split in ("test", "test_phrasing"):
        src = args.data / "chat" / f"{split}.jsonl"
        shutil.copyfile(src, args.out / f"{split}.jsonl")
        print(f"{args.out / f'{split}.jsonl'}: sha256 {sha256(src)}")
    shutil.copyfile(args.data / "card.json", args.out / "card.json")
    print(f"dataset card: {args.data / 'card.json'} sha256 {sha256(args.data / 'card.json')}")


if __name__ == "__main__":
    main()
